// Abort: a running job's signal fires (from this process or another one, within a second),
// result() rejects with JobAbortedError, and an aborted prefetched job never runs.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { JobAbortedError, Retry } from '../src/index.js';
import { testApp, waitFor, workers, type TestApp } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/abort-child.mts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Seen {
  started: Set<string>;
  fired: Map<string, { at: number; reason: unknown }>;
}

describe('abort', () => {
  let t: TestApp<Record<string, never>>;
  const pool = workers();

  afterEach(async () => {
    await pool.stopAll();
    await t.cleanup();
  });

  /** A queue whose `block` task runs until its signal fires or it is released. */
  async function setup(queueOptions: { concurrency?: number; prefetch?: number } = {}) {
    t = testApp({}, 'abort');
    // A long idle timeout keeps the lease keeper's abort check (every idleTimeout/3) out of
    // the way: the signal must arrive over pub/sub.
    const q = t.app.queue('q', { idleTimeout: 30_000, ...queueOptions });
    const seen: Seen = { started: new Set(), fired: new Map() };
    const releases: (() => void)[] = [];
    const block = q.task('block', async (ctx, name: string) => {
      seen.started.add(name);
      await new Promise<void>((resolve) => {
        releases.push(resolve);
        ctx.signal.addEventListener('abort', () => {
          seen.fired.set(name, { at: Date.now(), reason: ctx.signal.reason });
          resolve();
        });
      });
      return name;
    }, { timeout: 20_000, maxTries: 3 });
    await pool.start(t.app);
    return { block, seen, releaseAll: () => releases.splice(0).forEach((r) => r()) };
  }

  it('aborts a running job from the same app', async () => {
    const { block, seen } = await setup();
    const job = await block.enqueue('a');
    await waitFor(() => seen.started.has('a'), { what: 'the job to start' });
    expect(await job.status()).toBe('active');

    expect(await job.abort()).toBe('aborting');
    const fired = await waitFor(() => seen.fired.get('a'), { timeout: 2000, what: 'the signal' });
    expect(fired.reason).toBeInstanceOf(JobAbortedError);
    await expect(job.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobAbortedError);
    expect(await job.status()).toBe('aborted');
    expect(pool.last!.stats().queues.q!.aborted).toBe(1);
    // An aborted job is not retried.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.started.size).toBe(1);
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('aborts a running job from another process within a second', async () => {
    const { block, seen } = await setup();
    const job = await block.enqueue('remote');
    await waitFor(() => seen.started.has('remote'), { what: 'the job to start' });

    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CHILD, t.prefix, 'q', job.id], {
      cwd: ROOT, timeout: 20_000,
    });
    const child = JSON.parse(stdout.trim().split('\n').pop()!) as { calledAt: number; outcome: string };
    expect(child.outcome).toBe('aborting');

    const fired = await waitFor(() => seen.fired.get('remote'), { timeout: 2000, what: 'the signal' });
    expect(fired.reason).toBeInstanceOf(JobAbortedError);
    expect(fired.at - child.calledAt).toBeGreaterThanOrEqual(-5);
    expect(fired.at - child.calledAt).toBeLessThan(1000);
    await expect(job.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobAbortedError);
    expect(await job.status()).toBe('aborted');
  });

  it('aborts a prefetched job that has not started: it never runs', async () => {
    const { block, seen, releaseAll } = await setup({ concurrency: 1, prefetch: 1 });
    const first = await block.enqueue('first');
    await waitFor(() => seen.started.has('first'), { what: 'the first job to start' });
    const second = await block.enqueue('second');
    // The worker holds the second job (delivered, waiting for the only slot).
    await waitFor(() => pool.last!.stats().queues.q!.held === 2, { what: 'the second job to be prefetched' });
    expect(await second.status()).toBe('active');

    expect(await second.abort()).toBe('aborting');
    await expect(second.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobAbortedError);
    expect(await second.status()).toBe('aborted');

    releaseAll();
    expect(await first.result({ timeout: 5000 })).toBe('first');
    // The freed slot does not run the aborted job.
    await new Promise((r) => setTimeout(r, 300));
    expect([...seen.started]).toEqual(['first']);
    expect(pool.last!.stats().queues.q!.held).toBe(0);
  });

  it('aborts a job between attempts, and a retried job while it runs', async () => {
    t = testApp({}, 'abort');
    const q = t.app.queue('q', { idleTimeout: 30_000 });
    const runs: { name: string; attempt: number }[] = [];
    const fired = new Map<string, unknown>();
    const slowRetry = q.task('slowRetry', async (ctx) => {
      runs.push({ name: 'waiting', attempt: ctx.attempt });
      throw new Error('wait long');
    }, { maxTries: 3, backoff: { type: 'fixed', base: 60_000, jitter: false } });
    const soon = q.task('soon', async (ctx) => {
      if (ctx.attempt === 1) throw new Retry(10);
      runs.push({ name: 'soon', attempt: ctx.attempt });
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => {
        fired.set('soon', ctx.signal.reason);
        resolve();
      }));
    }, { maxTries: 3 });
    await pool.start(t.app, { schedulerInterval: 50 });

    // Waiting 60 s for its second attempt: removed at once.
    const waiting = await slowRetry.enqueue();
    await waitFor(async () => (await waiting.status()) === 'delayed', { what: 'the retry to be scheduled' });
    expect(await waiting.abort()).toBe('aborted');
    expect(await waiting.status()).toBe('aborted');
    await expect(waiting.result({ timeout: 1000 })).rejects.toBeInstanceOf(JobAbortedError);

    // Running its second attempt: the signal fires.
    const running = await soon.enqueue();
    await waitFor(() => runs.some((r) => r.name === 'soon'), { what: 'the second attempt' });
    expect(await running.abort()).toBe('aborting');
    await expect(running.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobAbortedError);
    expect(fired.get('soon')).toBeInstanceOf(JobAbortedError);
    expect(runs).toEqual([{ name: 'waiting', attempt: 1 }, { name: 'soon', attempt: 2 }]);
  });

  it('removes a waiting job at once and reports finished and unknown jobs', async () => {
    t = testApp({}, 'abort');
    const q = t.app.queue('q', { idleTimeout: 3000 });
    const ran: string[] = [];
    const task = q.task('note', async (_ctx, name: string) => {
      ran.push(name);
      return name;
    });
    const waiting = await task.enqueue('waiting');
    const custom = await task.with({ id: 'custom-1' }).enqueue('custom');
    const delayed = await task.with({ delay: 60_000 }).enqueue('delayed');
    expect(await waiting.abort()).toBe('aborted');
    expect(await custom.abort()).toBe('aborted');
    expect(await delayed.abort()).toBe('aborted');
    for (const j of [waiting, custom, delayed]) {
      expect(await j.status()).toBe('aborted');
      await expect(j.result({ timeout: 1000 })).rejects.toBeInstanceOf(JobAbortedError);
    }

    await pool.start(t.app);
    const done = await task.enqueue('done');
    expect(await done.result({ timeout: 5000 })).toBe('done');
    expect(ran).toEqual(['done']);
    expect(await done.abort()).toBe('finished');
    expect(await t.app.job('q', '1-0').abort()).toBe('not_found');
    expect(await t.app.job('q', 'nope').abort()).toBe('not_found');
  });
});
