// The memory broker and the testing kit, timed: 10,000 enqueue+complete cycles through the real
// worker, a test app's start, and jobs far in the future (a 24 h delay, a retry after a long
// backoff, a cron tick) run under clock.advance. Medians of several runs, wall-clock ms.
//
//   npm run bench:memory [-- --runs 7 --jobs 10000]   (builds dist/ and times it, not the source)

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Millrace } from '../dist/index.js';
import { createTestApp } from '../dist/testing/index.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, jobs: { type: 'string', default: '10000' } } });
const RUNS = Number(values.runs);
const JOBS = Number(values.jobs);
const START = Date.UTC(2030, 0, 1);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

type Enqueue = 'calls in a loop' | 'calls at once' | 'one enqueueMany';

/**
 * JOBS jobs enqueued (one awaited call after another, all calls at once, or one bulk call), then
 * run to completion by the kit's worker: in fake mode after the enqueues (drain), in live mode
 * while they come.
 */
async function cycles(how: Enqueue, mode: 'fake' | 'live'): Promise<number> {
  const app = new Millrace({ logLevel: 'silent', events: false });
  const add = app.queue('q', { concurrency: 100 }).task('add', async (_ctx, a: number, b: number) => a + b, { resultTtl: 0 });
  const t = await createTestApp(app, { now: START, mode });
  try {
    return await time(async () => {
      if (how === 'one enqueueMany') await add.enqueueMany(Array.from({ length: JOBS }, (_, i) => [i, 1] as [number, number]));
      else if (how === 'calls at once') await Promise.all(Array.from({ length: JOBS }, (_, i) => add.enqueue(i, 1)));
      else for (let i = 0; i < JOBS; i++) await add.enqueue(i, 1);
      await t.drain({ maxJobs: JOBS * 2 });
      if ((await t.inspector.counts(app.queues.get('q')!)).waiting.normal !== 0) throw new Error('jobs left');
    });
  } finally {
    await t.close();
  }
}

/** createTestApp on an app of a few queues and tasks, and its first job through run(). */
async function startup(): Promise<{ create: number; firstRun: number; close: number }> {
  const app = new Millrace({ logLevel: 'silent' });
  for (const name of ['emails', 'billing', 'reports']) {
    const q = app.queue(name, { priorities: ['low', 'normal', 'high'] });
    for (let i = 0; i < 5; i++) q.task(`${name}_${i}`, async (_ctx, n: number) => n * 2);
  }
  const task = app.queues.get('emails')!.tasks.get('emails_0')! as unknown as Parameters<Awaited<ReturnType<typeof createTestApp>>['run']>[0];
  let t!: Awaited<ReturnType<typeof createTestApp>>;
  const create = await time(async () => {
    t = await createTestApp(app, { now: START });
  });
  const firstRun = await time(async () => {
    await t.run(task, 21);
  });
  const close = await time(() => t.close());
  return { create, firstRun, close };
}

/** A job delayed 24 h, a retry after a 6 h backoff, and a daily cron tick, each run by advancing the clock. */
async function farFuture(): Promise<{ delay24h: number; retry6h: number; cronDaily: number }> {
  const app = new Millrace({ logLevel: 'silent' });
  const q = app.queue('q');
  let calls = 0;
  const later = q.task('later', async () => 'done');
  const flaky = q.task('flaky', async () => {
    if (++calls === 1) throw new Error('first try fails');
    return calls;
  }, { maxTries: 2, backoff: { type: 'fixed', base: '6h', max: '6h', jitter: false } });
  const daily = q.task('daily', async () => 'tick');
  app.cron('0 3 * * *', daily, { name: 'nightly' });
  const t = await createTestApp(app, { now: START + 60_000, mode: 'live' });
  try {
    const job = await later.with({ delay: '24h' }).enqueue();
    const delay24h = await time(async () => {
      await t.clock.advance('24h');
      await t.waitFor(job, 'completed');
    });
    const retrying = await flaky.enqueue();
    await t.drain();
    const retry6h = await time(async () => {
      await t.clock.advance('6h');
      await t.waitFor(retrying, 'completed');
    });
    // Next 03:00 tick from now.
    const now = t.clock.now();
    const next = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + (new Date(now).getUTCHours() >= 3 ? 1 : 0), 3);
    const cronDaily = await time(async () => {
      await t.clock.advance(next - now);
      await t.waitFor(app.job('q', `cron:nightly:${next}`), 'completed');
    });
    return { delay24h, retry6h, cronDaily };
  } finally {
    await t.close();
  }
}

const rows: Record<string, number[]> = {};
const add = (k: string, v: number) => (rows[k] ??= []).push(v);
await cycles('calls in a loop', 'fake'); // warm-up
for (let i = 0; i < RUNS; i++) {
  for (const how of ['calls in a loop', 'calls at once', 'one enqueueMany'] as const) {
    for (const mode of ['fake', 'live'] as const) add(`${JOBS} enqueue+complete, ${how}, ${mode} mode`, await cycles(how, mode));
  }
  const s = await startup();
  add('createTestApp (3 queues, 15 tasks)', s.create);
  add("first t.run() (starts the kit's worker)", s.firstRun);
  add('t.close()', s.close);
  const f = await farFuture();
  add('24 h delayed job: advance + completed', f.delay24h);
  add('retry after a 6 h backoff: advance + completed', f.retry6h);
  add('daily cron tick: advance + completed', f.cronDaily);
}
console.log(`millrace memory broker, node ${process.version}, medians of ${RUNS} runs (ms of wall time)\n`);
const width = Math.max(...Object.keys(rows).map((k) => k.length));
for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(width)}  ${median(v).toFixed(2).padStart(8)}   (min ${Math.min(...v).toFixed(2)}, max ${Math.max(...v).toFixed(2)})`);
