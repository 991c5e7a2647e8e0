// Acknowledged entries leave the stream, by prefix trimming and, behind a job still running,
// one by one; entries still waiting are never removed.
import { afterEach, describe, expect, it } from 'vitest';
import { rawRedis, testApp, waitFor, workers, type TestApp } from './helpers.js';

describe('stream trimming after acknowledgement', () => {
  let t: TestApp<Record<string, never>>;
  const pool = workers();
  afterEach(async () => {
    await pool.stopAll();
    await t.cleanup();
  });

  it('keeps only the entries of jobs still running or waiting', async () => {
    t = testApp({}, 'trim');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = t.app.queue('q', { concurrency: 2, prefetch: 1 });
    const slow = q.task('slow', async () => gate);
    const quick = q.task('quick', async (_ctx, n: number) => n);
    const redis = rawRedis();
    const stream = `{${t.prefix}:q}:s:normal`;
    try {
      const head = await slow.enqueue();
      const jobs = await quick.enqueueMany(Array.from({ length: 40 }, (_, i) => [i] as [number]));
      await pool.start(t.app);
      // The slow job holds the head of the stream while the quick ones complete behind it.
      expect(await Promise.all(jobs.map((j) => j.result({ timeout: 10_000 })))).toEqual(jobs.map((_, i) => i));
      await waitFor(async () => (await redis.xlen(stream)) === 1, { what: 'only the running entry left' });
      expect((await redis.xrange(stream, '-', '+')).map((e) => e[0])).toEqual([head.id]);
      release();
      await head.result({ timeout: 5000 });
      await waitFor(async () => (await redis.xlen(stream)) === 0, { what: 'an empty stream' });
    } finally {
      release();
      redis.disconnect();
    }
  });

  it('never trims entries that are still waiting', async () => {
    t = testApp({}, 'trimwait');
    const gates: (() => void)[] = [];
    const q = t.app.queue('q', { concurrency: 1, prefetch: 0 });
    const step = q.task('step', async (_ctx, n: number) => {
      await new Promise<void>((r) => gates.push(r));
      return n;
    });
    const jobs = await step.enqueueMany(Array.from({ length: 6 }, (_, i) => [i] as [number]));
    await pool.start(t.app);
    for (let i = 0; i < jobs.length; i++) {
      await waitFor(() => gates.length === i + 1, { what: `job ${i} running` });
      // Everything after the running job is still there and waiting.
      for (const later of jobs.slice(i + 1)) expect(await later.status()).toBe('waiting');
      gates[i]!();
      expect(await jobs[i]!.result({ timeout: 5000 })).toBe(i);
    }
  });
});
