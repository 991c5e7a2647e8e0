// Flow control measured (issue 16): how exactly a queue's rate limit holds its rate, and what a
// limited worker costs Redis while it waits. On a redis-server of the bench's own (a free port,
// a temp dir, no persistence, stopped at the end; the shared Redis is never touched).
//
// 1. Accuracy: two workers (concurrency 50 each, in this process) drain a queue limited to
//    1,000 jobs/s, as `{ max: 1000, per: '1s' }` (a bucket of a second's worth) and as
//    `{ max: 100, per: '100ms' }` (a tenth of a second's worth), for SECONDS s with the queue
//    never empty: job starts per second over the steady window (from the first `per` after the
//    first start: the bucket's first burst is apart), and over the whole run with the burst;
//    and a queue of fair groups whose one group is limited to `{ max: 1000, per: '1s' }`.
// 2. A limited idle worker: a queue of `{ max: 1, per: '10s' }` with jobs waiting; once the
//    worker took its one token, its fetch script calls per second (MONITOR on the queue's rate
//    key) and all of the worker's commands per second (INFO, nothing else on that Redis) over
//    8 s: only its heartbeat may speak.
//
//   npm run bench:flow                  # 60 s per accuracy run, 3 runs each
//   npm run bench:flow -- --quick       # 10 s, 1 run
//   npm run bench:flow -- --seconds 30 --runs 5
//
// Writes bench/results/flow-<date>.json (flow-quick-<date>.json with --quick).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Millrace } from '../src/index.js';
import { RedisServer } from '../support/redis-server.js';
import { median } from './report.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, seconds: { type: 'string' }, runs: { type: 'string' } } });
const QUICK = values.quick;
const SECONDS = Number(values.seconds ?? (QUICK ? 10 : 60));
const RUNS = Number(values.runs ?? (QUICK ? 1 : 3));
const RATE = 1000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


interface Accuracy {
  limit: string;
  steadyPerS: number;
  steadyErrorPct: number;
  wholePerS: number;
  starts: number;
}

async function accuracy(server: RedisServer, run: number, limit: { max: number; per: string; perMs: number; group?: boolean }): Promise<Accuracy> {
  const prefix = `flow${run}-${limit.max}${limit.group ? 'g' : ''}`;
  const app = new Millrace({ redis: server.url, prefix, logLevel: 'silent', events: false });
  const starts: number[] = [];
  const rateLimit = { max: limit.max, per: limit.per };
  // The queue's limit, or (group) a fair group's: every job in one group limited to the rate.
  const q = app.queue('limited', { concurrency: 50, resultTtl: 'none', ...(limit.group ? { groups: { rateLimit } } : { rateLimit }) });
  const work = q.task('work', async () => {
    starts.push(Date.now());
  });
  // Never empty: more than the run can start.
  const total = RATE * (SECONDS + 3);
  const options = limit.group ? { group: 'tenant' } : {};
  for (let i = 0; i < total; i += 10_000) await work.enqueueMany(Array.from({ length: Math.min(10_000, total - i) }, () => ({ args: [] as [], options })));
  const workers = [app.worker({ handleSignals: false, healthFile: false, concurrency: 50 }), app.worker({ handleSignals: false, healthFile: false, concurrency: 50 })];
  for (const w of workers) await w.start();
  await sleep((SECONDS + 1) * 1000 + limit.perMs);
  for (const w of workers) await w.stop({ grace: 1000 });
  await app.close();
  const first = starts.reduce((a, b) => Math.min(a, b), Infinity);
  const from = first + limit.perMs;
  const to = from + SECONDS * 1000;
  const steady = starts.filter((t) => t >= from && t < to).length / SECONDS;
  const whole = starts.filter((t) => t < first + SECONDS * 1000).length / SECONDS;
  const flush = server.client();
  for (const key of await flush.keys(`*${prefix}*`)) await flush.del(key);
  flush.disconnect();
  return { limit: `${limit.max} per ${limit.per}${limit.group ? ' (a group)' : ''}`, steadyPerS: Math.round(steady * 10) / 10, steadyErrorPct: Math.round(((steady - RATE) / RATE) * 10_000) / 100, wholePerS: Math.round(whole * 10) / 10, starts: starts.length };
}

interface Idle {
  fetchesPerS: number;
  commandsPerS: number;
  heartbeatsPerS: number;
  /** The worker's commands per second by name (MONITOR: a script's inner calls too). */
  byCommand: Record<string, number>;
}

async function idleLimited(server: RedisServer): Promise<Idle> {
  const prefix = 'flowidle';
  const app = new Millrace({ redis: server.url, prefix, logLevel: 'silent', events: false });
  const q = app.queue('slow', { concurrency: 5, rateLimit: { max: 1, per: '10s' } });
  const work = q.task('work', async (_ctx, n: number) => n);
  const jobs = await work.enqueueMany([[1], [2], [3]]);
  const worker = app.worker({ handleSignals: false, healthFile: false, heartbeatInterval: 5000 });
  await worker.start();
  await jobs[0]!.result({ timeout: 10_000 });
  await sleep(500);
  const admin = server.client();
  const watch = server.client();
  const seen: string[][] = [];
  const monitor = await watch.monitor();
  monitor.on('monitor', (_t: string, args: string[]) => seen.push(args.map(String)));
  const info = async () => Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))![1]);
  const before = await info();
  const WINDOW = 8;
  await sleep(WINDOW * 1000);
  const after = await info();
  monitor.disconnect();
  watch.disconnect();
  await worker.stop({ grace: 500 });
  await app.close();
  admin.disconnect();
  const mine = seen.filter((a) => a.some((x) => x.includes(prefix)));
  const fetches = mine.filter((a) => a.some((x) => x.includes(':slow}:rate'))).length;
  const beats = mine.filter((a) => a.some((x) => x.includes(':health:') || x.includes(':worker:'))).length;
  const byCommand: Record<string, number> = {};
  for (const a of seen) {
    const name = (a[0] ?? '').toLowerCase();
    if (name === 'info') continue;
    byCommand[name] = Math.round(((byCommand[name] ?? 0) + 1 / WINDOW) * 100) / 100;
  }
  // INFO's own calls (two) are left out; MONITOR's own traffic is not a command.
  return { fetchesPerS: fetches / WINDOW, commandsPerS: Math.round(((after - before - 2) / WINDOW) * 100) / 100, heartbeatsPerS: beats / WINDOW, byCommand };
}

const server = await RedisServer.start({ dirPrefix: 'millrace-bench-flow-' });
const results: { accuracy: Accuracy[]; idle?: Idle } = { accuracy: [] };
try {
  for (let run = 0; run < RUNS; run++) {
    for (const limit of [{ max: 1000, per: '1s', perMs: 1000 }, { max: 100, per: '100ms', perMs: 100 }, { max: 1000, per: '1s', perMs: 1000, group: true }]) {
      const a = await accuracy(server, run, limit);
      results.accuracy.push(a);
      console.log(`run ${run + 1}/${RUNS}, ${a.limit}: steady ${a.steadyPerS}/s (${a.steadyErrorPct >= 0 ? '+' : ''}${a.steadyErrorPct} %), whole run with the first burst ${a.wholePerS}/s, ${a.starts} starts`);
    }
  }
  results.idle = await idleLimited(server);
  console.log(`a limited idle worker: ${results.idle.fetchesPerS} fetches/s, ${results.idle.commandsPerS} commands/s in all (heartbeat ${results.idle.heartbeatsPerS}/s); by command: ${JSON.stringify(results.idle.byCommand)}`);
} finally {
  await server.stop();
}
for (const limit of ['1000 per 1s', '100 per 100ms', '1000 per 1s (a group)']) {
  const mine = results.accuracy.filter((a) => a.limit === limit);
  console.log(`${limit}: median steady ${median(mine.map((a) => a.steadyPerS))}/s, error ${median(mine.map((a) => a.steadyErrorPct))} % (target ±1 %); whole run ${median(mine.map((a) => a.wholePerS))}/s`);
}
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const base = `flow-${QUICK ? 'quick-' : ''}${new Date().toISOString().slice(0, 10)}`;
let path = join(dir, `${base}.json`);
for (let n = 2; existsSync(path); n++) path = join(dir, `${base}-${n}.json`);
mkdirSync(dir, { recursive: true });
writeFileSync(path, `${JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, runs: RUNS, rate: RATE, nproc: cpus().length, ...results }, null, 2)}\n`);
console.log(`results: ${path}`);
