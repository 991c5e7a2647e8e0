// Outcome scripts against the races of a real deployment: a call the client sends again after
// its reply was lost, an abort that arrives while a failed attempt is being settled, and an
// entry that vanished from its stream while it was pending.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../src/broker/types.js';
import { Millrace } from '../src/index.js';
import { FaultProxy, scriptNamed } from '../chaos/lib/faultProxy.js';
import { rawRedis, REDIS_URL, testApp, waitFor, workers, type TestApp } from './helpers.js';

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
    // A renewal of the entry it took does not report the lease lost (the worker would drop
    // the job while its take's answer is still on its way); for another consumer it is lost.
    expect(await broker.touch(q, 'w1', [lease])).toEqual({ lost: [], abort: [] });
    expect(await broker.touch(q, 'w2', [lease])).toEqual({ lost: [job.id], abort: [] });
  });

  it('adds the jobs of an enqueue sent again after its reply was lost once, with the first reply', async () => {
    t = testApp({}, 'resend');
    const proxy = await FaultProxy.start(Number(new URL(REDIS_URL).port || 6379));
    const client = new Millrace({ redis: proxy.url, prefix: t.prefix, logLevel: 'silent' });
    try {
      const task = client.queue('q').task('t', async () => 1);
      await task.enqueue(); // scripts loaded, connection up
      proxy.setFaults([{ kind: 'drop-reply', rate: 1, times: 1, match: scriptNamed('enqueue') }]);
      const jobs = await task.enqueueMany([[], [], []]);
      expect(proxy.stats.injected['drop-reply']).toBe(1);
      const redis = rawRedis();
      try {
        expect(await redis.xlen(`{${t.prefix}:q}:s:normal`)).toBe(4);
      } finally {
        redis.disconnect();
      }
      expect(new Set(jobs.map((j) => j.id)).size).toBe(3);
      for (const j of jobs) expect(await j.status()).toBe('waiting');
    } finally {
      await client.close();
      await proxy.close();
    }
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

  it('runs a job whose delivery to this worker was lost (a lost fetch reply) without counting a death', async () => {
    t = testApp({}, 'limbo');
    // With maxRecoveries 0, one counted death makes a job poison.
    const q = t.app.queue('q', { idleTimeout: 1000, maxRecoveries: 0, concurrency: 1, prefetch: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const blocker = q.task('blocker', async () => {
      await gate;
      return 'unblocked';
    });
    const task = q.task('t', async () => 'ran');
    const worker = await tracker.start(t.app, { concurrency: 1, prefetch: 0 });
    const first = await blocker.enqueue();
    await waitFor(() => worker.stats().queues.q!.running === 1, { what: 'the worker full' });
    const job = await task.enqueue();
    // A delivery to this worker's consumer that its process never received, as when the reply
    // of its fetch is lost on a dropped connection.
    expect(await t.app.broker.fetch(q, worker.id, 1)).toHaveLength(1);
    release();
    expect(await first.result({ timeout: 5000 })).toBe('unblocked');
    expect(await job.result({ timeout: 10_000 })).toBe('ran');
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('claims its own lost delivery before another worker takes it for a dead worker\'s', async () => {
    t = testApp({}, 'ownfirst');
    const q = t.app.queue('q', { idleTimeout: 4000 });
    const task = q.task('t', async (ctx) => ctx.workerId);
    const job = await task.enqueue();
    // The job was delivered to worker-a's consumer, which never got it (a lost reply, or a former
    // process with that id); then worker-a and an idle worker-b run.
    expect(await t.app.broker.fetch(q, 'worker-a', 1)).toHaveLength(1);
    const b = await tracker.start(t.app, { id: 'worker-b' });
    await new Promise((r) => setTimeout(r, 500));
    const a = await tracker.start(t.app, { id: 'worker-a' });
    const ranOn = await job.result({ timeout: 15_000 });
    expect(ranOn).toBe('worker-a');
    expect(b.stats().queues.q!.completed).toBe(0);
    expect(a.stats().queues.q!.completed).toBe(1);
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
