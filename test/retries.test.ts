// Retries: attempts up to maxTries, backoff spacing, Retry(delay), retryOn/ignoreOn, and the
// dead-letter entry a job leaves when it fails for good.

import { afterEach, describe, expect, it } from 'vitest';
import { JobFailedError, Retry } from '../src/index.js';
import { testApp, waitFor, workers, type TestApp } from './helpers.js';

class Transient extends Error {}
class Permanent extends Error {}
class Ignorable extends Error {}

describe('retries', () => {
  let t: TestApp<Record<string, never>>;
  const pool = workers({ schedulerInterval: 50 });

  afterEach(async () => {
    await pool.stopAll();
    await t.cleanup();
  });

  it('tries an always-failing task exactly maxTries times, then dead-letters it', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const attempts: number[] = [];
    const fail = q.task('fail', async (ctx) => {
      attempts.push(ctx.attempt);
      throw new Error(`boom on attempt ${ctx.attempt}`);
    }, { maxTries: 3, backoff: { type: 'fixed', base: 50, jitter: false } });
    await pool.start(t.app);

    const job = await fail.enqueue();
    const err = await job.result({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).attempts).toBe(3);
    expect((err as JobFailedError).errorMessage).toBe('boom on attempt 3');
    expect(attempts).toEqual([1, 2, 3]);
    expect(await job.status()).toBe('failed');

    const dlq = t.app.deadLetters('q');
    expect(await dlq.count()).toBe(1);
    const [entry] = await dlq.list();
    expect(entry).toMatchObject({ id: job.id, task: 'fail', queue: 'q', reason: 'max-tries', attempts: 3 });
    expect(entry!.error).toContain('boom on attempt 3');
    expect(entry!.stack).toContain('retries.test.ts');
    expect(entry!.failedAt).toBeGreaterThan(Date.now() - 10_000);
    // No fourth attempt sneaks in afterwards.
    await new Promise((r) => setTimeout(r, 200));
    expect(attempts).toHaveLength(3);
  });

  it('spaces attempts by the exponential backoff formula', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const starts: number[] = [];
    const flaky = q.task('flaky', async () => {
      starts.push(Date.now());
      throw new Transient('again');
    }, { maxTries: 4, backoff: { type: 'exponential', base: 150, jitter: false } });
    const worker = await pool.start(t.app);
    const delays: number[] = [];
    worker.on('job.retried', (e) => delays.push(e.delayMs));

    const job = await flaky.enqueue();
    await expect(job.result({ timeout: 10_000 })).rejects.toBeInstanceOf(JobFailedError);
    expect(starts).toHaveLength(4);
    // base × 2^(attempt-1): 150, 300, 600 ms as scheduled (a fixed or linear schedule differs),
    // and no attempt before its time (a loaded machine may run it later: no upper bound).
    expect(delays).toEqual([150, 300, 600]);
    const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
    [150, 300, 600].forEach((expected, i) => expect(gaps[i]).toBeGreaterThanOrEqual(expected - 10));
  });

  it('spaces attempts linearly and caps them at max', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const starts: number[] = [];
    const flaky = q.task('flaky', async () => {
      starts.push(Date.now());
      throw new Error('again');
    }, { maxTries: 4, backoff: { type: 'linear', base: 200, max: 250, jitter: false } });
    const worker = await pool.start(t.app);
    const delays: number[] = [];
    worker.on('job.retried', (e) => delays.push(e.delayMs));

    await expect((await flaky.enqueue()).result({ timeout: 10_000 })).rejects.toBeInstanceOf(JobFailedError);
    // base × attempt capped at 250: 200, 250, 250 ms (uncapped: 200, 400, 600) as scheduled, and
    // no attempt before its time (a loaded machine may run it later: no upper bound on the clock).
    expect(delays).toEqual([200, 250, 250]);
    const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
    [200, 250, 250].forEach((expected, i) => expect(gaps[i]).toBeGreaterThanOrEqual(expected - 10));
  });

  it('re-runs a task that throws Retry(300) after at least 300 ms, counting an attempt', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const starts: { attempt: number; at: number }[] = [];
    const poll = q.task('poll', async (ctx) => {
      starts.push({ attempt: ctx.attempt, at: Date.now() });
      if (ctx.attempt < 2) throw new Retry(300);
      return 'ready';
    }, { maxTries: 5, backoff: { type: 'fixed', base: 5000, jitter: false } });
    await pool.start(t.app);

    const job = await poll.enqueue();
    expect(await job.result({ timeout: 5000 })).toBe('ready');
    expect(starts.map((s) => s.attempt)).toEqual([1, 2]);
    // Retry(300) wins over the 5 s backoff: it ran again after 300 ms, well before 5 s (the
    // result came within its 5 s timeout).
    const gap = starts[1]!.at - starts[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(300);
    expect(gap).toBeLessThan(5000);
    expect((await job.info()).attempts).toBe(2);
  });

  it('dead-letters Retry at maxTries like any other failure', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    let runs = 0;
    const again = q.task('again', async () => {
      runs++;
      throw new Retry(20);
    }, { maxTries: 2 });
    await pool.start(t.app);

    const job = await again.enqueue();
    await expect(job.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    expect(runs).toBe(2);
    const [entry] = await t.app.deadLetters('q').list();
    expect(entry).toMatchObject({ id: job.id, reason: 'max-tries', attempts: 2 });
  });

  it('dead-letters at once an error that retryOn does not list', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const seen: string[] = [];
    const picky = q.task('picky', async (_ctx, kind: string) => {
      seen.push(kind);
      if (kind === 'transient' && seen.length === 1) throw new Transient('try again');
      if (kind === 'permanent') throw new Permanent('never works');
      return kind;
    }, { maxTries: 3, retryOn: [Transient], backoff: { type: 'fixed', base: 20, jitter: false } });
    await pool.start(t.app);

    // A listed error is retried...
    expect(await (await picky.enqueue('transient')).result({ timeout: 5000 })).toBe('transient');
    expect(seen).toEqual(['transient', 'transient']);
    expect(await t.app.deadLetters('q').count()).toBe(0);

    // ...another is not.
    const job = await picky.enqueue('permanent');
    const err = await job.result({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).attempts).toBe(1);
    expect(seen.filter((k) => k === 'permanent')).toHaveLength(1);
    const [entry] = await t.app.deadLetters('q').list();
    expect(entry).toMatchObject({ id: job.id, reason: 'not-retryable', attempts: 1 });
    expect(entry!.error).toContain('never works');
  });

  it('fails an ignoreOn error without retrying or dead-lettering', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    let runs = 0;
    const task = q.task('ignored', async () => {
      runs++;
      throw new Ignorable('not worth keeping');
    }, { maxTries: 3, ignoreOn: [Ignorable] });
    await pool.start(t.app);

    const job = await task.enqueue();
    const err = await job.result({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).errorMessage).toBe('not worth keeping');
    expect(runs).toBe(1);
    expect(await job.status()).toBe('failed');
    expect((await job.info()).error?.reason).toBe('ignored');
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('honours a per-job maxTries given with with()', async () => {
    t = testApp({}, 'retries');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const runs = new Map<string, number[]>();
    const fail = q.task('fail', async (ctx) => {
      runs.set(ctx.id, [...(runs.get(ctx.id) ?? []), ctx.maxTries]);
      throw new Error('nope');
    }, { maxTries: 5, backoff: { type: 'fixed', base: 20, jitter: false } });
    await pool.start(t.app);

    const one = await fail.with({ maxTries: 1 }).enqueue();
    const two = await fail.with({ maxTries: 2 }).enqueue();
    await expect(one.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    await expect(two.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    expect(runs.get(one.id)).toEqual([1]);
    expect(runs.get(two.id)).toEqual([2, 2]);
    const entries = await waitFor(async () => {
      const list = await t.app.deadLetters('q').list();
      return list.length === 2 ? list : undefined;
    }, { what: 'two dead letters' });
    const byId = new Map(entries.map((e) => [e.id, e]));
    expect(byId.get(one.id)).toMatchObject({ reason: 'max-tries', attempts: 1 });
    expect(byId.get(two.id)).toMatchObject({ reason: 'max-tries', attempts: 2 });
  });
});
