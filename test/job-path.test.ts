// Nothing in a job's path kills its worker or strands the job: a Redis that refuses writes
// (a failover's READONLY, a client out of retries), a result the serializer cannot encode, a
// listener that throws, a handler that throws something that is not an Error, and a worker
// whose event loop is blocked past the idle timeout.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Millrace, type Worker } from '../src/index.js';
import { RedisServer } from '../support/redis-server.js';
import { TcpProxy } from '../chaos/lib/proxy.js';
import { testApp, uniquePrefix, waitFor, workers, type TestApp } from './helpers.js';

const tracker = workers({ healthFile: false });

describe('the job path on a Redis that refuses writes', () => {
  let server: RedisServer;
  const apps: Millrace<Record<string, never>>[] = [];
  beforeAll(async () => {
    for (const k of ['REDIS_URL', 'MILLRACE_REDIS_URL', 'REDIS_URL_LOCAL', 'MILLRACE_REDIS_URL_LOCAL']) delete process.env[k];
    server = await RedisServer.start();
  });
  afterEach(async () => {
    const admin = server.client();
    await admin.replicaof('NO', 'ONE').catch(() => undefined);
    admin.disconnect();
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await server.stop();
  });

  /** Makes the private server a replica of nothing (writes answer READONLY), runs fn, then a master again. */
  async function whileReadOnly(fn: () => Promise<void>): Promise<void> {
    const admin = server.client();
    try {
      // A master that cannot be reached: the data stays, writes are refused.
      await admin.replicaof('127.0.0.1', '1');
      await fn();
    } finally {
      await admin.replicaof('NO', 'ONE');
      admin.disconnect();
    }
  }

  function app(options: { maxRetriesPerRequest?: number } = {}) {
    const a = new Millrace({ redis: { url: server.url, ...options }, prefix: uniquePrefix('ro'), logLevel: 'silent' });
    apps.push(a);
    return a;
  }

  it('keeps a completion, a retry and an at-most-once take through READONLY, and records them once Redis takes writes', async () => {
    const a = app();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runs: string[] = [];
    const q = a.queue('q', { concurrency: 2, prefetch: 1 });
    const ok = q.task('ok', async () => {
      runs.push('ok');
      await gate;
      return 'done';
    });
    const flaky = q.task('flaky', async (ctx) => {
      runs.push(`flaky${ctx.attempt}`);
      if (ctx.attempt === 1) {
        await gate;
        throw new Error('first attempt fails');
      }
      return 'second';
    }, { maxTries: 2, backoff: { type: 'fixed', base: 10 } });
    const once = q.task('once', async () => {
      runs.push('once');
      return 'taken';
    }, { atMostOnce: true });
    const worker = await tracker.start(a, { concurrency: 2, prefetch: 1 });
    const j1 = await ok.enqueue();
    const j2 = await flaky.enqueue();
    await waitFor(() => runs.length === 2, { what: 'both jobs running' });
    // Prefetched behind them: it is taken (a write) only when a slot frees.
    const j3 = await once.enqueue();
    await waitFor(() => worker.stats().queues.q!.held === 3, { what: 'the at-most-once job prefetched' });
    await whileReadOnly(async () => {
      release();
      await new Promise((r) => setTimeout(r, 800));
      // Nothing could be written: the jobs are still the worker's, and it is alive.
      expect(await j1.status()).toBe('active');
      expect(runs).not.toContain('once');
      expect(worker.status).toBe('running');
    });
    expect(await j1.result({ timeout: 10_000 })).toBe('done');
    expect(await j2.result({ timeout: 10_000 })).toBe('second');
    expect(await j3.result({ timeout: 10_000 })).toBe('taken');
    expect(runs.sort()).toEqual(['flaky1', 'flaky2', 'ok', 'once']);
  });

  it('survives a client out of retries (MaxRetriesPerRequestError) while it records outcomes', async () => {
    // One retry per command: a short cut is enough to exhaust it.
    const proxy = await TcpProxy.start(server.port);
    try {
      const a = new Millrace({ redis: { url: proxy.url, maxRetriesPerRequest: 1 }, prefix: uniquePrefix('cut'), logLevel: 'silent' });
      apps.push(a);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const q = a.queue('q', { idleTimeout: 10_000, concurrency: 2 });
      const ok = q.task('ok', async () => {
        await gate;
        return 'late';
      });
      const flaky = q.task('flaky', async (ctx) => {
        if (ctx.attempt === 1) {
          await gate;
          throw new Error('first attempt fails');
        }
        return 'second';
      }, { maxTries: 2, backoff: { type: 'fixed', base: 10 } });
      const worker = await tracker.start(a, { concurrency: 2 });
      const j1 = await ok.enqueue();
      const j2 = await flaky.enqueue();
      await waitFor(() => worker.stats().queues.q!.running === 2, { what: 'both jobs running' });
      proxy.cut();
      release();
      await new Promise((r) => setTimeout(r, 1500));
      expect(worker.status).toBe('running');
      proxy.restore();
      expect(await j1.result({ timeout: 15_000 })).toBe('late');
      expect(await j2.result({ timeout: 15_000 })).toBe('second');
      await tracker.stopAll();
    } finally {
      await proxy.close();
    }
  });
});

describe('user code that misbehaves', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(async () => {
    await tracker.stopAll();
    await t.cleanup();
  });

  it('fails an attempt whose result cannot be encoded, with the encoding error, and keeps the worker', async () => {
    t = testApp({}, 'encode');
    const q = t.app.queue('q');
    const big = q.task('big', async () => 10n as unknown as number, { maxTries: 2, backoff: { type: 'fixed', base: 10 } });
    const fine = q.task('fine', async () => 'ok');
    const worker = await tracker.start(t.app);
    const job = await big.enqueue();
    await expect(job.result({ timeout: 10_000 })).rejects.toThrow(/ResultEncodingError.*could not be encoded.*BigInt/);
    const [entry] = await t.app.deadLetters('q').list();
    expect(entry).toMatchObject({ id: job.id, reason: 'max-tries', attempts: 2 });
    expect(await (await fine.enqueue()).result({ timeout: 5000 })).toBe('ok');
    expect(worker.status).toBe('running');
  });

  it('contains a listener that throws (or rejects): the job completes and the worker goes on', async () => {
    t = testApp({}, 'listener');
    const task = t.app.queue('q', { concurrency: 1 }).task('t', async (_ctx, n: number) => n * 2);
    const worker = await tracker.start(t.app, { concurrency: 1 });
    worker.on('job.completed', () => {
      throw new Error('listener bug');
    });
    worker.on('job.started', async () => {
      throw new Error('async listener bug');
    });
    const jobs = [await task.enqueue(1), await task.enqueue(2), await task.enqueue(3)];
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual([2, 4, 6]);
    for (const j of jobs) expect(await j.status()).toBe('completed');
    expect(worker.stats().queues.q!.completed).toBe(3);
  });

  it('records what a handler throws whatever it is: a symbol, null, a cycle, a hostile object', async () => {
    t = testApp({}, 'throws');
    const cyclic: Record<string, unknown> = { kind: 'cyclic' };
    cyclic.self = cyclic;
    const hostile = new Proxy({}, { getPrototypeOf: () => { throw new Error('trap'); }, get: () => { throw new Error('trap'); }, has: () => { throw new Error('trap'); } });
    const values: Record<string, unknown> = { symbol: Symbol('boom'), nothing: null, undef: undefined, cyclic, hostile, text: 'plain text' };
    const q = t.app.queue('q');
    const task = q.task('t', async (_ctx, which: string) => {
      throw values[which];
    }, { maxTries: 1 });
    await tracker.start(t.app);
    const messages: Record<string, string> = {};
    for (const which of Object.keys(values)) {
      const job = await task.enqueue(which);
      const err = await job.result({ timeout: 5000 }).then(() => undefined, (e: Error) => e);
      messages[which] = err?.message ?? 'no error';
    }
    expect(messages.symbol).toMatch(/non-error thrown: Symbol\(boom\)/);
    expect(messages.nothing).toMatch(/non-error thrown: null/);
    expect(messages.undef).toMatch(/non-error thrown: undefined/);
    expect(messages.cyclic).toMatch(/non-error thrown: {"kind":"cyclic","self":"\[Circular\]"}/);
    expect(messages.hostile).toMatch(/non-error thrown/);
    expect(messages.text).toMatch(/plain text/);
    expect(await t.app.deadLetters('q').count()).toBe(6);
  });

  for (const [label, maxRecoveries, blocks] of [
    ['default maxRecoveries, five blocks at different timer phases', 3, [100, 170, 260, 330, 410].map((pause) => ({ pause, ms: 1200 }))],
    ['maxRecoveries 1, one block past 3 idle timeouts', 1, [{ pause: 100, ms: 3600 }]],
  ] as const) {
    it(`lets an attempt whose worker blocked its event loop past the idle timeout finish under its lease (${label})`, { timeout: 30_000 }, async () => {
      t = testApp({}, 'blocked');
      const runs: number[] = [];
      const task = t.app.queue('q', { idleTimeout: 1000, maxRecoveries }).task('busy', async (ctx) => {
        runs.push(ctx.attempt);
        for (const b of blocks) {
          await new Promise((r) => setTimeout(r, b.pause));
          const until = Date.now() + b.ms;
          while (Date.now() < until) { /* the whole process is blocked */ }
        }
        await new Promise((r) => setTimeout(r, 600));
        return 'finished';
      });
      const worker: Worker = await tracker.start(t.app);
      const job = await task.enqueue();
      expect(await job.result({ timeout: 20_000 })).toBe('finished');
      expect(runs).toEqual([1]);
      expect(await t.app.deadLetters('q').count()).toBe(0);
      expect(worker.stats().queues.q).toMatchObject({ completed: 1, aborted: 0, deadLettered: 0 });
    });
  }
});
