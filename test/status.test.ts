// Status, info, find, list, abort and unschedule by id, also from another app instance.

import { afterEach, describe, expect, it } from 'vitest';
import { JobNotFoundError, Millrace, Retry } from '../src/index.js';
import { REDIS_URL, testApp, waitFor, workers, type TestApp } from './helpers.js';

type App = Millrace<Record<string, never>>;

let t: TestApp<Record<string, never>>;
const pool = workers();
const extraApps: App[] = [];
const gates: (() => void)[] = [];

afterEach(async () => {
  for (const open of gates.splice(0)) open();
  await pool.stopAll();
  await Promise.all(extraApps.splice(0).map((a) => a.close()));
  await t.cleanup();
});

/** A promise the test opens when it wants a blocked task to finish. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  gates.push(open);
  return { wait, open };
}

/** Another "process" on the same keys that defines no tasks. */
function otherProcess(): App {
  const app = new Millrace({ redis: REDIS_URL, prefix: t.prefix, logLevel: 'silent' });
  extraApps.push(app);
  return app;
}

function setup() {
  t = testApp({}, 'status');
  const ran: string[] = [];
  const q = t.app.queue('default', { concurrency: 1 });
  const echo = q.task('echo', async (ctx, s: string, n: number) => {
    ran.push(ctx.id);
    return `${s}${n}`;
  });
  return { q, echo, ran };
}

describe('status and info across states', () => {
  it('waiting, delayed, then completed', async () => {
    const { echo } = setup();
    const before = Date.now();
    const waiting = await echo.with({ priority: 'high' }).enqueue('a', 1);
    const delayed = await echo.with({ delay: '1m', id: 'later' }).enqueue('b', 2);
    expect(await waiting.status()).toBe('waiting');
    expect(await delayed.status()).toBe('delayed');
    const w = await waiting.info();
    expect(w).toMatchObject({ id: waiting.id, queue: 'default', status: 'waiting', task: 'echo', args: ['a', 1], priority: 'high', attempts: 0, worker: undefined, dueAt: undefined });
    expect(w.enqueuedAt).toBeGreaterThanOrEqual(before - 5);
    const d = await delayed.info();
    expect(d).toMatchObject({ status: 'delayed', task: 'echo', args: ['b', 2], priority: 'normal', attempts: 0 });
    expect(d.dueAt).toBeGreaterThanOrEqual(before + 60_000 - 50);
    expect(d.dueAt).toBeLessThan(Date.now() + 60_000 + 1000);

    const worker = await pool.start(t.app);
    expect(await waiting.result({ timeout: 5000 })).toBe('a1');
    const c = await waiting.info();
    expect(c).toMatchObject({ status: 'completed', task: 'echo', attempts: 1, worker: worker.id, result: 'a1', error: undefined });
    expect(c.finishedAt).toBeGreaterThanOrEqual(c.startedAt!);
  });

  it('active while the task is blocked', async () => {
    const { q } = setup();
    const g = gate();
    const started: string[] = [];
    const block = q.task('block', async (ctx) => {
      started.push(ctx.id);
      await g.wait;
      return 'released';
    });
    const job = await block.enqueue();
    const worker = await pool.start(t.app);
    await waitFor(() => started.length === 1, { what: 'job started' });
    expect(await job.status()).toBe('active');
    expect(await job.info()).toMatchObject({ status: 'active', task: 'block', worker: worker.id, deliveries: 1, attempts: 0, abortRequested: false });
    const active = await t.app.listJobs('default', 'active');
    expect(active).toEqual([expect.objectContaining({ id: job.id, state: 'active', owner: worker.id })]);
    g.open();
    expect(await job.result({ timeout: 5000 })).toBe('released');
    expect(await job.status()).toBe('completed');
  });

  it('failed, with the error in info', async () => {
    const { q } = setup();
    const bad = q.task('bad', async () => {
      throw new TypeError('broken input');
    }, { maxTries: 1 });
    const job = await bad.enqueue();
    await pool.start(t.app);
    await waitFor(async () => (await job.status()) === 'failed', { what: 'failed' });
    const info = await job.info();
    expect(info).toMatchObject({ status: 'failed', task: 'bad', attempts: 1, result: undefined });
    expect(info.error).toMatchObject({ name: 'TypeError', message: 'broken input' });
  });

  it('a retry waiting for its backoff is delayed, with its last error', async () => {
    const { q } = setup();
    const flaky = q.task('flaky', async () => {
      throw new Retry('1m', 'not yet');
    }, { maxTries: 3 });
    const job = await flaky.enqueue();
    await pool.start(t.app);
    await waitFor(async () => (await job.status()) === 'delayed', { what: 'retry scheduled' });
    const info = await job.info();
    expect(info).toMatchObject({ status: 'delayed', task: 'flaky', attempts: 1 });
    expect(info.lastError).toContain('not yet');
    expect(info.dueAt).toBeGreaterThan(Date.now() + 50_000);
  });

  it('unknown ids', async () => {
    setup();
    const job = t.app.job('default', '1-0');
    expect(await job.status()).toBe('unknown');
    await expect(job.info()).rejects.toBeInstanceOf(JobNotFoundError);
    expect(await t.app.job('default', 'no-such-id').status()).toBe('unknown');
    expect(await job.abort()).toBe('not_found');
    expect(await job.unschedule()).toBe(false);
    expect(await t.app.findJob('no-such-id')).toBeUndefined();
  });
});

describe('from another process', () => {
  it('app.job and findJob see the same status and info', async () => {
    const { echo, q } = setup();
    const other = otherProcess();
    const g = gate();
    let started = false;
    const block = q.task('block', async () => {
      started = true;
      await g.wait;
      return 1;
    });
    const done = await echo.enqueue('x', 1);
    const blocked = await block.enqueue();
    const custom = await echo.with({ id: 'custom-1' }).enqueue('y', 2);
    const delayed = await echo.with({ delay: '1m' }).enqueue('z', 3);
    expect(await other.job('default', custom.id).status()).toBe('waiting');
    expect(await other.job('default', delayed.id).status()).toBe('delayed');
    expect((await other.job('default', custom.id).info()).args).toEqual(['y', 2]);
    const worker = await pool.start(t.app);
    await done.result({ timeout: 5000 });
    await waitFor(() => started, { what: 'blocked job started' });
    expect(await other.job('default', done.id).status()).toBe('completed');
    expect(await other.job('default', blocked.id).status()).toBe('active');
    expect((await other.job('default', blocked.id).info()).worker).toBe(worker.id);
    expect(await other.job<string>('default', done.id).result({ timeout: 1000 })).toBe('x1');

    const found = await other.findJob(blocked.id);
    expect(found?.queue).toBe('default');
    expect(await found?.status()).toBe('active');
    expect((await other.findJob('custom-1'))?.queue).toBe('default');
    g.open();
  });

  it('findJob looks through every queue', async () => {
    t = testApp({}, 'status');
    const a = t.app.queue('alpha').task('a', async () => 1);
    const b = t.app.queue('beta').task('b', async () => 2);
    await a.enqueue();
    const jb = await b.with({ id: 'in-beta' }).enqueue();
    expect((await t.app.findJob(jb.id))?.queue).toBe('beta');
    expect((await otherProcess().findJob('in-beta'))?.queue).toBe('beta');
    // An id is unique within a queue only: findJobs names every queue holding one.
    await a.with({ id: 'in-beta' }).enqueue();
    expect((await t.app.findJobs('in-beta')).map((j) => j.queue)).toEqual(['alpha', 'beta']);
    expect(await t.app.findJobs('nowhere')).toEqual([]);
  });
});

describe('listJobs', () => {
  it('lists waiting, delayed, active and completed jobs', async () => {
    const { echo, q } = setup();
    const g = gate();
    let started = false;
    const block = q.task('block', async () => {
      started = true;
      await g.wait;
    }, { priority: 'critical' });
    const w1 = await echo.enqueue('a', 1);
    const w2 = await echo.with({ id: 'w2', priority: 'low' }).enqueue('b', 2);
    const d1 = await echo.with({ delay: '1m' }).enqueue('c', 3);
    const blocked = await block.enqueue();
    const waiting = await t.app.listJobs('default', 'waiting');
    expect(waiting.map((j) => j.id).sort()).toEqual([w1.id, w2.id, blocked.id].sort());
    expect(waiting.find((j) => j.id === 'w2')?.level).toBe(0);
    const delayed = await t.app.listJobs('default', 'delayed');
    expect(delayed).toEqual([expect.objectContaining({ id: d1.id, state: 'delayed', level: 1 })]);
    expect(delayed[0]!.dueAt).toBeGreaterThan(Date.now() + 50_000);

    // concurrency 1, critical first: the blocking job runs while the others wait.
    const worker = await pool.start(t.app, { prefetch: 0 });
    await waitFor(() => started, { what: 'blocked job started' });
    expect((await t.app.listJobs('default', 'active')).map((j) => [j.id, j.owner])).toEqual([[blocked.id, worker.id]]);
    expect((await t.app.listJobs('default', 'waiting')).map((j) => j.id).sort()).toEqual([w1.id, w2.id].sort());
    g.open();
    await w1.result({ timeout: 5000 });
    await w2.result({ timeout: 5000 });
    await waitFor(async () => (await t.app.listJobs('default', 'completed')).length === 3, { what: '3 completed' });
    expect((await t.app.listJobs('default', 'completed')).map((j) => j.id).sort()).toEqual([w1.id, w2.id, blocked.id].sort());
    expect(await t.app.listJobs('default', 'waiting')).toEqual([]);
    expect(await t.app.listJobs('default', 'completed', 2)).toHaveLength(2);
  });
});

describe('unschedule and abort', () => {
  it('unschedule removes a delayed job, which never runs', async () => {
    const { echo, ran } = setup();
    const job = await echo.with({ delay: 300 }).enqueue('never', 0);
    expect(await job.unschedule()).toBe(true);
    expect(await job.unschedule()).toBe(false);
    expect(await job.status()).toBe('unknown');
    const marker = await echo.with({ delay: 500 }).enqueue('marker', 0);
    await pool.start(t.app);
    await marker.result({ timeout: 5000 });
    expect(ran).toEqual([marker.id]);
    expect(await t.app.listJobs('default', 'delayed')).toEqual([]);
  });

  it('unschedule leaves a waiting job alone', async () => {
    const { echo } = setup();
    const job = await echo.enqueue('x', 1);
    expect(await job.unschedule()).toBe(false);
    expect(await job.status()).toBe('waiting');
  });

  it('abort of a waiting job: aborted, never runs', async () => {
    const { echo, ran } = setup();
    const plain = await echo.enqueue('plain', 1);
    const custom = await echo.with({ id: 'abort-me' }).enqueue('custom', 2);
    const marker = await echo.enqueue('marker', 3);
    expect(await plain.abort()).toBe('aborted');
    expect(await otherProcess().job('default', custom.id).abort()).toBe('aborted');
    expect(await plain.status()).toBe('aborted');
    expect(await custom.status()).toBe('aborted');
    expect((await custom.info()).error).toMatchObject({ name: 'JobAbortedError' });
    await pool.start(t.app);
    await marker.result({ timeout: 5000 });
    expect(ran).toEqual([marker.id]);
    expect(await plain.abort()).toBe('finished');
    expect(await marker.abort()).toBe('finished');
  });

  it('abort of a delayed job: aborted, never runs', async () => {
    const { echo, ran } = setup();
    const job = await echo.with({ delay: 300 }).enqueue('never', 0);
    expect(await job.abort()).toBe('aborted');
    expect(await job.status()).toBe('aborted');
    expect(await t.app.listJobs('default', 'delayed')).toEqual([]);
    const marker = await echo.with({ delay: 500 }).enqueue('marker', 0);
    await pool.start(t.app);
    await marker.result({ timeout: 5000 });
    expect(ran).toEqual([marker.id]);
    expect(await job.status()).toBe('aborted');
  });

  it('abort of a running job reaches its signal', async () => {
    const { q } = setup();
    let started = false;
    let sawAbort = false;
    const task = q.task('long', async (ctx) => {
      started = true;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = true;
      return 'stopped';
    });
    const job = await task.enqueue();
    await pool.start(t.app);
    await waitFor(() => started, { what: 'job started' });
    expect(await otherProcess().job('default', job.id).abort()).toBe('aborting');
    await waitFor(() => sawAbort, { timeout: 1500, what: 'signal aborted' });
    await waitFor(async () => (await job.status()) === 'aborted', { what: 'status aborted' });
  });
});
