// Runs one scenario for one library in its own process and sends the figures to the parent
// over IPC. Helper roles (filler, extra worker, paced producer) run in processes forked from here.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createAdapter } from './adapters/index.js';
import { clock, PAYLOAD_STRING, type Adapter, type LibName, type Payload } from './adapters/types.js';
import type { Kind, Params } from './scenarios.js';

export interface ChildArgs {
  role: 'main' | 'fill' | 'worker' | 'producer';
  lib: LibName;
  kind: Kind;
  params: Params;
  host: string;
  port: number;
  events: boolean;
}

type Metrics = Record<string, number>;
type Message = { type: string; [k: string]: unknown };

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const BATCH = 1000;

function adapter(): Adapter {
  return createAdapter(args.lib, {
    host: args.host, port: args.port, url: `redis://${args.host}:${args.port}`, keep: args.params.keep ?? false, events: args.events,
  });
}

function send(msg: Message): Promise<void> {
  return new Promise((resolve) => process.send!(msg, () => resolve()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function batches(n: number): Payload[][] {
  const out: Payload[][] = [];
  for (let i = 0; i < n; i += BATCH) out.push(Array.from({ length: Math.min(BATCH, n - i) }, () => ({ p: PAYLOAD_STRING })));
  return out;
}

async function fill(ad: Adapter, n: number): Promise<void> {
  for (const b of batches(n)) await ad.enqueueBatch(b);
}

/** Polls until nothing is waiting or running: the drain counts only once every job is acknowledged. */
async function drained(ad: Adapter, intervalMs: number): Promise<void> {
  while ((await ad.pending()) > 0) await sleep(intervalMs);
}

/** A worker that counts handler starts and resolves `reached(k)` when the k-th one starts. */
async function countingWorker(ad: Adapter, concurrency: number, onJob: (d: Payload, count: number) => void = () => {}) {
  let count = 0;
  const waits = new Map<number, () => void>();
  await ad.prepareWorker(concurrency, (d) => {
    count++;
    onJob(d, count);
    waits.get(count)?.();
  });
  return {
    count: () => count,
    reached: (k: number) => new Promise<void>((resolve) => (count >= k ? resolve() : waits.set(k, resolve))),
  };
}

/** Forks a helper role of this same script (same loader flags); read it with waitMessage. */
function forkRole(role: ChildArgs['role'], params: Params): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [JSON.stringify({ ...args, role, params })], { execArgv: process.execArgv });
}

function waitMessage(child: ChildProcess, type: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: Message) => {
      if (m.type === type) { child.off('message', onMsg); resolve(m); } else if (m.type === 'error') reject(new Error(String(m.message)));
    };
    child.on('message', onMsg);
    child.once('exit', (code) => code !== 0 && reject(new Error(`helper exited with code ${code}`)));
  });
}

function sampleRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 1048576;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

// ---- scenarios (role main) ----

async function bulk(ad: Adapter, p: Params): Promise<Metrics> {
  await ad.ready();
  // Warm-up (connections, scripts, JIT), untimed.
  for (const b of batches(Math.max(BATCH, p.warmJobs!))) await ad.enqueueBatch(b);
  const work = batches(p.n!);
  const t0 = clock();
  for (const b of work) await ad.enqueueBatch(b);
  return { jobsPerSec: p.n! / ((clock() - t0) / 1000) };
}

async function single(ad: Adapter, p: Params): Promise<Metrics> {
  await ad.ready();
  /** `n` single enqueues, `inflight` at a time. */
  const lanes = async (n: number) => {
    let issued = 0;
    const lane = async () => {
      while (issued < n) {
        issued++;
        await ad.enqueueOne({ p: PAYLOAD_STRING });
      }
    };
    await Promise.all(Array.from({ length: p.inflight! }, lane));
  };
  await lanes(p.warmJobs!); // warm-up (connections, scripts, JIT), untimed
  const t0 = clock();
  await lanes(p.n!);
  return { jobsPerSec: p.n! / ((clock() - t0) / 1000) };
}

async function drain(ad: Adapter, p: Params): Promise<Metrics> {
  await ad.ready();
  await fill(ad, p.n!);
  const w = await countingWorker(ad, p.concurrency!);
  const t0 = clock();
  await ad.startWorker();
  await w.reached(p.n!);
  const handled = clock();
  await drained(ad, 5);
  const t1 = clock();
  return { jobsPerSec: p.n! / ((t1 - t0) / 1000), settleMs: t1 - handled, extra: w.count() - p.n! };
}

async function latency(ad: Adapter, p: Params): Promise<Metrics> {
  const samples: [number, number][] = [];
  const w = await countingWorker(ad, p.concurrency!, (d) => samples.push([d.t!, clock() - d.t!]));
  await ad.startWorker();
  const producer = forkRole('producer', p);
  const done = await waitMessage(producer, 'done');
  await w.reached(Number(done.sent));
  const from = Number(done.t0) + p.warmup! * 1000;
  const lat = samples.filter(([t]) => t >= from).map(([, l]) => l).sort((a, b) => a - b);
  // achievedRate shows whether the producer kept the pace (on a saturated CPU it cannot).
  return {
    p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.at(-1) ?? NaN, samples: lat.length,
    negative: lat.filter((l) => l < 0).length, achievedRate: Number(done.sent) / Number(done.seconds),
  };
}

async function memory(ad: Adapter, p: Params): Promise<Metrics> {
  const admin = new Redis({ host: args.host, port: args.port });
  const used = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
  try {
    await ad.ready();
    await fill(ad, BATCH); // warm-up: keys, scripts and fixed structures are not counted
    await sleep(200);
    const m0 = await used();
    await fill(ad, p.n!);
    await sleep(200);
    return { bytesPerJob: ((await used()) - m0) / p.n! };
  } finally {
    admin.disconnect();
  }
}

/**
 * RSS of a settled process: a full GC, then a pause in which V8 hands the pages it freed back
 * to the system (it does so on a background thread: read at once, RSS still counts them, and by
 * as much as 20-50 MB depending on where the old generation's GC cycle stood).
 */
async function settledRss(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(300);
  }
  return process.memoryUsage().rss / 1048576;
}

async function rss(ad: Adapter, p: Params): Promise<Metrics> {
  // A separate process fills the queue so this worker's memory holds no producer garbage: the
  // first `mark` jobs, then (once they are drained and the RSS is read) the rest.
  await waitMessage(forkRole('fill', { ...p, n: p.mark }), 'done');
  let liveMark = NaN;
  let liveEnd = NaN;
  const w = await countingWorker(ad, p.concurrency!, (_d, count) => {
    if (count === p.mark) liveMark = sampleRss();
    if (count === p.n) liveEnd = sampleRss();
  });
  await ad.startWorker();
  await w.reached(p.mark!);
  await drained(ad, 20);
  const rssMark = await settledRss();
  await waitMessage(forkRole('fill', { ...p, n: p.n! - p.mark! }), 'done');
  await w.reached(p.n!);
  await drained(ad, 20);
  const rssEnd = await settledRss();
  return {
    rssMark, rssEnd, growthPct: ((rssEnd - rssMark) / rssMark) * 100,
    liveMark, liveEnd, liveGrowthPct: ((liveEnd - liveMark) / liveMark) * 100,
  };
}

async function procs(ad: Adapter, p: Params): Promise<Metrics> {
  await ad.ready();
  await fill(ad, p.n!);
  const workers = Array.from({ length: p.procs! }, () => forkRole('worker', p));
  await Promise.all(workers.map((c) => waitMessage(c, 'ready')));
  const t0 = clock();
  for (const c of workers) c.send({ type: 'go' });
  await drained(ad, 10);
  const t1 = clock();
  const counts = await Promise.all(workers.map((c) => {
    const r = waitMessage(c, 'count');
    c.send({ type: 'stop' });
    return r;
  }));
  const total = counts.reduce((a, m) => a + Number(m.count), 0);
  // Diagnostics: from 'go' to the first job anywhere, and from the last job to the drained check.
  const firstMs = Math.min(...counts.map((m) => Number(m.first))) - t0;
  const tailMs = t1 - Math.max(...counts.map((m) => Number(m.last)));
  return { jobsPerSec: p.n! / ((t1 - t0) / 1000), extra: total - p.n!, firstMs, tailMs, ...Object.fromEntries(counts.map((m, i) => [`count${i + 1}`, Number(m.count)])) };
}

const SCENARIOS: Record<Kind, (ad: Adapter, p: Params) => Promise<Metrics>> = { bulk, single, drain, latency, memory, rss, procs };

// ---- helper roles ----

async function roleFill(ad: Adapter, p: Params): Promise<void> {
  await ad.ready();
  await fill(ad, p.n!);
  await send({ type: 'done' });
}

/** A worker that starts on 'go' and stops on 'stop'; its job count is sent once it is closed. */
async function roleWorker(ad: Adapter, p: Params): Promise<() => Message> {
  let first = NaN;
  let last = NaN;
  const w = await countingWorker(ad, p.concurrency!, () => {
    last = clock();
    if (Number.isNaN(first)) first = last;
  });
  const stopped = new Promise<void>((resolve) => {
    process.on('message', (m: Message) => {
      if (m.type === 'go') void ad.startWorker();
      if (m.type === 'stop') resolve();
    });
  });
  await send({ type: 'ready' });
  await stopped;
  return () => ({ type: 'count', count: w.count(), first, last });
}

/** Enqueues single jobs at a steady rate: each 1 ms tick sends the jobs due by now. */
async function roleProducer(ad: Adapter, p: Params): Promise<void> {
  await ad.ready();
  const total = Math.round(p.rate! * p.seconds!);
  let sent = 0;
  let failed: unknown;
  const inflight = new Set<Promise<void>>();
  const t0 = clock();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((clock() - t0) / 1000) * p.rate!));
      while (sent < due) {
        sent++;
        const pr = ad.enqueueOne({ p: PAYLOAD_STRING, t: clock() }).catch((e) => { failed = e; });
        inflight.add(pr);
        void pr.finally(() => inflight.delete(pr));
      }
      if (sent >= total || failed) { clearInterval(timer); resolve(); }
    }, 1);
  });
  await Promise.all(inflight);
  if (failed) throw failed;
  await send({ type: 'done', sent, t0, seconds: (clock() - t0) / 1000 });
}

async function main(): Promise<void> {
  process.on('disconnect', () => process.exit(1)); // the parent is gone
  const ad = adapter();
  let last: (() => Message) | undefined;
  try {
    if (args.role === 'fill') await roleFill(ad, args.params);
    else if (args.role === 'worker') last = await roleWorker(ad, args.params);
    else if (args.role === 'producer') await roleProducer(ad, args.params);
    else {
      const metrics = await SCENARIOS[args.kind](ad, args.params);
      last = () => ({ type: 'result', metrics });
    }
  } finally {
    await ad.close();
  }
  if (last) await send(last());
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    await send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }).catch(() => {});
    process.exit(1);
  },
);
