// Workflows' fan-out and fan-in measured (a chord of many children), on the local Redis at
// 127.0.0.1:6379 (REDIS_URL to change it) under a key prefix of the bench's own
// ("fanin-<pid>-..."), whose keys are removed after every measurement and again at the end
// (never FLUSHALL). Every measurement is a fresh app; the worker is in this process
// (concurrency CONCURRENCY), the child task trivial (`async (_ctx, n: number) => n`), events off.
//
// 1. Fan-out: FANOUT children started as `chord(group(list), merge.s()).start()` (the list of
//    signatures built inside the timing), against FANOUT plain jobs of the same task enqueued
//    with `child.enqueueMany` in calls of 1,000: jobs/s and their ratio; the client's CPU
//    (process.cpuUsage), Redis' CPU (INFO used_cpu_*), Redis commands per job (INFO
//    commandstats, scripts' inner calls counted as Redis counts them). A third, diagnostic
//    variant enqueues plain jobs with custom ids shaped like a node's ("wf-<uuid>:0:<n>"): it
//    separates what deterministic ids cost from what the workflow's own machinery does.
// 2. Fan-in: DRAIN children of a chord against DRAIN plain jobs of the same task, drained by the
//    same worker settings: drain time (worker start to the last child completed, as the
//    worker's own counters say: no command) per job; Redis commands per job between just before
//    the worker starts and just after it stopped (INFO commandstats deltas, the bench's own INFO
//    calls taken off) and Redis CPU, the plain run's subtracted: the workflow's extra per child,
//    by command. The callback's latency: its handler's start less the last child's handler end
//    (one clock, one process), for the chord as written (the callback receives every value) and
//    for a paged group (the callback receives a reference and reads pages). At FANOUT (the
//    fan-out's children run after), the same (the runner reads the completed stage's results
//    in pages of 1,000, outside any script: no single Redis call grows with the group).
// 3. Memory: MEMORY USAGE ... SAMPLES 0 (exact, every field) of every key of the prefix, by
//    kind: with the FANOUT-children chord started and nothing run, the workflow's keys
//    (src/redis/keys.ts: workflowKeys) and the queue's (stream entries, per-job records) per
//    pending child, against the queue's bytes per waiting plain job; after both ran, the
//    workflow's results hash per settled child, and the jobs' own result records.
//
// The Redis is shared: before and after, the bench counts the other clients and the commands
// per second Redis runs while the bench is idle, and says so if anything else was running.
//
//   npm run bench:fanin                      # 100,000 / 20,000 children, 5 runs (about 3 min)
//   npm run bench:fanin -- --quick           # 20,000 / 5,000, 5 runs (about 1 min)
//   npm run bench:fanin -- --runs 5 --fanout 100000 --drain 20000 --concurrency 50
//
// Writes bench/results/fanin.json (not with --quick, unless --out <path> is given).

import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { chord, group, Millrace, type GroupResults } from '../src/index.js';
import { prefixPatterns, workflowKeys } from '../src/redis/keys.js';
import { median } from './report.js';
import { gitState } from './lib/git.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    fanout: { type: 'string' },
    drain: { type: 'string' },
    concurrency: { type: 'string', default: '50' },
    out: { type: 'string' },
  },
});
const QUICK = values.quick;
const RUNS = Number(values.runs ?? 5);
const FANOUT = Number(values.fanout ?? (QUICK ? 20_000 : 100_000));
const DRAIN = Number(values.drain ?? (QUICK ? 5_000 : 20_000));
const CONCURRENCY = Number(values.concurrency);
const CHUNK = 1000;
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = `fanin-${process.pid}`;
const OUT = values.out ?? (QUICK ? undefined : join(dirname(fileURLToPath(import.meta.url)), 'results', 'fanin.json'));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

const admin = new Redis(REDIS, { connectionName: 'fanin-bench-admin', maxRetriesPerRequest: 3 });

// ---- Redis counters ------------------------------------------------------------------------

interface Snapshot {
  /** Calls per command (INFO commandstats). */
  calls: Map<string, number>;
  /** Microseconds per command (INFO commandstats). */
  usec: Map<string, number>;
  /** Redis' CPU seconds (used_cpu_user + used_cpu_sys). */
  cpu: number;
  usedMemory: number;
}

async function snapshot(): Promise<Snapshot> {
  const info = await admin.info('everything');
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  const stats = [...info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)];
  const calls = new Map(stats.map((m) => [m[1]!, Number(m[2])] as [string, number]));
  const usec = new Map(stats.map((m) => [m[1]!, Number(m[3])] as [string, number]));
  return { calls, usec, cpu: num('used_cpu_user') + num('used_cpu_sys'), usedMemory: num('used_memory') };
}

/** Commands run between two snapshots, by command, without the bench's own INFO (one per snapshot). */
function commandsBetween(a: Snapshot, b: Snapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const [cmd, n] of b.calls) {
    const d = n - (a.calls.get(cmd) ?? 0) - (cmd === 'info' ? 1 : 0);
    if (d !== 0) out.set(cmd, d);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
const scripts = (m: Map<string, number>) => (m.get('evalsha') ?? 0) + (m.get('eval') ?? 0) + (m.get('fcall') ?? 0);
const perJob = (m: Map<string, number>, n: number) => Object.fromEntries([...m].map(([c, v]) => [c, v / n]));

/** Other clients than this bench's admin connection, and what Redis runs per second meanwhile. */
async function background(): Promise<{ otherClients: number; commandsPerS: number }> {
  const list = (await admin.client('LIST')) as string;
  const others = list.split('\n').filter((l) => l.trim() && !l.includes('name=fanin-bench-admin')).length;
  const a = await snapshot();
  await sleep(2000);
  const b = await snapshot();
  return { otherClients: others, commandsPerS: round(sum(commandsBetween(a, b)) / 2, 2) };
}

// ---- keys and their memory -----------------------------------------------------------------

async function keysOf(prefix: string): Promise<string[]> {
  const out = new Set<string>();
  for (const pattern of prefixPatterns(prefix)) {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 2000);
      cursor = next;
      for (const k of keys) out.add(k);
    } while (cursor !== '0');
  }
  return [...out];
}

async function removeKeys(prefix: string): Promise<number> {
  const keys = await keysOf(prefix);
  for (let i = 0; i < keys.length; i += 1000) await admin.unlink(...keys.slice(i, i + 1000));
  return keys.length;
}

type KeyKind = 'stream' | 'jobRecords' | 'jobResults' | 'callReplies' | 'queueOther' | 'wf' | 'wfResults' | 'wfFailed' | 'registry';

function kindOf(key: string, prefix: string): KeyKind {
  const wf = `{${prefix}:wf:`;
  if (key.startsWith(wf)) return key.endsWith('}:r') ? 'wfResults' : key.endsWith('}:f') ? 'wfFailed' : 'wf';
  const queue = `{${prefix}:fan}`;
  if (!key.startsWith(queue)) return 'registry';
  const rest = key.slice(queue.length);
  if (rest.startsWith(':s:')) return 'stream';
  if (rest.startsWith(':j:')) return 'jobRecords';
  if (rest.startsWith(':r:')) return 'jobResults';
  if (rest.startsWith(':call:')) return 'callReplies';
  return 'queueOther';
}

/** Bytes (MEMORY USAGE, every element: SAMPLES 0) and keys of every key under the prefix, by kind. */
async function memoryOf(prefix: string): Promise<Record<KeyKind, { bytes: number; keys: number }>> {
  const keys = await keysOf(prefix);
  const out = {} as Record<KeyKind, { bytes: number; keys: number }>;
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const p = admin.pipeline();
    for (const k of chunk) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    const res = (await p.exec()) ?? [];
    chunk.forEach((k, j) => {
      const kind = kindOf(k, prefix);
      const slot = (out[kind] ??= { bytes: 0, keys: 0 });
      slot.bytes += Number(res[j]?.[1] ?? 0);
      slot.keys++;
    });
  }
  return out;
}

const bytesOf = (m: Record<string, { bytes: number } | undefined>, ...kinds: KeyKind[]) => kinds.reduce((a, k) => a + (m[k]?.bytes ?? 0), 0);

/** MEMORY USAGE (SAMPLES 0) of a workflow's three keys, by src/redis/keys.ts: workflowKeys (0: no such key). */
async function workflowBytes(prefix: string, id: string): Promise<{ wf: number; results: number; failed: number }> {
  const k = workflowKeys(prefix, id);
  const usage = async (key: string) => Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  return { wf: await usage(k.wf), results: await usage(k.results), failed: await usage(k.failed) };
}

/** The first ready entry's header and data lengths (what one job's stream entry carries). */
async function firstEntry(prefix: string): Promise<{ headerBytes: number; dataBytes: number; header: string }> {
  const [entry] = (await admin.xrange(`{${prefix}:fan}:s:normal`, '-', '+', 'COUNT', 1)) as [string, string[]][];
  const fields = entry?.[1] ?? [];
  const h = fields[fields.indexOf('h') + 1] ?? '';
  const d = fields[fields.indexOf('d') + 1] ?? '';
  return { headerBytes: Buffer.byteLength(h), dataBytes: Buffer.byteLength(d), header: h };
}

// ---- the app of one measurement -------------------------------------------------------------

interface Marks {
  lastChildEnd: number;
  callbackStart: number;
  pagedReadMs: number;
}

function makeApp(tag: string) {
  const prefix = `${ROOT}-${tag}`;
  const app = new Millrace({ redis: REDIS, prefix, logLevel: 'silent', events: false });
  const marks: Marks = { lastChildEnd: 0, callbackStart: 0, pagedReadMs: 0 };
  const q = app.queue('fan', { concurrency: CONCURRENCY });
  const child = q.task('child', async (_ctx, n: number) => {
    marks.lastChildEnd = performance.now();
    return n;
  });
  const merge = q.task('merge', async (_ctx, all: number[]) => {
    marks.callbackStart = performance.now();
    return all.length;
  });
  const mergePaged = q.task('mergePaged', async (_ctx, ref: GroupResults<number>) => {
    marks.callbackStart = performance.now();
    let n = 0;
    for (let offset = 0; offset < ref.size; offset += CHUNK) n += (await app.workflowResults(ref, { offset, limit: CHUNK })).length;
    marks.pagedReadMs = performance.now() - marks.callbackStart;
    return n;
  });
  const worker = () => app.worker({ handleSignals: false, healthFile: false, concurrency: CONCURRENCY });
  const close = async () => {
    await app.close();
    await removeKeys(prefix);
  };
  return { app, prefix, marks, child, merge, mergePaged, worker, close };
}
type BenchApp = ReturnType<typeof makeApp>;

async function enqueuePlain(b: BenchApp, n: number, ids?: string): Promise<void> {
  for (let i = 0; i < n; i += CHUNK) {
    const size = Math.min(CHUNK, n - i);
    if (ids) await b.child.enqueueMany(Array.from({ length: size }, (_, k) => ({ args: [i + k] as [number], options: { id: `${ids}:0:${i + k}` } })));
    else await b.child.enqueueMany(Array.from({ length: size }, (_, k) => [i + k] as [number]));
  }
}

/** Runs the worker until `count` jobs of the queue completed: ms from its start to `until` of them, and the snapshots around it. */
async function drain(b: BenchApp, until: number, count: number): Promise<{ ms: number; clientCpuMs: number; before: Snapshot; after: Snapshot }> {
  const worker = b.worker();
  const completed = () => worker.stats().queues.fan?.completed ?? 0;
  const before = await snapshot();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await worker.start();
  let t1 = 0;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const c = completed();
    if (t1 === 0 && c >= until) t1 = performance.now();
    if (c >= count) break;
    if (Date.now() > deadline) throw new Error(`drain: ${c} of ${count} jobs completed in 10 min`);
    await sleep(1);
  }
  await worker.stop();
  const cpu = process.cpuUsage(c0);
  const after = await snapshot();
  return { ms: t1 - t0, clientCpuMs: (cpu.user + cpu.system) / 1000, before, after };
}

// ---- 1 and 3: fan-out, and memory ----------------------------------------------------------

type FanoutKind = 'plain' | 'customIds' | 'chord';

interface FanoutRun {
  kind: FanoutKind;
  ms: number;
  jobsPerS: number;
  clientCpuMs: number;
  redisCpuMs: number;
  commandsPerJob: number;
  scriptCallsPerJob: number;
  byCommandPerJob: Record<string, number>;
  /** used_memory growth over the enqueue, per job (a cross-check of the MEMORY USAGE sums). */
  usedMemoryPerJob: number;
  pending: Record<string, { bytes: number; keys: number }>;
  /** Chord only: its three keys (workflowKeys), with the children pending and after they ran. */
  workflowPending?: { wf: number; results: number; failed: number };
  workflowSettled?: { wf: number; results: number; failed: number };
  entry: { headerBytes: number; dataBytes: number; header: string };
  /** Plain and chord only: the jobs run after (for the bytes per settled job). */
  drainMs?: number;
  callbackLatencyMs?: number;
  settled?: Record<string, { bytes: number; keys: number }>;
}

async function fanout(kind: FanoutKind, run: number): Promise<FanoutRun> {
  const b = makeApp(`r${run}-out-${kind}`);
  try {
    const s0 = await snapshot();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let id = '';
    if (kind === 'chord') {
      const list = Array.from({ length: FANOUT }, (_, i) => b.child.s(i));
      id = (await chord(group(list), b.merge.s()).start()).id;
    } else {
      await enqueuePlain(b, FANOUT, kind === 'customIds' ? `wf-${randomUUID()}` : undefined);
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const s1 = await snapshot();
    const cmds = commandsBetween(s0, s1);
    const out: FanoutRun = {
      kind, ms: round(ms), jobsPerS: Math.round(FANOUT / (ms / 1000)),
      clientCpuMs: round((cpu.user + cpu.system) / 1000), redisCpuMs: round((s1.cpu - s0.cpu) * 1000),
      commandsPerJob: round(sum(cmds) / FANOUT, 3), scriptCallsPerJob: round(scripts(cmds) / FANOUT, 4),
      byCommandPerJob: Object.fromEntries(Object.entries(perJob(cmds, FANOUT)).filter(([, v]) => Math.abs(v) >= 0.001).map(([c, v]) => [c, round(v, 3)])),
      usedMemoryPerJob: round((s1.usedMemory - s0.usedMemory) / FANOUT),
      pending: await memoryOf(b.prefix),
      entry: await firstEntry(b.prefix),
    };
    if (id) out.workflowPending = await workflowBytes(b.prefix, id);
    if (kind !== 'customIds') {
      // Run them all (the chord: its callback too), for what settled jobs keep.
      const d = await drain(b, FANOUT, kind === 'chord' ? FANOUT + 1 : FANOUT);
      out.drainMs = round(d.ms);
      if (kind === 'chord') out.callbackLatencyMs = round(b.marks.callbackStart - b.marks.lastChildEnd, 2);
      out.settled = await memoryOf(b.prefix);
      if (id) out.workflowSettled = await workflowBytes(b.prefix, id);
    }
    return out;
  } finally {
    await b.close();
  }
}

// ---- 2: fan-in -----------------------------------------------------------------------------

type FaninKind = 'plain' | 'chord' | 'paged';

interface FaninRun {
  kind: FaninKind;
  drainMs: number;
  usPerJob: number;
  commands: Map<string, number>;
  redisCpuMs: number;
  /** This process' CPU (the worker's) from its start to its stop. */
  clientCpuMs: number;
  callbackLatencyMs?: number;
  pagedReadMs?: number;
}

async function fanin(kind: FaninKind, run: number): Promise<FaninRun> {
  const b = makeApp(`r${run}-in-${kind}`);
  try {
    if (kind === 'plain') await enqueuePlain(b, DRAIN);
    else {
      const list = Array.from({ length: DRAIN }, (_, i) => b.child.s(i));
      if (kind === 'chord') await chord(group(list), b.merge.s()).start();
      else await chord(group(list).paged(), b.mergePaged.s()).start();
    }
    const d = await drain(b, DRAIN, kind === 'plain' ? DRAIN : DRAIN + 1);
    const out: FaninRun = {
      kind, drainMs: round(d.ms), usPerJob: round((d.ms * 1000) / DRAIN), commands: commandsBetween(d.before, d.after),
      redisCpuMs: round((d.after.cpu - d.before.cpu) * 1000), clientCpuMs: round(d.clientCpuMs),
    };
    if (kind !== 'plain') out.callbackLatencyMs = round(b.marks.callbackStart - b.marks.lastChildEnd, 2);
    if (kind === 'paged') out.pagedReadMs = round(b.marks.pagedReadMs, 2);
    return out;
  } finally {
    await b.close();
  }
}

// ---- the runs ------------------------------------------------------------------------------


const started = Date.now();
const loadStart = loadavg().map((x) => round(x, 2));
const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?';
const git = gitState(['src']);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
console.log(`fanin bench: chord of ${n(FANOUT)} (fan-out, memory), ${n(DRAIN)} (fan-in), ${RUNS} runs, concurrency ${CONCURRENCY}; Redis ${redisVersion} at ${REDIS}, prefix ${ROOT}-*; commit ${git.commit}${git.dirty.length ? ` + ${git.dirty.length} changed files under src/` : ''}; ${cpus().length} cores, load ${loadStart.join(' ')}`);
const bgStart = await background();
if (bgStart.otherClients > 0 || bgStart.commandsPerS > 1) console.log(`warning: the Redis is not idle (${bgStart.otherClients} other clients, ${bgStart.commandsPerS} commands/s): command counts include theirs`);

const outs: FanoutRun[] = [];
const ins: FaninRun[] = [];
try {
  // A warm-up, not recorded: the first drain of a process runs slower (JIT).
  for (const kind of ['plain', 'chord'] as const) await fanin(kind, -1);
  for (let run = 0; run < RUNS; run++) {
    // Alternating the order, so drift on the machine touches every variant alike.
    const outOrder: FanoutKind[] = run % 2 ? ['chord', 'customIds', 'plain'] : ['plain', 'customIds', 'chord'];
    for (const kind of outOrder) {
      const r = await fanout(kind, run);
      outs.push(r);
      console.log(`run ${run + 1}/${RUNS} fan-out ${kind}: ${n(r.jobsPerS)} jobs/s (${n(r.ms)} ms; client CPU ${n(r.clientCpuMs)} ms, Redis CPU ${n(r.redisCpuMs)} ms, ${r.commandsPerJob} commands/job)${r.drainMs !== undefined ? `; ran in ${n(r.drainMs)} ms` : ''}${r.callbackLatencyMs !== undefined ? `, callback ${r.callbackLatencyMs} ms after the last child` : ''}`);
    }
    const inOrder: FaninKind[] = run % 2 ? ['paged', 'chord', 'plain'] : ['plain', 'chord', 'paged'];
    for (const kind of inOrder) {
      const r = await fanin(kind, run);
      ins.push(r);
      console.log(`run ${run + 1}/${RUNS} fan-in ${kind}: ${r.usPerJob} µs/job (${n(r.drainMs)} ms), ${round(sum(r.commands) / DRAIN, 2)} commands/job, Redis CPU ${round((r.redisCpuMs * 1000) / DRAIN)} µs/job, worker CPU ${round((r.clientCpuMs * 1000) / DRAIN)} µs/job${r.callbackLatencyMs !== undefined ? `; callback ${r.callbackLatencyMs} ms after the last child` : ''}${r.pagedReadMs !== undefined ? ` (reading every page: ${r.pagedReadMs} ms)` : ''}`);
    }
  }
} finally {
  const left = await removeKeys(ROOT);
  if (left > 0) console.log(`removed ${left} keys left under ${ROOT}-*`);
}
const bgEnd = await background();
if (bgEnd.otherClients > 0 || bgEnd.commandsPerS > 1) console.log(`warning: the Redis was not idle at the end (${bgEnd.otherClients} other clients, ${bgEnd.commandsPerS} commands/s)`);
admin.disconnect();

// ---- summary -------------------------------------------------------------------------------

const med = <T>(rows: T[], f: (r: T) => number, digits = 1) => round(median(rows.map(f)), digits);
const of = <T extends { kind: string }>(rows: T[], kind: T['kind']) => rows.filter((r) => r.kind === kind);
const outPlain = of(outs, 'plain');
const outCustom = of(outs, 'customIds');
const outChord = of(outs, 'chord');
const inPlain = of(ins, 'plain');
const inChord = of(ins, 'chord');
const inPaged = of(ins, 'paged');
const perOut = (rows: FanoutRun[]) => ({
  jobsPerS: med(rows, (r) => r.jobsPerS, 0), ms: med(rows, (r) => r.ms, 0),
  clientCpuUsPerJob: med(rows, (r) => (r.clientCpuMs * 1000) / FANOUT, 2), redisCpuUsPerJob: med(rows, (r) => (r.redisCpuMs * 1000) / FANOUT, 2),
  commandsPerJob: med(rows, (r) => r.commandsPerJob, 2), scriptCallsPerJob: med(rows, (r) => r.scriptCallsPerJob, 4),
  byCommandPerJob: rows.at(-1)!.byCommandPerJob,
});

// Fan-in: the workflow's extra per child (chord less plain), by command, median over the runs (paired by run).
const extraRuns = inChord.map((c, i) => {
  const p = inPlain[i]!;
  const byCommand = new Map<string, number>();
  for (const cmd of new Set([...c.commands.keys(), ...p.commands.keys()])) byCommand.set(cmd, ((c.commands.get(cmd) ?? 0) - (p.commands.get(cmd) ?? 0)) / DRAIN);
  return {
    commands: (sum(c.commands) - sum(p.commands)) / DRAIN, scripts: (scripts(c.commands) - scripts(p.commands)) / DRAIN, byCommand,
    us: c.usPerJob - p.usPerJob, redisCpuUs: ((c.redisCpuMs - p.redisCpuMs) * 1000) / DRAIN, clientCpuUs: ((c.clientCpuMs - p.clientCpuMs) * 1000) / DRAIN,
  };
});
const extraByCommand: Record<string, number> = {};
for (const cmd of new Set(extraRuns.flatMap((r) => [...r.byCommand.keys()]))) {
  const v = round(median(extraRuns.map((r) => r.byCommand.get(cmd) ?? 0)), 3);
  if (Math.abs(v) >= 0.005) extraByCommand[cmd] = v;
}
const perIn = (rows: FaninRun[]) => ({
  usPerJob: med(rows, (r) => r.usPerJob), drainMs: med(rows, (r) => r.drainMs, 0),
  commandsPerJob: med(rows, (r) => sum(r.commands) / DRAIN, 2), scriptCallsPerJob: med(rows, (r) => scripts(r.commands) / DRAIN, 3),
  redisCpuUsPerJob: med(rows, (r) => (r.redisCpuMs * 1000) / DRAIN),
  clientCpuUsPerJob: med(rows, (r) => (r.clientCpuMs * 1000) / DRAIN),
});

const perPending = (rows: FanoutRun[], ...kinds: KeyKind[]) => med(rows, (r) => bytesOf(r.pending, ...kinds) / FANOUT, 2);
const wfTotal = (w: { wf: number; results: number; failed: number } | undefined) => (w ? w.wf + w.results + w.failed : NaN);
const perSettled = (rows: FanoutRun[], ...kinds: KeyKind[]) => med(rows, (r) => bytesOf(r.settled ?? {}, ...kinds) / FANOUT, 2);
const summary = {
  fanout: {
    children: FANOUT,
    plainEnqueueMany: perOut(outPlain),
    customIdsEnqueueMany: perOut(outCustom),
    chordStart: perOut(outChord),
    /** Chord .start() jobs/s over enqueueMany's, per run, median. */
    chordToBulkRatio: med(outChord.map((c, i) => c.jobsPerS / outPlain[i]!.jobsPerS), (x) => x, 3),
    customIdsToBulkRatio: med(outCustom.map((c, i) => c.jobsPerS / outPlain[i]!.jobsPerS), (x) => x, 3),
    /** The same children run after (fan-out runs), for the figures at this size. */
    chordDrainUsPerChild: med(outChord, (r) => ((r.drainMs ?? NaN) * 1000) / FANOUT),
    plainDrainUsPerJob: med(outPlain, (r) => ((r.drainMs ?? NaN) * 1000) / FANOUT),
    chordCallbackLatencyMs: med(outChord, (r) => r.callbackLatencyMs ?? NaN),
  },
  fanin: {
    children: DRAIN,
    concurrency: CONCURRENCY,
    plain: perIn(inPlain),
    chord: { ...perIn(inChord), callbackLatencyMs: med(inChord, (r) => r.callbackLatencyMs ?? NaN, 2) },
    paged: { ...perIn(inPaged), callbackLatencyMs: med(inPaged, (r) => r.callbackLatencyMs ?? NaN, 2), pagedReadMs: med(inPaged, (r) => r.pagedReadMs ?? NaN, 2) },
    extraPerChild: {
      commands: round(median(extraRuns.map((r) => r.commands)), 2),
      scriptCalls: round(median(extraRuns.map((r) => r.scripts)), 3),
      byCommand: extraByCommand,
      us: round(median(extraRuns.map((r) => r.us))),
      redisCpuUs: round(median(extraRuns.map((r) => r.redisCpuUs))),
      clientCpuUs: round(median(extraRuns.map((r) => r.clientCpuUs))),
    },
  },
  memory: {
    children: FANOUT,
    pendingChild: {
      /** The workflow's own keys (record, results, failed) over its children. */
      workflowKeys: med(outChord, (r) => wfTotal(r.workflowPending) / FANOUT, 3),
      workflowKeysTotal: med(outChord, (r) => wfTotal(r.workflowPending), 0),
      workflowKeysByKey: outChord.at(-1)!.workflowPending,
      queueStream: perPending(outChord, 'stream'),
      queueJobRecords: perPending(outChord, 'jobRecords'),
      callReplies: perPending(outChord, 'callReplies'),
      total: med(outChord, (r) => (wfTotal(r.workflowPending) + bytesOf(r.pending, 'stream', 'jobRecords', 'callReplies')) / FANOUT, 2),
      usedMemoryDelta: med(outChord, (r) => r.usedMemoryPerJob),
      entryHeaderBytes: outChord.at(-1)!.entry.headerBytes,
      entryHeaderSample: outChord.at(-1)!.entry.header,
    },
    waitingPlainJob: {
      queueStream: perPending(outPlain, 'stream'),
      callReplies: perPending(outPlain, 'callReplies'),
      total: perPending(outPlain, 'stream', 'jobRecords', 'callReplies'),
      usedMemoryDelta: med(outPlain, (r) => r.usedMemoryPerJob),
      entryHeaderBytes: outPlain.at(-1)!.entry.headerBytes,
      entryHeaderSample: outPlain.at(-1)!.entry.header,
    },
    waitingCustomIdJob: {
      queueStream: perPending(outCustom, 'stream'),
      queueJobRecords: perPending(outCustom, 'jobRecords'),
      callReplies: perPending(outCustom, 'callReplies'),
      total: perPending(outCustom, 'stream', 'jobRecords', 'callReplies'),
      usedMemoryDelta: med(outCustom, (r) => r.usedMemoryPerJob),
    },
    settledChild: {
      /** The workflow's results hash (one field per node) over its children. */
      workflowResults: med(outChord, (r) => (r.workflowSettled?.results ?? NaN) / FANOUT, 2),
      workflowKeys: med(outChord, (r) => wfTotal(r.workflowSettled) / FANOUT, 2),
      workflowKeysByKey: outChord.at(-1)!.workflowSettled,
      /** The node jobs' own result records (kept for the task's resultTtl), as any job's. */
      jobResults: perSettled(outChord, 'jobResults'),
      workflowResultsHashBytes: med(outChord, (r) => r.workflowSettled?.results ?? NaN, 0),
    },
    settledPlainJob: { jobResults: perSettled(outPlain, 'jobResults') },
  },
};

const fo = summary.fanout;
const fi = summary.fanin;
const mem = summary.memory;
const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '');
const signed = (v: number, unit = '') => `${v >= 0 ? '+' : ''}${v}${unit}`;

function printTable(title: string, rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isFinite(c) ? (Math.abs(c) >= 1000 ? n(c) : String(c)) : 'n/a') : c)));
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => r[c]?.length ?? 0)));
  console.log(`\n${title}`);
  for (const r of cells) console.log(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ')}`);
}

const [p, c, w] = [fo.plainEnqueueMany, fo.customIdsEnqueueMany, fo.chordStart];
printTable(`1. fan-out, ${n(FANOUT)} jobs (enqueueMany in calls of ${CHUNK}; chord(group(list), merge.s()).start())`, [
  ['', 'enqueueMany', 'enqueueMany, custom ids', 'chord .start()', 'chord / enqueueMany'],
  ['jobs/s', p.jobsPerS, c.jobsPerS, w.jobsPerS, `${fo.chordToBulkRatio.toFixed(2)}×`],
  ['client CPU µs/job', p.clientCpuUsPerJob, c.clientCpuUsPerJob, w.clientCpuUsPerJob, x(w.clientCpuUsPerJob, p.clientCpuUsPerJob)],
  ['Redis CPU µs/job', p.redisCpuUsPerJob, c.redisCpuUsPerJob, w.redisCpuUsPerJob, x(w.redisCpuUsPerJob, p.redisCpuUsPerJob)],
  ['Redis commands/job', p.commandsPerJob, c.commandsPerJob, w.commandsPerJob, x(w.commandsPerJob, p.commandsPerJob)],
]);
printTable(`2. fan-in, ${n(DRAIN)} jobs, one worker in this process, concurrency ${CONCURRENCY}`, [
  ['', 'plain jobs', 'chord', 'chord - plain (per child)', 'paged chord'],
  ['drain µs/job', fi.plain.usPerJob, fi.chord.usPerJob, signed(fi.extraPerChild.us), fi.paged.usPerJob],
  ['Redis commands/job', fi.plain.commandsPerJob, fi.chord.commandsPerJob, signed(fi.extraPerChild.commands), fi.paged.commandsPerJob],
  ['  of which script calls', fi.plain.scriptCallsPerJob, fi.chord.scriptCallsPerJob, signed(fi.extraPerChild.scriptCalls), fi.paged.scriptCallsPerJob],
  ['Redis CPU µs/job', fi.plain.redisCpuUsPerJob, fi.chord.redisCpuUsPerJob, signed(fi.extraPerChild.redisCpuUs), fi.paged.redisCpuUsPerJob],
  ['worker process CPU µs/job', fi.plain.clientCpuUsPerJob, fi.chord.clientCpuUsPerJob, signed(fi.extraPerChild.clientCpuUs), fi.paged.clientCpuUsPerJob],
  ['callback start after the last child, ms', '', fi.chord.callbackLatencyMs, '', fi.paged.callbackLatencyMs],
  [`at ${n(FANOUT)} (the fan-out's jobs run): drain µs/job`, fo.plainDrainUsPerJob, fo.chordDrainUsPerChild, signed(round(fo.chordDrainUsPerChild - fo.plainDrainUsPerJob)), ''],
  [`at ${n(FANOUT)}: callback after the last child, ms`, '', fo.chordCallbackLatencyMs, '', ''],
]);
console.log(`  extra commands per child, by command (Redis counts a script's calls): ${JSON.stringify(fi.extraPerChild.byCommand)}`);
const pc = mem.pendingChild;
const wp = mem.waitingPlainJob;
const wc = mem.waitingCustomIdJob;
printTable(`3. memory, ${n(FANOUT)} jobs, bytes per job (MEMORY USAGE ... SAMPLES 0)`, [
  ['', 'waiting plain job', 'waiting custom-id job', 'pending chord child', 'child / plain'],
  ['stream entry', wp.queueStream, wc.queueStream, pc.queueStream, x(pc.queueStream, wp.queueStream)],
  ['per-job record (j:<id>)', 0, wc.queueJobRecords, pc.queueJobRecords, ''],
  ['enqueue replies (kept 60 s)', wp.callReplies, wc.callReplies, pc.callReplies, ''],
  ['workflow keys', '', '', `${pc.workflowKeys} (${n(pc.workflowKeysTotal)} B)`, ''],
  ['total', wp.total, wc.total, pc.total, x(pc.total, wp.total)],
  ['used_memory growth (cross-check)', wp.usedMemoryDelta, wc.usedMemoryDelta, pc.usedMemoryDelta, x(pc.usedMemoryDelta, wp.usedMemoryDelta)],
  ['after they ran: job result record (r:<id>)', mem.settledPlainJob.jobResults, '', mem.settledChild.jobResults, x(mem.settledChild.jobResults, mem.settledPlainJob.jobResults)],
  ['after they ran: workflow results hash', '', '', `${mem.settledChild.workflowResults} (${n(mem.settledChild.workflowResultsHashBytes)} B)`, ''],
]);
console.log(`  stream entry header: plain ${wp.entryHeaderBytes} B (${JSON.stringify(wp.entryHeaderSample)}), node ${pc.entryHeaderBytes} B (${JSON.stringify(pc.entryHeaderSample)})`);

const result = {
  date: new Date().toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  settings: { fanout: FANOUT, drain: DRAIN, runs: RUNS, concurrency: CONCURRENCY, chunk: CHUNK, quick: QUICK, events: false },
  git,
  machine: { nproc: cpus().length, cpu: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, redis: redisVersion, loadavgStart: loadStart, loadavgEnd: loadavg().map((x) => round(x, 2)) },
  background: { start: bgStart, end: bgEnd },
  summary,
  runs: {
    fanout: outs,
    fanin: ins.map((r) => ({ ...r, commandsPerJob: round(sum(r.commands) / DRAIN, 3), commands: Object.fromEntries([...r.commands].filter(([, v]) => Math.abs(v) / DRAIN >= 0.001)) })),
  },
};
if (OUT) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: ${OUT}`);
}
