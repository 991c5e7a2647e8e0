// A job that already died with a worker before (a suspect) runs alone on its worker: nothing
// else of its queue runs or is held meanwhile, even on a busy worker, so a death it causes is
// counted against it only.

import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRedis, testApp, waitFor, workers, type TestApp } from './helpers.js';

describe('suspect jobs run alone', () => {
  let t: TestApp<Record<string, never>> | undefined;
  const tracker = workers();

  afterEach(async () => {
    await tracker.stopAll();
    await t?.cleanup();
  });

  it('claims a job recovered before only into a worker with nothing else in flight', async () => {
    t = testApp({}, 'suspect');
    const q = t.app.queue('q', { idleTimeout: 1000, maxRecoveries: 3 });
    const spans: { key: string; from: number; to: number }[] = [];
    let heldWhileSuspect = -1;
    const work = q.task('work', async (_ctx, key: string, ms: number) => {
      const from = Date.now();
      if (key === 'suspect') heldWhileSuspect = worker.stats().queues.q?.held ?? -1;
      await sleep(ms);
      spans.push({ key, from, to: Date.now() });
    });
    // The suspect: delivered to a consumer that "died", then reclaimed by another that died too.
    const suspect = await work.enqueue('suspect', 200);
    const redis = rawRedis();
    try {
      const stream = `{${t.prefix}:q}:s:normal`;
      await redis.xgroup('CREATE', stream, 'millrace', '0', 'MKSTREAM').catch(() => undefined);
      await redis.xreadgroup('GROUP', 'millrace', 'ghost1', 'COUNT', 1, 'STREAMS', stream, '>');
      await redis.xclaim(stream, 'millrace', 'ghost2', 0, suspect.id);
    } finally {
      redis.disconnect();
    }
    // A steady load keeps the worker busy past 3 idle timeouts: it must drain to take the suspect.
    const others = await work.enqueueMany(Array.from({ length: 150 }, (_, i) => [`job-${i}`, 100] as [string, number]));
    const worker = await tracker.start(t.app, { concurrency: 3 });
    await expect(suspect.result({ timeout: 20_000 })).resolves.toBeUndefined();
    await waitFor(() => spans.length === 151, { timeout: 20_000, what: 'every job done' });
    await Promise.all(others.map((j) => expect(j.result({ timeout: 5000 })).resolves.toBeUndefined()));
    const s = spans.find((x) => x.key === 'suspect')!;
    // Only the suspect was held when it started, and nothing else ran while it ran.
    expect(heldWhileSuspect).toBe(1);
    const overlapping = spans.filter((x) => x.key !== 'suspect' && x.from < s.to && x.to > s.from);
    expect(overlapping).toEqual([]);
    // It ran while other jobs were still waiting (the busy worker drained for it).
    expect(spans.filter((x) => x.from > s.to).length).toBeGreaterThan(0);
  });
});
