// A queue's global concurrency cap with real worker processes: three workers of concurrency 5
// on a queue capped at 4 never run more than 4 of its jobs at once, as an outside gauge counts
// them (each running job keeps a mark alive in Redis), use all 4, and keep to it when one of
// them is killed with SIGKILL mid-run: its jobs hold their permits until they are reclaimed
// (idleTimeout 2 s), and every job still completes.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawRedis, testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, startCli, type Child } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/capped-worker.mts';
const CAP = 4;

describe('a global concurrency cap over worker processes', () => {
  let t: TestApp<Record<string, never>>;
  const redis = rawRedis();

  beforeEach(() => {
    t = testApp({}, 'gcap');
  });

  afterEach(async () => {
    killChildren();
    await t.cleanup();
  });

  const worker = (): Child => startCli(['worker', FIXTURE], { MILLRACE_PREFIX: t.prefix, CAP: String(CAP), CONCURRENCY: '5' });

  /** Counts the live marks every few ms until stopped: the most seen at once. */
  function observe(): { stop(): Promise<number>; max(): number } {
    let max = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const live = await redis.zcount(`${t.prefix}:gauge`, Date.now(), '+inf');
        if (live > max) max = live;
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    return { stop: async () => ((stopped = true), await loop, max), max: () => max };
  }

  it('never runs more than the cap at once over three workers, uses it all, and keeps to it when a worker is killed -9', async () => {
    const N = 60;
    const keys = Array.from({ length: N }, (_, i) => `k${i}`);
    const jobs = await Promise.all(keys.map((key, i) => t.app.enqueueByName('gauged', [key, 150 + (i % 4) * 50], { queue: 'capped' })));
    const gauge = observe();
    const children = [worker(), worker(), worker()];
    // Some jobs done by each of the three before one is killed: all of them are in.
    await waitFor(async () => (await redis.zcard(`${t.prefix}:gauge`)) >= CAP, { timeout: 30_000, what: 'the cap to be in use' });
    await new Promise((r) => setTimeout(r, 800));
    children[0]!.proc.kill('SIGKILL');
    expect((await children[0]!.exited).signal).toBe('SIGKILL');
    const results = await Promise.all(jobs.map((job) => job.result({ timeout: 60_000 })));
    const max = await gauge.stop();
    expect(results.sort()).toEqual([...keys].sort());
    expect(max).toBeLessThanOrEqual(CAP);
    expect(max).toBe(CAP);
  }, 120_000);
});
