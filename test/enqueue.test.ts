// Enqueueing: single and bulk, dedup by id, delay and runAt, by name, registries, middleware, priorities.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { baseBroker } from '../src/shards/broker.js';
import { ConfigError, Millrace, Registry } from '../src/index.js';
import { RedisBroker } from '../src/redis/broker.js';
import { REDIS_URL, testApp, waitFor, workers, type TestApp } from './helpers.js';

type App = Millrace<Record<string, never>>;

let t: TestApp<Record<string, never>>;
const pool = workers();
const extraApps: App[] = [];

afterEach(async () => {
  await pool.stopAll();
  await Promise.all(extraApps.splice(0).map((a) => a.close()));
  await t.cleanup();
});

/** Another "process": an app on the same prefix. */
function sameKeys(app: App): App {
  const other = new Millrace({ redis: REDIS_URL, prefix: app.prefix, logLevel: 'silent' });
  extraApps.push(other);
  return other;
}

describe('single and bulk enqueue', () => {
  it('enqueues one job and runs it', async () => {
    t = testApp({}, 'enq');
    const mul = t.app.queue('default').task('mul', async (_ctx, a: number, b: number) => a * b);
    const job = await mul.enqueue(6, 7);
    expect(job.created).toBe(true);
    expect(job.queue).toBe('default');
    expect(job.id).toMatch(/^\d+-\d+$/);
    await pool.start(t.app);
    expect(await job.result({ timeout: 5000 })).toBe(42);
  });

  it('enqueues 1,000 jobs in one call with distinct ids, all run once', async () => {
    t = testApp({}, 'enq');
    const seen = new Map<string, number>();
    const sq = t.app.queue('bulk', { concurrency: 50 }).task('sq', async (ctx, n: number) => {
      seen.set(ctx.id, (seen.get(ctx.id) ?? 0) + 1);
      return n * n;
    });
    const jobs = await sq.enqueueMany(Array.from({ length: 1000 }, (_, i) => [i] as [number]));
    expect(jobs).toHaveLength(1000);
    const ids = new Set(jobs.map((j) => j.id));
    expect(ids.size).toBe(1000);
    expect(jobs.every((j) => j.created)).toBe(true);
    await pool.start(t.app);
    await waitFor(() => seen.size === 1000, { timeout: 20_000, what: '1000 jobs run' });
    expect([...seen.keys()].sort()).toEqual([...ids].sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(await jobs[999]!.result({ timeout: 5000 })).toBe(999 * 999);
  });

  it('mixes argument lists and { args, options } items', async () => {
    t = testApp({}, 'enq');
    const echo = t.app.queue('default').task('echo', async (_ctx, s: string) => s);
    const jobs = await echo.enqueueMany([['a'], { args: ['b'], options: { id: 'echo-b' } }, { args: ['c'] }]);
    expect(jobs.map((j) => j.id)[1]).toBe('echo-b');
    await pool.start(t.app);
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual(['a', 'b', 'c']);
  });

  it('hands each job of a mixed batch its own id (auto, custom ready, custom delayed, duplicate)', async () => {
    t = testApp({}, 'enq');
    const echo = t.app.queue('default').task('echo', async (_ctx, s: string) => s);
    await echo.with({ id: 'dup' }).enqueue('first');
    const jobs = await echo.enqueueMany([
      ['a'],
      { args: ['b'], options: { id: 'ready-b' } },
      ['c'],
      { args: ['d'], options: { id: 'later-d', delay: 60_000 } },
      ['e'],
      { args: ['f'], options: { id: 'dup' } },
      ['g'],
    ]);
    expect(jobs.map((j) => j.created)).toEqual([true, true, true, true, true, false, true]);
    const auto = [jobs[0]!, jobs[2]!, jobs[4]!, jobs[6]!];
    expect(new Set(auto.map((j) => j.id)).size).toBe(4);
    expect(jobs[1]!.id).toBe('ready-b');
    expect(jobs[3]!.id).toBe('later-d');
    expect(jobs[5]!.id).toBe('dup');
    // Every id names its own job: the arguments each holds come back from it.
    expect(await jobs[3]!.status()).toBe('delayed');
    await pool.start(t.app);
    expect(await Promise.all(auto.map((j) => j.result({ timeout: 5000 })))).toEqual(['a', 'c', 'e', 'g']);
    expect(await jobs[1]!.result({ timeout: 5000 })).toBe('b');
    expect(await jobs[5]!.result({ timeout: 5000 })).toBe('first');
  });

  it('sends single enqueues made together in a few script calls (batches of 16), each with its own outcome', async () => {
    t = testApp({}, 'enq');
    const echo = t.app.queue('default').task('echo', async (_ctx, s: string) => s);
    await echo.enqueue('warm-up');
    // The script calls this app's connection sends (MONITOR on the shared Redis would see every
    // test's commands, and ioredis can fail on a monitor line that races its switch to monitoring).
    const send = vi.spyOn((baseBroker(t.app.broker) as RedisBroker).ctx.conn, 'sendCommand');
    const scriptCalls = () => send.mock.calls.filter(([cmd]) => cmd.name === 'evalsha' && String(cmd.args[2]).startsWith(`{${t.prefix}:default}`));
    try {
      const jobs = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => echo.enqueue(`s${i}`)),
        echo.with({ id: 'c1' }).enqueue('custom'),
        echo.with({ id: 'c1' }).enqueue('again'),
      ]);
      expect(scriptCalls()).toHaveLength(2); // 22 jobs: 16 sent at once, 6 at the end of the turn
      expect(new Set(jobs.map((j) => j.id)).size).toBe(21);
      expect(jobs.slice(20).map((j) => [j.id, j.created])).toEqual([['c1', true], ['c1', false]]);
      await pool.start(t.app);
      expect(await jobs[7]!.result({ timeout: 5000 })).toBe('s7');
      expect(await jobs[21]!.result({ timeout: 5000 })).toBe('custom');
    } finally {
      send.mockRestore();
    }
  });
});

describe('dedup by custom id', () => {
  it('returns the existing job and runs it once, also after it completed', async () => {
    t = testApp({}, 'enq');
    let runs = 0;
    const q = t.app.queue('default', { concurrency: 1 });
    const charge = q.task('charge', async (_ctx, amount: number) => {
      runs++;
      return amount;
    });
    const marker = q.task('marker', async () => 'done');
    const first = await charge.with({ id: 'order-17' }).enqueue(10);
    const second = await charge.with({ id: 'order-17' }).enqueue(99);
    expect(first).toMatchObject({ id: 'order-17', created: true });
    expect(second).toMatchObject({ id: 'order-17', created: false });
    await pool.start(t.app);
    expect(await second.result({ timeout: 5000 })).toBe(10);
    expect(await first.status()).toBe('completed');

    // The result is kept: the id still exists, so this is not a new job.
    const third = await charge.with({ id: 'order-17' }).enqueue(5);
    expect(third.created).toBe(false);
    // FIFO with concurrency 1: a duplicate run would happen before the marker completes.
    const m = await marker.enqueue();
    expect(await m.result({ timeout: 5000 })).toBe('done');
    expect(runs).toBe(1);
    expect(await third.result({ timeout: 1000 })).toBe(10);
  });

  it('dedups within one bulk call and tells which item was created', async () => {
    t = testApp({}, 'enq');
    let runs = 0;
    const task = t.app.queue('default').task('once', async () => ++runs);
    const jobs = await task.enqueueMany([{ args: [], options: { id: 'dup' } }, { args: [], options: { id: 'dup' } }, { args: [], options: { id: 'other' } }]);
    expect(jobs.map((j) => [j.id, j.created])).toEqual([['dup', true], ['dup', false], ['other', true]]);
    await pool.start(t.app);
    await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })));
    expect(runs).toBe(2);
  });

  it('dedups while the job is delayed', async () => {
    t = testApp({}, 'enq');
    const task = t.app.queue('default').task('later', async () => 1);
    const a = await task.with({ id: 'later-1', delay: '1m' }).enqueue();
    const b = await task.with({ id: 'later-1' }).enqueue();
    expect([a.created, b.created]).toEqual([true, false]);
    expect(await b.status()).toBe('delayed');
  });
});

describe('delay and runAt', () => {
  it('does not start a delayed job before its delay', async () => {
    t = testApp({}, 'enq');
    const started = new Map<string, number>();
    const task = t.app.queue('default').task('stamp', async (ctx) => {
      started.set(ctx.id, Date.now());
    });
    await pool.start(t.app);
    const before = Date.now();
    const job = await task.with({ delay: 1200 }).enqueue();
    expect(await job.status()).toBe('delayed');
    const now = await task.enqueue();
    await now.result({ timeout: 5000 });
    expect(started.has(job.id)).toBe(false);
    await job.result({ timeout: 5000 });
    const waited = started.get(job.id)! - before;
    expect(waited).toBeGreaterThanOrEqual(1200 - 20); // Redis and test share one clock; allow rounding
    expect(waited).toBeLessThan(1200 + 1000);
  });

  it('runs a job at runAt, not before', async () => {
    t = testApp({}, 'enq');
    let startedAt = 0;
    const task = t.app.queue('default').task('at', async (ctx) => {
      startedAt = Date.now();
      return ctx.enqueuedAt;
    });
    await pool.start(t.app);
    const runAt = new Date(Date.now() + 1000);
    const before = Date.now();
    const job = await task.with({ runAt }).enqueue();
    const info = await job.info();
    expect(info.status).toBe('delayed');
    expect(info.dueAt).toBe(runAt.getTime());
    const enqueuedAt = await job.result({ timeout: 5000 });
    expect(startedAt).toBeGreaterThanOrEqual(runAt.getTime() - 20);
    expect(startedAt).toBeLessThan(runAt.getTime() + 1000);
    expect(enqueuedAt).toBeGreaterThanOrEqual(before - 5);
  });

  it('runs a job whose runAt is already past at once', async () => {
    t = testApp({}, 'enq');
    const task = t.app.queue('default').task('past', async () => 'ran');
    const job = await task.with({ runAt: Date.now() - 60_000 }).enqueue();
    expect(await job.status()).toBe('waiting');
    await pool.start(t.app);
    expect(await job.result({ timeout: 5000 })).toBe('ran');
  });
});

describe('enqueue by name', () => {
  it('enqueues from an app that does not define the task', async () => {
    t = testApp({}, 'enq');
    t.app.queue('math').task('add', async (_ctx, a: number, b: number) => a + b);
    await pool.start(t.app);
    const web = sameKeys(t.app);
    expect(web.queues.size).toBe(0);
    const job = await web.enqueueByName<number>('add', [2, 3], { queue: 'math' });
    expect(job.queue).toBe('math');
    expect(await job.result({ timeout: 5000 })).toBe(5);
    const high = await web.enqueueByName('add', [1, 1], { queue: 'math', priority: 'high', id: 'by-name-1' });
    expect(high.id).toBe('by-name-1');
    expect(await high.result({ timeout: 5000 })).toBe(2);
  });

  it('reaches a queue with custom priority levels from an app that does not define it', async () => {
    t = testApp({}, 'enq');
    t.app.queue('tiers', { priorities: ['bulk', 'interactive'] }).task('tier', async (_ctx, s: string) => s);
    await pool.start(t.app);
    const web = sameKeys(t.app);
    const plain = await web.enqueueByName('tier', ['plain'], { queue: 'tiers' });
    expect(await plain.result({ timeout: 2000 })).toBe('plain');
    const urgent = await web.enqueueByName('tier', ['urgent'], { queue: 'tiers', priority: 'interactive' });
    expect(await urgent.result({ timeout: 2000 })).toBe('urgent');
  });

  it('finds the queue of a task the app defines', async () => {
    t = testApp({}, 'enq');
    t.app.queue('other').task('hello', async (_ctx, who: string) => `hello ${who}`);
    const job = await t.app.enqueueByName('hello', ['you']);
    expect(job.queue).toBe('other');
    await pool.start(t.app);
    expect(await job.result({ timeout: 5000 })).toBe('hello you');
  });
});

describe('registries', () => {
  it('runs tasks of a registry included in the app', async () => {
    t = testApp({}, 'enq');
    const mail = new Registry<Record<string, never>>();
    const send = mail.queue('mail').task('send', async (_ctx, to: string) => `sent to ${to}`);
    const billing = new Registry<Record<string, never>>();
    const bill = billing.queue('default').task('bill', async (_ctx, n: number) => n + 1);
    await expect(send.enqueue('x')).rejects.toBeInstanceOf(ConfigError);
    const local = t.app.queue('default').task('local', async () => 'local');
    t.app.include(mail).include(billing);
    expect(t.app.taskNamed('send')).toBe(send);
    expect([...t.app.queues.get('default')!.tasks.keys()].sort()).toEqual(['bill', 'local']);
    await pool.start(t.app);
    const jobs = [await send.enqueue('ann'), await bill.enqueue(1), await local.enqueue()];
    expect(jobs.map((j) => j.queue)).toEqual(['mail', 'default', 'default']);
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual(['sent to ann', 2, 'local']);
  });
});

describe('enqueue middleware', () => {
  it('sees every job of a call and can change arguments', async () => {
    t = testApp({}, 'enq');
    const calls: { task: string; queue: string; args: unknown[]; priority: string | undefined }[][] = [];
    t.app.use({
      async enqueue(jobs, next) {
        calls.push(jobs.map((j) => ({ task: j.task, queue: j.queue, args: j.args, priority: j.options.priority })));
        return next(jobs.map((j) => (j.task === 'add' ? { ...j, args: [(j.args[0] as number) * 10, j.args[1]] } : j)));
      },
    });
    const add = t.app.queue('default').task('add', async (_ctx, a: number, b: number) => a + b);
    const one = await add.with({ priority: 'high' }).enqueue(1, 2);
    const many = await add.enqueueMany([[2, 0], [3, 0]]);
    const byName = await t.app.enqueueByName('add', [4, 0]);
    expect(calls).toEqual([
      [{ task: 'add', queue: 'default', args: [1, 2], priority: 'high' }],
      [{ task: 'add', queue: 'default', args: [2, 0], priority: undefined }, { task: 'add', queue: 'default', args: [3, 0], priority: undefined }],
      [{ task: 'add', queue: 'default', args: [4, 0], priority: undefined }],
    ]);
    await pool.start(t.app);
    expect(await one.result({ timeout: 5000 })).toBe(12);
    expect(await Promise.all(many.map((j) => j.result({ timeout: 5000 })))).toEqual([20, 30]);
    expect(await byName.result({ timeout: 5000 })).toBe(40);
  });

  it('can stop an enqueue by throwing', async () => {
    t = testApp({}, 'enq');
    t.app.use({
      async enqueue(jobs, next) {
        if (jobs.some((j) => j.args[0] === 'forbidden')) throw new Error('blocked by policy');
        return next(jobs);
      },
    });
    const task = t.app.queue('default').task('t', async (_ctx, s: string) => s);
    await expect(task.enqueue('forbidden')).rejects.toThrow('blocked by policy');
    expect(await t.app.listJobs('default', 'waiting')).toEqual([]);
  });
});

describe('priorities', () => {
  it('runs all high jobs before all low ones at concurrency 1', async () => {
    t = testApp({}, 'enq');
    const order: string[] = [];
    const task = t.app.queue('prio').task('p', async (_ctx, level: string) => {
      order.push(level);
    });
    const low = await task.enqueueMany(Array.from({ length: 20 }, () => ({ args: ['low'] as [string], options: { priority: 'low' } })));
    const high = await task.enqueueMany(Array.from({ length: 20 }, () => ({ args: ['high'] as [string], options: { priority: 'high' } })));
    expect((await high[0]!.info()).priority).toBe('high');
    expect((await low[0]!.info()).priority).toBe('low');
    await pool.start(t.app, { concurrency: 1 });
    await waitFor(() => order.length === 40, { what: '40 jobs run' });
    expect(order).toEqual([...Array(20).fill('high'), ...Array(20).fill('low')]);
  });

  it('uses the task default priority and the queue levels', async () => {
    t = testApp({}, 'enq');
    const q = t.app.queue('custom', { priorities: ['bulk', 'interactive'], defaultPriority: 'bulk' });
    const order: string[] = [];
    const slow = q.task('slow', async () => void order.push('slow'));
    const fast = q.task('fast', async () => void order.push('fast'), { priority: 'interactive' });
    const jobs = [...(await slow.enqueueMany([[], [], []])), ...(await fast.enqueueMany([[], []]))];
    expect((await jobs[0]!.info()).priority).toBe('bulk');
    expect((await jobs[4]!.info()).priority).toBe('interactive');
    await pool.start(t.app, { concurrency: 1 });
    await waitFor(() => order.length === 5, { what: '5 jobs run' });
    expect(order).toEqual(['fast', 'fast', 'slow', 'slow', 'slow']);
  });
});
