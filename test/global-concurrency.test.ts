// A queue's global concurrency cap with real worker processes: three workers of concurrency 5
// on a queue capped at 4 never run more than 4 of its jobs at once, as an outside gauge counts
// them (each running job keeps a mark alive in Redis), use all 4, and keep to it when one of
// them is killed with SIGKILL mid-run: its jobs hold their permits until they are reclaimed
// (idleTimeout 2 s), and every job still completes. The same of a fair-groups cap per group
// (docs/flow-control.md#fair-groups): no group runs more than its cap at once over the workers.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawRedis, testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, startCli, type Child } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/capped-worker.mts';
const CAP = 4;
const GROUP_CAP = 2;

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

  const worker = (): Child => startCli(['worker', FIXTURE], { MILLRACE_PREFIX: t.prefix, CAP: String(CAP), CONCURRENCY: '5', GROUP_CAP: String(GROUP_CAP) });

  /** Counts the live marks of each gauge every few ms until stopped: the most seen at once in each. */
  function observe(gauges = ['']): { stop(): Promise<number[]> } {
    const max = gauges.map(() => 0);
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const live = await Promise.all(gauges.map((g) => redis.zcount(`${t.prefix}:gauge${g}`, Date.now(), '+inf')));
        live.forEach((n, i) => (max[i] = Math.max(max[i]!, n)));
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    return { stop: async () => ((stopped = true), await loop, max) };
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
    const [max] = await gauge.stop();
    expect(results.sort()).toEqual([...keys].sort());
    expect(max).toBeLessThanOrEqual(CAP);
    expect(max).toBe(CAP);
  }, 120_000);

  it('never runs more than a group\'s cap of that group at once over three workers, and keeps to it when a worker is killed -9', async () => {
    const sizes = { a: 24, b: 12, c: 2 };
    const keys = Object.entries(sizes).flatMap(([group, n]) => Array.from({ length: n }, (_, i) => ({ group, key: `${group}${i}` })));
    const jobs = await Promise.all(keys.map(({ group, key }, i) => t.app.enqueueByName('gaugedInGroup', [key, 150 + (i % 4) * 50], { queue: 'grouped', group })));
    const gauge = observe(Object.keys(sizes).map((g) => `:${g}`));
    const children = [worker(), worker(), worker()];
    await waitFor(async () => (await redis.zcard(`${t.prefix}:gauge:a`)) >= GROUP_CAP, { timeout: 30_000, what: "group a's cap to be in use" });
    await new Promise((r) => setTimeout(r, 800));
    children[0]!.proc.kill('SIGKILL');
    expect((await children[0]!.exited).signal).toBe('SIGKILL');
    const results = await Promise.all(jobs.map((job) => job.result({ timeout: 60_000 })));
    const [a, b, c] = await gauge.stop();
    expect(results.sort()).toEqual(keys.map((k) => k.key).sort());
    // a and b always have jobs waiting: their caps are used; c's two may not overlap.
    expect({ a, b }).toEqual({ a: GROUP_CAP, b: GROUP_CAP });
    expect(c).toBeLessThanOrEqual(GROUP_CAP);
  }, 120_000);
});
