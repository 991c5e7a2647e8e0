// The stale-worker cleanup: a dead worker's pending jobs are handed back and its consumer
// forgotten in one atomic step (a consumer that reads in between loses nothing), a live one is
// left alone, and the at-most-once jobs a dead worker was running end in the DLQ as
// 'interrupted' instead of staying 'active' forever.
import { mkdtempSync, rmSync } from 'node:fs';
import type { ShardInspector } from '../src/shards/inspector.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { JobFailedError } from '../src/index.js';
import { healthKey, queueKeys } from '../src/redis/keys.js';
import { killChildren, readLedger, startCli } from './fixtures/children.js';
import { rawRedis, testApp, waitFor, workers, type TestApp } from './helpers.js';

const tracker = workers({ healthFile: false });

describe('stale worker cleanup', () => {
  let t: TestApp<Record<string, never>>;
  let redis: Redis;
  afterEach(async () => {
    vi.restoreAllMocks();
    killChildren();
    redis?.disconnect();
    await tracker.stopAll();
    await t.cleanup();
  });

  function setup(name: string) {
    t = testApp({}, name);
    redis = rawRedis();
    const q = t.app.queue('work', { idleTimeout: 1000 });
    const task = q.task('hold', async (_ctx, key: string) => key);
    return { q, task, stream: `{${t.prefix}:work}:s:normal` };
  }

  it('hands a silent consumer\'s jobs back and forgets it', async () => {
    const { q, task, stream } = setup('stale');
    const jobs = await task.enqueueMany([['a'], ['b'], ['c']]);
    await t.app.broker.fetch(q, 'ghost', 3);
    await sleep(150);
    const out = await t.app.cleanupStaleWorkers(100);
    expect(out).toMatchObject({ workers: ['ghost'], jobs: 3, interrupted: [] });
    const consumers = (await redis.xinfo('CONSUMERS', stream, 'millrace')) as unknown[];
    expect(consumers).toEqual([]);
    await tracker.start(t.app);
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual(['a', 'b', 'c']);
  });

  it('loses nothing when the consumer reads again between the hand-back and its removal', async () => {
    const { q, task } = setup('race');
    const jobs = await task.enqueueMany([['a'], ['b']]);
    await t.app.broker.fetch(q, 'ghost', 1);
    await sleep(150);
    // The consumer comes back to life at the worst moment: right before it is deleted, it
    // takes the next waiting job. (A removal done apart from the hand-back drops that entry.)
    const conn = ((t.app.inspector as ShardInspector).inner as unknown as { conn: Redis }).conn;
    const xgroup = conn.xgroup.bind(conn) as (...a: unknown[]) => Promise<unknown>;
    vi.spyOn(conn, 'xgroup').mockImplementation(async (...args: unknown[]) => {
      if (String(args[0]).toUpperCase() === 'DELCONSUMER') await t.app.broker.fetch(q, 'ghost', 1);
      return xgroup(...args);
    });
    await t.app.cleanupStaleWorkers(100);
    await tracker.start(t.app);
    expect((await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).sort()).toEqual(['a', 'b']);
  });

  it('leaves alone a worker whose health record is current, however idle its consumer', async () => {
    const { q, task, stream } = setup('alive');
    const job = await task.enqueue('a');
    await t.app.broker.fetch(q, 'busy-worker', 1);
    await redis.set(healthKey(queueKeys(t.prefix, 'work', []), 'busy-worker'), '{}', 'PX', 10_000);
    await sleep(150);
    const out = await t.app.cleanupStaleWorkers(100);
    expect(out).toMatchObject({ workers: [], jobs: 0 });
    const pending = (await redis.xpending(stream, 'millrace')) as [number, ...unknown[]];
    expect(pending[0]).toBe(1);
    expect(await job.status()).toBe('active');
  });

  it("dead-letters an at-most-once job whose worker was killed as 'interrupted', and replay runs it", async () => {
    t = testApp({}, 'amo');
    redis = rawRedis();
    const dir = mkdtempSync(join(tmpdir(), 'millrace-janitor-'));
    const ledger = join(dir, 'ledger.txt');
    try {
      const q = t.app.queue('work', { idleTimeout: 1000 });
      q.task('hold_once', async (_ctx, key: string) => ({ key, tag: 'here', attempt: 1 }), { atMostOnce: true });
      const job = await t.app.enqueueByName('hold_once', ['once', 600_000], { queue: 'work' });
      const child = startCli(['worker', 'test/fixtures/recovery-worker.mts'], {
        MILLRACE_PREFIX: t.prefix, LEDGER: ledger, WORKER_TAG: 'A', MILLRACE_HEARTBEAT_INTERVAL: '0.5', MILLRACE_HEARTBEAT_TTL: '1.5',
        MILLRACE_HEALTH_FILE: 'false', MILLRACE_LOG_LEVEL: 'warn',
      });
      await waitFor(() => readLedger(ledger).some((l) => l.event === 'start'), { timeout: 15_000, what: 'the job running on the child' }).catch((e: Error) => {
        throw new Error(`${e.message}: ${child.stderr()}${child.stdout()}`);
      });
      child.proc.kill('SIGKILL');
      await child.exited;
      expect(await job.status()).toBe('active');
      // Known dead once its health record expired and its consumer stayed silent.
      const out = await waitFor(async () => {
        const r = await t.app.cleanupStaleWorkers(1500);
        return r.interrupted.length ? r : undefined;
      }, { timeout: 15_000, interval: 250, what: 'the interrupted job dead-lettered' });
      expect(out.interrupted).toEqual([job.id]);
      expect(await job.status()).toBe('failed');
      const err = await job.result({ timeout: 1000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobFailedError);
      expect((err as JobFailedError).errorName).toBe('WorkerLostError');
      const [entry] = await t.app.deadLetters('work').list();
      expect(entry).toMatchObject({ id: job.id, task: 'hold_once', reason: 'interrupted' });
      expect((await t.app.inspector.counts(q)).active).toBe(0);
      // An operator decides: replayed, it runs (here, in this process's worker).
      await t.app.deadLetters('work').replay(entry!.dlqId);
      await tracker.start(t.app);
      expect(await job.result({ timeout: 5000 })).toMatchObject({ key: 'once', tag: 'here' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
