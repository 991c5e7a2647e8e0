// Fair groups measured (issue 16, docs/flow-control.md#fair-groups): a queue of 1,000 groups,
// one holding 1,000,000 jobs and the others a few each, drained by two workers (concurrency 50
// each, in this process) at full speed; meanwhile a producer enqueues one job to a random small
// group every 5 ms, for WINDOW s or until the huge group is drained. Measured: the small
// groups' pickup latency under that steady load (enqueue to start, p50/p99/max: the target is
// p99 <= 50 ms), the drain rate of the huge group's jobs, and the same run on a plain queue (no
// groups: the small jobs wait behind the backlog) for the cost of the turns; and
// Redis memory per job waiting in a group (used_memory before and after the enqueue). On a
// redis-server of the bench's own (a free port, a temp dir, no persistence, stopped at the
// end; the shared Redis is never touched).
//
//   npm run bench:groups                 # 1,000,000 jobs in the huge group, 20 s window, 3 runs
//   npm run bench:groups -- --quick      # 100,000 jobs, 8 s, 1 run
//
// Writes bench/results/groups-<date>.json (groups-quick-<date>.json with --quick).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Millrace } from '../src/index.js';
import { RedisServer } from '../support/redis-server.js';
import { median } from './report.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, runs: { type: 'string' } } });
const QUICK = values.quick;
const HUGE = QUICK ? 300_000 : 1_000_000;
const WINDOW = QUICK ? 5 : 20;
const RUNS = Number(values.runs ?? (QUICK ? 1 : 3));
const SMALL_GROUPS = 999;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;

interface Run {
  grouped: boolean;
  smallJobs: number;
  pickupP50Ms: number;
  pickupP99Ms: number;
  pickupMaxMs: number;
  drainPerS: number;
  bytesPerWaitingJob: number;
}

async function usedMemory(server: RedisServer): Promise<number> {
  const c = server.client();
  const info = await c.info('memory');
  c.disconnect();
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function once(server: RedisServer, run: number, grouped: boolean): Promise<Run> {
  const prefix = `groups${run}${grouped ? 'g' : 'p'}`;
  const app = new Millrace({ redis: server.url, prefix, logLevel: 'silent', events: false });
  const q = app.queue('reports', { concurrency: 50, resultTtl: 'none', ...(grouped && { groups: {} }) });
  let drained = 0;
  let drainedAt = 0;
  const pickups: number[] = [];
  const report = q.task('report', async (_ctx, sentAt: number) => {
    if (sentAt === 0) {
      if (++drained === HUGE) drainedAt = Date.now();
    } else if (sentAt > 0) pickups.push(Date.now() - sentAt);
  });
  const before = await usedMemory(server);
  const opts = (group: string) => (grouped ? { group } : {});
  for (let i = 0; i < HUGE; i += 10_000) await report.enqueueMany(Array.from({ length: Math.min(10_000, HUGE - i) }, () => ({ args: [0] as [number], options: opts('huge') })));
  for (let g = 0; g < SMALL_GROUPS; g++) await report.enqueueMany([-1, -1, -1].map((n) => ({ args: [n] as [number], options: opts(`small${g}`) })));
  const bytes = (await usedMemory(server)) - before;
  const workers = [app.worker({ handleSignals: false, healthFile: false }), app.worker({ handleSignals: false, healthFile: false })];
  const t0 = Date.now();
  for (const w of workers) await w.start();
  await sleep(1000); // the small groups' first jobs are served; steady from here
  // The producer: a job to a random small group every 5 ms, while the huge backlog lasts.
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < WINDOW * 1000 && drained < HUGE) {
    await report.with(opts(`small${Math.floor(Math.random() * SMALL_GROUPS)}`)).enqueue(Date.now());
    sent++;
    await sleep(5);
  }
  // Every small job sent is picked up (behind the backlog, on a plain queue), within a bound.
  for (const until = Date.now() + 120_000; pickups.length < sent && Date.now() < until;) await sleep(50);
  const drainPerS = Math.min(drained, HUGE) / (((drainedAt || Date.now()) - t0) / 1000);
  for (const w of workers) await w.stop({ grace: 1000 });
  await app.close();
  const flush = server.client();
  await flush.flushall();
  flush.disconnect();
  return {
    grouped, smallJobs: sent, pickupP50Ms: pct(pickups, 50), pickupP99Ms: pct(pickups, 99), pickupMaxMs: Math.max(...pickups),
    drainPerS: Math.round(drainPerS), bytesPerWaitingJob: Math.round(bytes / (HUGE + 3 * SMALL_GROUPS)),
  };
}

const server = await RedisServer.start({ dirPrefix: 'millrace-bench-groups-' });
const results: Run[] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    for (const grouped of [true, false]) {
      const r = await once(server, run, grouped);
      results.push(r);
      console.log(`run ${run + 1}/${RUNS}, ${grouped ? 'grouped' : 'plain  '}: small jobs ${r.smallJobs}, pickup p50 ${r.pickupP50Ms} ms, p99 ${r.pickupP99Ms} ms, max ${r.pickupMaxMs} ms; drain ${r.drainPerS} jobs/s; ${r.bytesPerWaitingJob} B per waiting job`);
    }
  }
} finally {
  await server.stop();
}
const of = (grouped: boolean) => results.filter((r) => r.grouped === grouped);
const g = of(true);
const p = of(false);
console.log(`grouped: median pickup p99 ${median(g.map((r) => r.pickupP99Ms))} ms (target <= 50 ms), p50 ${median(g.map((r) => r.pickupP50Ms))} ms; drain ${median(g.map((r) => r.drainPerS))} jobs/s = ${(median(g.map((r) => r.drainPerS)) / median(p.map((r) => r.drainPerS))).toFixed(2)}x plain; ${median(g.map((r) => r.bytesPerWaitingJob))} B per waiting job (plain ${median(p.map((r) => r.bytesPerWaitingJob))} B)`);
console.log(`plain queue (FIFO): a small job's pickup p50 ${median(p.map((r) => r.pickupP50Ms))} ms, p99 ${median(p.map((r) => r.pickupP99Ms))} ms (behind the backlog)`);
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const base = `groups-${QUICK ? 'quick-' : ''}${new Date().toISOString().slice(0, 10)}`;
let path = join(dir, `${base}.json`);
for (let n = 2; existsSync(path); n++) path = join(dir, `${base}-${n}.json`);
mkdirSync(dir, { recursive: true });
writeFileSync(path, `${JSON.stringify({ date: new Date().toISOString(), huge: HUGE, smallGroups: SMALL_GROUPS, window: WINDOW, runs: RUNS, nproc: cpus().length, results }, null, 2)}\n`);
console.log(`results: ${path}`);
