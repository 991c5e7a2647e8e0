// A bulk enqueue far larger than a function call's argument limit goes through in one call.
import { afterEach, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

describe('large bulk enqueue', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('enqueues 50,000 jobs in one call (250,000 script arguments)', async () => {
    t = testApp({ events: false }, 'bulk');
    const task = t.app.queue('q').task('noop', async (_ctx, n: number) => n);
    const jobs = await task.enqueueMany(Array.from({ length: 50_000 }, (_, i) => [i] as [number]));
    expect(jobs).toHaveLength(50_000);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(50_000);
    expect((await t.app.inspector.counts(t.app.queues.get('q')!)).waiting.normal).toBe(50_000);
  }, 60_000);
});
