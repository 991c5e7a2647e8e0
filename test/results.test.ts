// Waiting for results (woken by Redis, not polling), failures and timeouts, and result retention.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { JobAbortedError, JobFailedError, ResultTimeoutError, type Millrace, type Worker } from '../src/index.js';
import { rawRedis, testApp, waitFor, type TestApp } from './helpers.js';

let t: TestApp<Record<string, never>>;
let redis: Redis | undefined;
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ grace: 1000 })));
  redis?.disconnect();
  redis = undefined;
  await t.cleanup();
});

async function startWorker(app: Millrace<Record<string, never>>): Promise<Worker> {
  const w = app.worker({ handleSignals: false, blockTime: 1000 });
  workers.push(w);
  await w.start();
  return w;
}

const resultKey = (queue: string, id: string) => `{${t.prefix}:${queue}}:r:${id}`;

describe('job.result()', () => {
  it('waits for a result that lands later, without polling', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('late', async (_ctx, x: string) => x.toUpperCase());
    const job = await task.enqueue('value');
    const getResult = vi.spyOn(t.app.broker, 'getResult');
    const waiting = job.result({ timeout: 10_000 });
    let settled = false;
    void waiting.finally(() => (settled = true));
    // Give a polling implementation time to show itself before any result exists.
    await new Promise((r) => setTimeout(r, 600));
    expect(settled).toBe(false);
    const readsWhileWaiting = getResult.mock.calls.length;
    expect(readsWhileWaiting).toBeLessThanOrEqual(1); // the one read when the wait began
    await startWorker(t.app);
    expect(await waiting).toBe('VALUE');
    // One more read when the completion was published.
    expect(getResult.mock.calls.length - readsWhileWaiting).toBeLessThanOrEqual(1);
  });

  it('resolves at once when the result is already there', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('quick', async () => ({ ok: true, n: [1, 2] }));
    const job = await task.enqueue();
    await startWorker(t.app);
    await waitFor(async () => (await job.status()) === 'completed');
    const started = Date.now();
    expect(await job.result({ timeout: 5000 })).toEqual({ ok: true, n: [1, 2] });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('serves many concurrent waiters', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default', { concurrency: 20 }).task('double', async (_ctx, n: number) => n * 2);
    const jobs = await task.enqueueMany(Array.from({ length: 100 }, (_, i) => [i] as [number]));
    const results = Promise.all(jobs.map((j) => j.result({ timeout: 10_000 })));
    await startWorker(t.app);
    expect(await results).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
  });

  it('rejects with JobFailedError carrying the task error', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('boom', async (_ctx, what: string) => {
      throw new RangeError(`no such thing: ${what}`);
    }, { maxTries: 1 });
    const job = await task.enqueue('widget');
    const waiting = job.result({ timeout: 10_000 }).then(() => undefined, (e: unknown) => e);
    await startWorker(t.app);
    const err = await waiting;
    expect(err).toBeInstanceOf(JobFailedError);
    expect(err).toMatchObject({ jobId: job.id, errorName: 'RangeError', errorMessage: 'no such thing: widget', attempts: 1 });
    expect((err as JobFailedError).message).toContain('no such thing: widget');
    expect((err as JobFailedError).errorStack).toContain('RangeError');
    expect(await job.status()).toBe('failed');
  });

  it('rejects with ResultTimeoutError when nothing lands', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('never', async () => 1);
    const job = await task.enqueue(); // no worker runs
    const started = Date.now();
    const err = await job.result({ timeout: 300 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ResultTimeoutError);
    expect(err).toMatchObject({ jobId: job.id, timeoutMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await job.status()).toBe('waiting');
  });

  it('rejects with JobAbortedError for a job aborted while someone waits', async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('stopped', async () => 1);
    const job = await task.enqueue();
    const waiting = job.result({ timeout: 5000 }).then(() => undefined, (e: unknown) => e);
    expect(await job.abort()).toBe('aborted');
    expect(await waiting).toBeInstanceOf(JobAbortedError);
  });

  it('parses the timeout as a duration', async () => {
    t = testApp({}, 'res');
    const job = await t.app.queue('default').task('x', async () => 1).enqueue();
    await expect(job.result({ timeout: '200ms' })).rejects.toMatchObject({ timeoutMs: 200 });
  });
});

describe('result retention', () => {
  it("'none': nothing is kept, status becomes unknown", async () => {
    t = testApp({}, 'res');
    let ran = false;
    const task = t.app.queue('default', { resultTtl: 'none' }).task('fire', async () => {
      ran = true;
      return 'gone';
    });
    const job = await task.enqueue();
    await startWorker(t.app);
    await waitFor(() => ran, { what: 'the job ran' });
    await waitFor(async () => (await job.status()) === 'unknown', { what: 'status unknown' });
    redis = rawRedis();
    expect(await redis.exists(resultKey('default', job.id))).toBe(0);
    expect(await t.app.listJobs('default', 'completed')).toEqual([]);
  });

  it("'none': a waiter still gets the value", async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('fire', async (_ctx, n: number) => n + 1, { resultTtl: 'none' });
    const job = await task.enqueue(41);
    const waiting = job.result({ timeout: 10_000 });
    await startWorker(t.app);
    expect(await waiting).toBe(42);
    // Kept briefly only because someone waited: never longer than a minute.
    redis = rawRedis();
    const ttl = await redis.ttl(resultKey('default', job.id));
    expect(ttl === -2 || (ttl > 0 && ttl <= 60)).toBe(true);
  });

  it('a TTL keeps the result for that long', async () => {
    t = testApp({}, 'res');
    const q = t.app.queue('default', { resultTtl: '10m' });
    const kept = q.task('kept', async () => 'v');
    const short = q.task('short', async () => 'w', { resultTtl: '90s' });
    const failing = q.task('failing', async () => {
      throw new Error('bad');
    }, { maxTries: 1, resultTtl: 120_000 });
    const [a, b, c] = [await kept.enqueue(), await short.enqueue(), await failing.enqueue()];
    await startWorker(t.app);
    expect(await a.result({ timeout: 5000 })).toBe('v');
    expect(await b.result({ timeout: 5000 })).toBe('w');
    await expect(c.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    redis = rawRedis();
    const ttlA = await redis.ttl(resultKey('default', a.id));
    expect(ttlA).toBeGreaterThan(590);
    expect(ttlA).toBeLessThanOrEqual(600);
    const ttlB = await redis.ttl(resultKey('default', b.id));
    expect(ttlB).toBeGreaterThan(80);
    expect(ttlB).toBeLessThanOrEqual(90);
    const ttlC = await redis.ttl(resultKey('default', c.id));
    expect(ttlC).toBeGreaterThan(110);
    expect(ttlC).toBeLessThanOrEqual(120);
    expect(await a.status()).toBe('completed');
    expect(await c.status()).toBe('failed');
  });

  it("'forever' keeps the result without a TTL", async () => {
    t = testApp({}, 'res');
    const task = t.app.queue('default').task('keep', async () => 7, { resultTtl: 'forever' });
    const job = await task.enqueue();
    await startWorker(t.app);
    expect(await job.result({ timeout: 5000 })).toBe(7);
    redis = rawRedis();
    expect(await redis.ttl(resultKey('default', job.id))).toBe(-1);
    expect((await job.info()).result).toBe(7);
  });
});
