// Redis Sentinel end to end, on a Sentinel set of our own (test/support/sentinel.ts): apps
// configured by REDIS_SENTINELS / REDIS_SENTINEL_MASTER and by a redis-sentinel:// URL run
// workers that complete jobs, and a worker serving a steady stream of jobs lives through a
// `SENTINEL FAILOVER`: every job enqueued completes, with one result each, and the app's
// connections (new enqueues among them) go to the new master.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { JobNotFoundError, Millrace, type MillraceOptions } from '../src/index.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { startSentinelSet, type SentinelSet } from './support/sentinel.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The names of the millrace connections a server has now. */
async function clientNames(port: number): Promise<string[]> {
  const raw = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  try {
    const list = (await raw.client('LIST')) as string;
    return [...list.matchAll(/\bname=(millrace:\S+)/g)].map((m) => m[1]!);
  } finally {
    raw.disconnect();
  }
}

describe('Redis Sentinel', { timeout: 120_000 }, () => {
  let set: SentinelSet;
  type App = Millrace<Record<string, never>>;
  const apps: App[] = [];
  const tracker = workers();

  beforeAll(async () => {
    set = await startSentinelSet({ name: 'e2e' });
  }, 60_000);
  afterAll(async () => {
    await set?.stop();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** An app on the set (its data dies with the set: nothing to remove). */
  function app(options: MillraceOptions<Record<string, never>> = {}): App {
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('sentinel'), ...options });
    apps.push(a);
    return a;
  }

  it('runs jobs for an app configured by REDIS_SENTINELS and REDIS_SENTINEL_MASTER', async () => {
    vi.stubEnv('REDIS_SENTINELS', set.sentinelList);
    vi.stubEnv('REDIS_SENTINEL_MASTER', set.name);
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1'); // the sentinels win over a URL of the same layer
    const a = app();
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await tracker.start(a);
    const jobs = await double.enqueueMany([[1], [2], [3]]);
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 20_000 })))).toEqual([2, 4, 6]);
    expect(await clientNames(await set.masterPort())).toEqual(expect.arrayContaining(['millrace:commands', 'millrace:reader:q']));
  });

  it('runs jobs for an app configured by a redis-sentinel:// URL', async () => {
    const a = app({ redis: `redis-sentinel://${set.sentinelList}/${set.name}?db=2` });
    const echo = a.queue('q').task('echo', async (_ctx, s: string) => s);
    await tracker.start(a);
    expect(await (await echo.enqueue('hi')).result({ timeout: 20_000 })).toBe('hi');
    // db=2 is the database the jobs were written to.
    const raw = new Redis({ host: '127.0.0.1', port: await set.masterPort(), db: 2, maxRetriesPerRequest: 1 });
    try {
      expect((await raw.scan('0', 'MATCH', `*${a.prefix}*`, 'COUNT', 1000))[1].length).toBeGreaterThan(0);
    } finally {
      raw.disconnect();
    }
  });

  it('lives through a failover: every job enqueued completes once, on the new master', async () => {
    const a = app({ redis: { sentinels: set.sentinels, name: set.name } });
    const runs = new Map<number, number>();
    const work = a.queue('q', { idleTimeout: '2s' }).task('work', async (_ctx, n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      await sleep(2);
      return n * 10;
    });
    const worker = await tracker.start(a, { concurrency: 4 });

    // A steady stream: one enqueue at a time, custom ids; an enqueue the failover made fail is
    // tried again with the same id (its id keeps it from running twice).
    const enqueued: number[] = [];
    const failedTries: unknown[] = [];
    let streaming = true;
    const stream = (async () => {
      for (let n = 0; streaming || n < 10; n++) {
        for (;;) {
          try {
            await work.with({ id: `job-${n}` }).enqueue(n);
            break;
          } catch (err) {
            failedTries.push(err);
            await sleep(50);
          }
        }
        enqueued.push(n);
        await sleep(3);
      }
    })();

    await waitFor(() => runs.size >= 50, { timeout: 30_000, what: 'the worker running the stream' });
    const { from, to } = await set.failover();
    expect(to).not.toBe(from);
    const before = enqueued.length;
    await waitFor(() => enqueued.length >= before + 50, { timeout: 60_000, what: 'enqueues after the failover' });
    streaming = false;
    await stream;

    // Every job enqueued has one result, its own, except that an enqueue the old master
    // acknowledged but had not yet replicated when it was demoted may be lost with it (Redis
    // replication is asynchronous; no WAIT until durable enqueue exists): such a loss can only
    // be of a job enqueued before the failover ended, and is counted, not hidden.
    const results = await Promise.all(enqueued.map((n) => a.job<number>('q', `job-${n}`).result({ timeout: 60_000 }).catch((err: unknown) => {
      if (err instanceof JobNotFoundError) return 'lost' as const;
      throw err;
    })));
    const lost = enqueued.filter((_, i) => results[i] === 'lost');
    expect(lost.filter((n) => enqueued.indexOf(n) >= before)).toEqual([]);
    expect(results.filter((r) => r !== 'lost')).toEqual(enqueued.filter((n) => !lost.includes(n)).map((n) => n * 10));
    expect(enqueued.filter((n) => !lost.includes(n) && !runs.has(n))).toEqual([]);
    expect(worker.status).toBe('running');

    // The app's connections are on the new master (enqueues included): one more job shows it.
    expect(await (await work.with({ id: 'after' }).enqueue(-1)).result({ timeout: 20_000 })).toBe(-10);
    const onNew = await waitFor(async () => {
      const names = await clientNames(to);
      return names.includes('millrace:commands') && names.includes('millrace:reader:q') ? names : undefined;
    }, { timeout: 30_000, what: 'the connections on the new master' });
    expect(onNew).toEqual(expect.arrayContaining(['millrace:commands', 'millrace:reader:q']));
    console.info(`failover ${from} -> ${to}: ${enqueued.length} jobs, ${lost.length} lost in replication, ${failedTries.length} enqueue tries failed, ${[...runs.values()].filter((c) => c > 1).length} jobs ran twice`);
  });
});
