// What the inspector and job handles report stays true after every transition: counts after
// an aborted waiting job, a burst worker that exits on an empty queue, a finished job's info
// with its arguments, priority and enqueue time, and listings that reject an unknown status.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/index.js';
import { testApp, waitFor, workers, type TestApp } from './helpers.js';

const tracker = workers({ healthFile: false });

describe('truthful state', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(async () => {
    await tracker.stopAll();
    await t.cleanup();
  });

  it('counts no waiting job after a waiting job is aborted, once the group has read from the stream', async () => {
    t = testApp({}, 'counts');
    const q = t.app.queue('q');
    const task = q.task('t', async () => 'ok');
    // The group reads once (the lag bookkeeping of Redis 7.0 starts), then the worker stops.
    const worker = await tracker.start(t.app);
    await (await task.enqueue()).result({ timeout: 5000 });
    await worker.stop();
    const job = await task.enqueue();
    expect((await t.app.inspector.counts(q)).waiting.normal).toBe(1);
    expect(await job.abort()).toBe('aborted');
    expect(await t.app.inspector.counts(q)).toMatchObject({ waiting: { normal: 0 }, active: 0, delayed: 0 });
    // A burst worker sees the queue empty and stops by itself.
    const burst = await tracker.start(t.app, { burst: true });
    await waitFor(() => burst.status === 'stopped', { timeout: 5000, what: 'the burst worker to stop' });
  });

  it('counts an at-most-once job running off its stream as active', async () => {
    t = testApp({}, 'amocount');
    const q = t.app.queue('q');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const task = q.task('once', async () => {
      await gate;
      return 'ok';
    }, { atMostOnce: true });
    await tracker.start(t.app);
    const job = await task.enqueue();
    await waitFor(async () => (await t.app.inspector.counts(q)).active === 1, { what: 'the job counted active' });
    expect((await t.app.listJobs('q', 'active')).map((j) => j.id)).toEqual([job.id]);
    release();
    expect(await job.result({ timeout: 5000 })).toBe('ok');
    expect((await t.app.inspector.counts(q)).active).toBe(0);
  });

  it("keeps a finished job's arguments, priority and enqueue time in its info, as long as its result", async () => {
    t = testApp({}, 'info');
    const q = t.app.queue('q', { maxTries: 1 });
    const add = q.task('add', async (_ctx, a: number, b: { n: number }) => a + b.n);
    const fail = q.task('fail', async (_ctx, why: string) => {
      throw new Error(why);
    });
    await tracker.start(t.app);
    const auto = await add.with({ priority: 'high' }).enqueue(1, { n: 2 });
    const custom = await add.with({ id: 'my-job', priority: 'low' }).enqueue(3, { n: 4 });
    const failed = await fail.enqueue('broken');
    expect(await auto.result({ timeout: 5000 })).toBe(3);
    expect(await custom.result({ timeout: 5000 })).toBe(7);
    await expect(failed.result({ timeout: 5000 })).rejects.toThrow(/broken/);
    const a = await auto.info();
    expect(a).toMatchObject({ status: 'completed', task: 'add', args: [1, { n: 2 }], priority: 'high', result: 3, attempts: 1 });
    expect(a.enqueuedAt).toBeGreaterThan(Date.now() - 60_000);
    const c = await custom.info();
    expect(c).toMatchObject({ status: 'completed', task: 'add', args: [3, { n: 4 }], priority: 'low', result: 7 });
    expect(c.enqueuedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(await failed.info()).toMatchObject({ status: 'failed', task: 'fail', args: ['broken'], priority: 'normal', error: { message: 'broken' } });
    // Aborted before it started (by the abort script itself): the same.
    const waiting = await add.with({ delay: '1h', priority: 'critical' }).enqueue(5, { n: 6 });
    await waiting.abort();
    expect(await waiting.info()).toMatchObject({ status: 'aborted', task: 'add', args: [5, { n: 6 }], priority: 'critical' });
  });

  it('keeps the arguments of an at-most-once job, an ignored failure and a binary (msgpack) job, which the broker adds to the record', async () => {
    t = testApp({ serializer: 'msgpack' }, 'info-args');
    const q = t.app.queue('q', { maxTries: 1 });
    const once = q.task('once', async (_ctx, s: string) => s.length, { atMostOnce: true });
    const ignored = q.task('ignored', async (_ctx, _b: Uint8Array) => {
      throw new RangeError('ignored');
    }, { ignoreOn: [RangeError] });
    const bytes = q.task('bytes', async (_ctx, b: Uint8Array, s: string) => b.length + s.length);
    await tracker.start(t.app);
    const a = await once.enqueue('héllo');
    const b = await ignored.enqueue(new Uint8Array([0, 10, 255]));
    const c = await bytes.with({ priority: 'low' }).enqueue(new Uint8Array([125, 10, 0]), '}\n');
    expect(await a.result({ timeout: 5000 })).toBe(5);
    await expect(b.result({ timeout: 5000 })).rejects.toThrow(/ignored/);
    expect(await c.result({ timeout: 5000 })).toBe(5);
    expect(await a.info()).toMatchObject({ status: 'completed', args: ['héllo'], result: 5 });
    const bi = await b.info();
    expect(bi.status).toBe('failed');
    expect([...(bi.args![0] as Uint8Array)]).toEqual([0, 10, 255]);
    const ci = await c.info();
    expect(ci).toMatchObject({ status: 'completed', priority: 'low', result: 5 });
    expect([...(ci.args![0] as Uint8Array)]).toEqual([125, 10, 0]);
    expect(ci.args![1]).toBe('}\n');
  });

  it('rejects an unknown status or limit in listings, naming what is accepted', async () => {
    t = testApp({}, 'list');
    t.app.queue('q');
    await expect(t.app.listJobs('q', 'bogus' as never)).rejects.toThrow(ConfigError);
    await expect(t.app.listJobs('q', 'bogus' as never)).rejects.toThrow(/waiting, active, delayed, completed, failed, aborted, expired/);
    await expect(t.app.listJobs('q', 'waiting', 0)).rejects.toThrow(/an integer >= 1/);
  });
});
