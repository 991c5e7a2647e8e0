// Timeouts: the attempt's signal aborts at the deadline with JobTimeoutError, the attempt
// fails (dead-lettered with reason 'timeout'), and the concurrency slot is freed.

import { afterEach, describe, expect, it } from 'vitest';
import { JobFailedError, JobTimeoutError } from '../src/index.js';
import { testApp, waitFor, workers, type TestApp } from './helpers.js';

describe('timeouts', () => {
  let t: TestApp<Record<string, never>>;
  const pool = workers({ schedulerInterval: 50 });

  afterEach(async () => {
    await pool.stopAll();
    await t.cleanup();
  });

  /** A handler that never finishes on its own and records when and why its signal fired. */
  function hang(record: { startedAt?: number; firedAt?: number; reason?: unknown }) {
    return (signal: AbortSignal) => {
      record.startedAt = Date.now();
      signal.addEventListener('abort', () => {
        record.firedAt = Date.now();
        record.reason = signal.reason;
      });
      // Keeps running past the abort, like a handler that ignores its signal.
      return new Promise<never>(() => undefined);
    };
  }

  it('aborts the signal at the deadline and dead-letters the job with reason timeout', async () => {
    t = testApp({}, 'timeouts');
    const q = t.app.queue('q', { idleTimeout: 2000, concurrency: 1 });
    const rec: { startedAt?: number; firedAt?: number; reason?: unknown } = {};
    const run = hang(rec);
    const slow = q.task('slow', (ctx) => run(ctx.signal), { timeout: 300, maxTries: 1 });
    const quick = q.task('quick', async () => 'done');
    await pool.start(t.app);

    const job = await slow.enqueue();
    const err = await job.result({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).errorName).toBe('JobTimeoutError');

    expect(rec.firedAt).toBeDefined();
    expect(rec.reason).toBeInstanceOf(JobTimeoutError);
    expect((rec.reason as JobTimeoutError).timeoutMs).toBe(300);
    const elapsed = rec.firedAt! - rec.startedAt!;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(700);

    const [entry] = await t.app.deadLetters('q').list();
    expect(entry).toMatchObject({ id: job.id, reason: 'timeout', attempts: 1 });
    expect(entry!.error).toContain('JobTimeoutError');

    // The hung handler no longer holds the only slot.
    const next = await quick.enqueue();
    expect(await next.result({ timeout: 3000 })).toBe('done');
    expect(pool.last!.stats().queues.q!.running).toBe(0);
  });

  it('retries a timed-out attempt while tries remain', async () => {
    t = testApp({}, 'timeouts');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const attempts: number[] = [];
    const sometimesSlow = q.task('sometimesSlow', async (ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, 2000));
      return ctx.attempt;
    }, { timeout: 200, maxTries: 2, backoff: { type: 'fixed', base: 20, jitter: false } });
    await pool.start(t.app);

    const job = await sometimesSlow.enqueue();
    expect(await job.result({ timeout: 5000 })).toBe(2);
    expect(attempts).toEqual([1, 2]);
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('uses a per-job timeout given with with()', async () => {
    t = testApp({}, 'timeouts');
    const q = t.app.queue('q', { idleTimeout: 2000, concurrency: 2 });
    const recs = new Map<string, { startedAt?: number; firedAt?: number; reason?: unknown }>();
    const slow = q.task('slow', (ctx) => {
      const rec = {};
      recs.set(ctx.id, rec);
      return hang(rec)(ctx.signal);
    }, { timeout: 10_000, maxTries: 1 });
    const wait = q.task('wait', async (_ctx, ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }, { timeout: 50 });
    await pool.start(t.app);

    const short = await slow.with({ timeout: 250 }).enqueue();
    await expect(short.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    const rec = recs.get(short.id)!;
    expect(rec.reason).toBeInstanceOf(JobTimeoutError);
    expect((rec.reason as JobTimeoutError).timeoutMs).toBe(250);
    expect(rec.firedAt! - rec.startedAt!).toBeGreaterThanOrEqual(240);
    expect(rec.firedAt! - rec.startedAt!).toBeLessThan(700);

    // A longer per-job timeout lets a job outlive the task's 50 ms default.
    const long = await wait.with({ timeout: 2000 }).enqueue(200);
    expect(await long.result({ timeout: 5000 })).toBe(200);
    // Without it, the same job times out.
    const dflt = await wait.with({ maxTries: 1 }).enqueue(200);
    await expect(dflt.result({ timeout: 5000 })).rejects.toMatchObject({ errorName: 'JobTimeoutError' });
    await waitFor(async () => (await t.app.deadLetters('q').count()) === 2, { what: 'two dead letters' });
  });
});
