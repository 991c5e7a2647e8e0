// Outcome scripts against the races of a real deployment: a call the client sends again after
// its reply was lost, an abort that arrives while a failed attempt is being settled, and an
// entry that vanished from its stream while it was pending.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../src/broker/types.js';
import { rawRedis, testApp, waitFor, workers, type TestApp } from './helpers.js';

const tracker = workers({ healthFile: false });

describe('outcome races', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(async () => {
    vi.restoreAllMocks();
    await tracker.stopAll();
    await t.cleanup();
  });

  it('recognises a take sent again by the same consumer (its reply was lost) as its own', async () => {
    t = testApp({}, 'take');
    const q = t.app.queue('q');
    q.task('once', async () => 'ran', { atMostOnce: true });
    const job = await t.app.enqueueByName('once', [], { queue: 'q' });
    const broker = t.app.broker;
    const [d] = await broker.fetch(q, 'w1', 1);
    const lease = { delivery: d as Delivery, id: job.id };
    expect(await broker.take(q, 'w1', lease)).toBe(true);
    // The same call again, as ioredis re-sends it after a reconnect: still this consumer's take.
    expect(await broker.take(q, 'w1', lease)).toBe(true);
    // Another consumer cannot take it.
    expect(await broker.take(q, 'w2', lease)).toBe(false);
    expect(await job.status()).toBe('active');
  });

  it('ends a job aborted while its failed attempt was being settled, instead of retrying it', async () => {
    t = testApp({}, 'abortretry');
    const runs: number[] = [];
    const task = t.app.queue('q').task('t', async (ctx) => {
      runs.push(ctx.attempt);
      throw new Error('fails');
    }, { maxTries: 3, backoff: { type: 'fixed', base: 10 } });
    const broker = t.app.broker;
    const retry = broker.retry.bind(broker);
    let abortAnswer: string | undefined;
    // The abort lands between the handler's failure and the retry's write.
    vi.spyOn(broker, 'retry').mockImplementation(async (...args) => {
      abortAnswer = await t.app.job('q', args[2].id).abort();
      return retry(...args);
    });
    const worker = await tracker.start(t.app);
    const job = await task.enqueue();
    await expect(job.result({ timeout: 5000 })).rejects.toThrow(/aborted/);
    expect(abortAnswer).toBe('aborting');
    expect(await job.status()).toBe('aborted');
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toEqual([1]);
    expect(worker.stats().queues.q).toMatchObject({ aborted: 1, retried: 0 });
    const info = await job.info();
    expect(info.error?.message).toMatch(/aborted while its retry was being scheduled.*Error: fails/);
  });

  it('ends a job aborted while it waits in the retry set; it never runs again', async () => {
    t = testApp({}, 'abortdelayed');
    const runs: number[] = [];
    const task = t.app.queue('q').task('t', async (ctx) => {
      runs.push(ctx.attempt);
      throw new Error('fails');
    }, { maxTries: 3, backoff: { type: 'fixed', base: 60_000 } });
    await tracker.start(t.app, { schedulerInterval: 50 });
    const job = await task.enqueue();
    await waitFor(async () => (await job.status()) === 'delayed', { what: 'the retry scheduled' });
    expect(await job.abort()).toBe('aborted');
    expect(await job.status()).toBe('aborted');
    await expect(job.result({ timeout: 2000 })).rejects.toThrow(/aborted/);
    expect(runs).toEqual([1]);
  });

  it('leaves a dead-letter trace for a pending entry whose fields vanished from the stream', async () => {
    t = testApp({}, 'vanished');
    const q = t.app.queue('q', { idleTimeout: 1000 });
    q.task('t', async () => 'ok');
    const job = await t.app.enqueueByName('t', [], { queue: 'q' });
    const broker = t.app.broker;
    // A consumer that took it and died; then the entry was deleted from under it.
    await broker.fetch(q, 'dead-worker', 1);
    const redis = rawRedis();
    try {
      await redis.xdel(`{${t.prefix}:q}:s:normal`, job.id);
    } finally {
      redis.disconnect();
    }
    await tracker.start(t.app);
    await waitFor(async () => (await t.app.deadLetters('q').count()) === 1, { timeout: 5000, what: 'a dead-letter trace' });
    const [entry] = await t.app.deadLetters('q').list();
    expect(entry).toMatchObject({ reason: 'malformed' });
    expect(entry!.error).toMatch(new RegExp(`entry ${job.id} was pending but its fields are gone`));
    expect((await t.app.inspector.counts(q)).active).toBe(0);
  });
});
