// The cost of durable enqueue (`durability: { replicas: 1 }`): the same enqueues with and
// without it, against a master and one replica of the bench's own (redis-server on free ports,
// no persistence, flushed between runs; the shared Redis is never touched). Medians of several
// runs, alternating plain and durable within each run.
//
//   npm run bench:durable [-- --runs 7 --jobs 10000 --singles 2000]
//
// Scenarios: one enqueueMany of `jobs` jobs (one script call, one WAIT); the same jobs as
// enqueueMany calls of 1,000 awaited one after another (a WAIT each); `singles` enqueue() calls
// awaited one after another (the added latency per call, against one replica round trip
// measured alone: SET then WAIT on a plain connection, minus SET alone); `jobs` enqueue() calls
// at once (coalesced: one WAIT per batch).

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { Millrace } from '../src/index.js';
import { RedisServer } from '../support/redis-server.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, jobs: { type: 'string', default: '10000' }, singles: { type: 'string', default: '2000' } },
});
const RUNS = Number(values.runs);
const JOBS = Number(values.jobs);
const SINGLES = Number(values.singles);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Mode = 'plain' | 'durable';
interface Scenario {
  name: string;
  unit: string;
  /** The measured value of one run (higher is better for jobs/s, lower for µs). */
  run(app: Millrace, mode: Mode): Promise<number>;
}

function taskOf(app: Millrace) {
  return app.queue('q', { concurrency: 100 }).task('add', async (_ctx, a: number, b: number) => a + b);
}

const scenarios: Scenario[] = [
  {
    name: `one enqueueMany of ${JOBS.toLocaleString('en')}`,
    unit: 'jobs/s',
    async run(app) {
      const add = taskOf(app);
      await add.enqueue(0, 0);
      const ms = await time(() => add.enqueueMany(Array.from({ length: JOBS }, (_, i) => [i, 1] as [number, number])));
      return JOBS / (ms / 1000);
    },
  },
  {
    name: `enqueueMany of 1,000 × ${JOBS / 1000}, awaited in turn`,
    unit: 'jobs/s',
    async run(app) {
      const add = taskOf(app);
      await add.enqueue(0, 0);
      const ms = await time(async () => {
        for (let c = 0; c < JOBS / 1000; c++) await add.enqueueMany(Array.from({ length: 1000 }, (_, i) => [i, c] as [number, number]));
      });
      return JOBS / (ms / 1000);
    },
  },
  {
    name: `${SINGLES.toLocaleString('en')} enqueue() awaited one after another`,
    unit: 'µs per call',
    async run(app) {
      const add = taskOf(app);
      for (let i = 0; i < 50; i++) await add.enqueue(i, 0); // warm
      const ms = await time(async () => {
        for (let i = 0; i < SINGLES; i++) await add.enqueue(i, 1);
      });
      return (ms * 1000) / SINGLES;
    },
  },
  {
    name: `${JOBS.toLocaleString('en')} enqueue() at once (coalesced)`,
    unit: 'jobs/s',
    async run(app) {
      const add = taskOf(app);
      await add.enqueue(0, 0);
      const ms = await time(() => Promise.all(Array.from({ length: JOBS }, (_, i) => add.enqueue(i, 1))));
      return JOBS / (ms / 1000);
    },
  },
];

/** One replica round trip as the server sees it: SET then WAIT 1 on one connection, minus SET alone (µs, medians). */
async function replicaRoundTrip(c: Redis): Promise<{ set: number; setWait: number }> {
  const set: number[] = [];
  const setWait: number[] = [];
  for (let i = 0; i < 2000; i++) {
    let t0 = performance.now();
    await c.set('rt', i);
    set.push((performance.now() - t0) * 1000);
    t0 = performance.now();
    await c.set('rt', i);
    const acked = await c.wait(1, 1000);
    setWait.push((performance.now() - t0) * 1000);
    if (acked !== 1) throw new Error('the replica did not acknowledge');
  }
  await c.del('rt');
  return { set: median(set), setWait: median(setWait) };
}

async function main(): Promise<void> {
  const master = await RedisServer.start({ dirPrefix: 'millrace-bench-durable-', extraArgs: ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'] });
  const replica = await RedisServer.start({ dirPrefix: 'millrace-bench-durable-', extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
  const admin = master.client();
  try {
    await until('the replica online', async () => /slave0:.*state=online/.test(await admin.info('replication')));
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1];
    console.log(`master :${master.port}, replica :${replica.port}, Redis ${version}, node ${process.version}, ${RUNS} runs\n`);
    const rt = await replicaRoundTrip(admin);
    const results = new Map<string, Record<Mode, number[]>>();
    // Run 0 warms the process up (JIT, connections, script cache) and is not counted.
    for (let r = 0; r <= RUNS; r++) {
      // Alternate which mode goes first, so a drifting machine favours neither.
      const modes: Mode[] = r % 2 === 0 ? ['plain', 'durable'] : ['durable', 'plain'];
      for (const s of scenarios) {
        for (const mode of modes) {
          await admin.flushall();
          const app = new Millrace({
            redis: master.url, prefix: 'bench', logLevel: 'silent',
            durability: mode === 'durable' ? { replicas: 1, timeout: '5s' } : false,
          });
          try {
            const v = await s.run(app, mode);
            const row = results.get(s.name) ?? { plain: [], durable: [] };
            if (r > 0) row[mode].push(v);
            results.set(s.name, row);
          } finally {
            await app.close();
          }
        }
      }
      process.stdout.write(r === 0 ? 'warm-up run done\n' : `run ${r}/${RUNS} done\n`);
    }
    console.log('\n| scenario | unit | plain | durable (replicas: 1) | durable / plain |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const s of scenarios) {
      const row = results.get(s.name)!;
      const p = median(row.plain);
      const d = median(row.durable);
      const fmt = (v: number) => (s.unit === 'jobs/s' ? Math.round(v).toLocaleString('en') : v.toFixed(1));
      const ratio = s.unit === 'jobs/s' ? `${((d / p) * 100).toFixed(1)} %` : `+${(d - p).toFixed(1)} µs`;
      console.log(`| ${s.name} | ${s.unit} | ${fmt(p)} | ${fmt(d)} | ${ratio} |`);
    }
    console.log(`\na WAIT after a write, alone (plain ioredis, medians of 2,000): SET ${rt.set.toFixed(1)} µs, SET + WAIT 1 ${rt.setWait.toFixed(1)} µs: WAIT adds ${(rt.setWait - rt.set).toFixed(1)} µs`);
  } finally {
    admin.disconnect();
    await replica.stop();
    await master.stop();
  }
}

await main();
