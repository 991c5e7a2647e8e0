// job.result() does not miss a result whose notification was lost: it reads again after its
// subscriber connection came back and once more before it gives up; and it fails at once for
// a job that does not exist instead of waiting out its timeout.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { JobNotFoundError, Millrace } from '../src/index.js';
import { TcpProxy } from '../chaos/lib/proxy.js';
import { rawRedis, REDIS_URL, testApp, uniquePrefix, waitFor, workers, type TestApp } from './helpers.js';

const tracker = workers({ healthFile: false });

describe('waiting for results', () => {
  let t: TestApp<Record<string, never>>;
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await tracker.stopAll();
    for (const c of closing.splice(0)) await c();
    await t.cleanup();
  });

  function gated(app: Millrace<Record<string, never>>, gate: Promise<void>) {
    return app.queue('q').task('t', async () => {
      await gate;
      return 'landed';
    });
  }

  it('gets a result published while its subscriber connection was down, once it is back', async () => {
    t = testApp({}, 'resub');
    const proxy = await TcpProxy.start(Number(new URL(REDIS_URL).port || 6379));
    const waiter = new Millrace({ redis: proxy.url, prefix: t.prefix, logLevel: 'silent' });
    closing.push(async () => {
      await waiter.close();
      await proxy.close();
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    gated(waiter, gate);
    gated(t.app, gate);
    await tracker.start(t.app);
    const job = await waiter.enqueueByName('t', [], { queue: 'q' });
    const result = job.result({ timeout: 60_000 });
    const redis = rawRedis();
    try {
      await waitFor(async () => (await redis.zscore(`{${t.prefix}:q}:waiters`, job.id)) !== null, { what: 'the wait registered' });
      proxy.cut();
      release();
      await waitFor(async () => (await redis.exists(`{${t.prefix}:q}:r:${job.id}`)) === 1, { what: 'the result stored' });
    } finally {
      redis.disconnect();
    }
    proxy.restore();
    // Long before its timeout: the reconnect itself makes it read again.
    expect(await Promise.race([result, sleep(10_000).then(() => 'still waiting')])).toBe('landed');
  });

  it('reads once more before it gives up, when no notification came', async () => {
    t = testApp({}, 'lastread');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const task = gated(t.app, gate);
    await tracker.start(t.app);
    const job = await task.enqueue();
    const result = job.result({ timeout: 1500 });
    const redis = rawRedis();
    try {
      await waitFor(async () => (await redis.zscore(`{${t.prefix}:q}:waiters`, job.id)) !== null, { what: 'the wait registered' });
      // The wait's mark is lost (as if Redis dropped it): the result lands without a notification.
      await redis.zrem(`{${t.prefix}:q}:waiters`, job.id);
      release();
      await waitFor(async () => (await redis.exists(`{${t.prefix}:q}:r:${job.id}`)) === 1, { what: 'the result stored' });
    } finally {
      redis.disconnect();
    }
    expect(await result).toBe('landed');
  });

  it('fails at once for an id no queue knows, instead of waiting out the timeout', async () => {
    t = testApp({}, 'unknown');
    t.app.queue('q').task('t', async () => 1);
    const err = await t.app.job('q', 'no-such-job').result({ timeout: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobNotFoundError);
    expect((err as Error).message).toMatch(/no-such-job not found in queue 'q'/);
    // A prefix nobody used, a queue this process does not define: the same.
    const other = new Millrace({ redis: REDIS_URL, prefix: uniquePrefix('none'), logLevel: 'silent' });
    closing.push(() => other.close());
    await expect(other.job('elsewhere', '1-0').result({ timeout: 60_000 })).rejects.toThrow(JobNotFoundError);
  });
});
