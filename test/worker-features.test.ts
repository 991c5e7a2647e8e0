// Worker features: lifespan deps and hooks, execution middleware, the concurrency limit,
// serializers, signing, at-most-once tasks and worker stats.

import { afterEach, describe, expect, it } from 'vitest';
import type { Worker } from '../src/index.js';
import { rawRedis, testApp, waitFor } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker features', () => {
  let cleanup: (() => Promise<void>) | undefined;
  let worker: Worker | undefined;

  afterEach(async () => {
    await worker?.stop({ grace: 1000 });
    worker = undefined;
    await cleanup?.();
    cleanup = undefined;
  });

  async function run(w: Worker): Promise<Worker> {
    worker = w;
    await w.start();
    return w;
  }

  it('passes lifespan deps to ctx.deps, runs hooks, and tears down at stop', async () => {
    const events: string[] = [];
    interface Deps { db: { query(n: number): number }; name: string }
    const t = testApp<Deps>({
      lifespan: async function* () {
        events.push('setup');
        try {
          yield { db: { query: (n: number) => n * 2 }, name: 'deps-1' };
        } finally {
          events.push('teardown');
        }
      },
      onStartup: (deps) => void events.push(`startup:${deps.name}`),
      onShutdown: [(deps) => void events.push(`shutdown:${deps.name}`), async () => void events.push('shutdown2')],
    }, 'features');
    cleanup = t.cleanup;
    const task = t.app.queue('q', { idleTimeout: 2000 }).task('useDb', async (ctx, n: number) => `${ctx.deps.name}:${ctx.deps.db.query(n)}`);
    const w = await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    expect(events).toEqual(['setup', 'startup:deps-1']);

    expect(await (await task.enqueue(21)).result({ timeout: 5000 })).toBe('deps-1:42');
    await w.stop();
    expect(events).toEqual(['setup', 'startup:deps-1', 'shutdown:deps-1', 'shutdown2', 'teardown']);
  });

  it('wraps the handler in execution middleware, first registered outermost', async () => {
    const order: string[] = [];
    const t = testApp({
      middleware: [{
        execute: async (ctx, next) => {
          order.push(`a:before:${ctx.task}`);
          const v = await next();
          order.push('a:after');
          return `a(${String(v)})`;
        },
      }],
    }, 'features');
    cleanup = t.cleanup;
    t.app.use({
      execute: async (ctx, next) => {
        order.push(`b:before:${ctx.attempt}`);
        const v = await next();
        order.push('b:after');
        return `b(${String(v)})`;
      },
    });
    const task = t.app.queue('q', { idleTimeout: 2000 }).task('core', async () => {
      order.push('handler');
      return 'core';
    });
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    expect(await (await task.enqueue()).result({ timeout: 5000 })).toBe('a(b(core))');
    expect(order).toEqual(['a:before:core', 'b:before:1', 'handler', 'b:after', 'a:after']);
  });

  it('never runs more jobs at once than the concurrency', async () => {
    const t = testApp({}, 'features');
    cleanup = t.cleanup;
    let now = 0;
    let max = 0;
    const task = t.app.queue('q', { idleTimeout: 2000, concurrency: 3, prefetch: 5 }).task('busy', async (_ctx, i: number) => {
      now++;
      max = Math.max(max, now);
      await sleep(60);
      now--;
      return i;
    });
    const jobs = await task.enqueueMany(Array.from({ length: 12 }, (_, i) => [i] as [number]));
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    const results = await Promise.all(jobs.map((j) => j.result({ timeout: 10_000 })));
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(max).toBe(3);
  });


  it('fetches a wide window half at a time and a narrow one whole', async () => {
    const t = testApp({}, 'features');
    cleanup = t.cleanup;
    const wide = t.app.queue('wide', { concurrency: 40 }).task('noop', async () => {}); // window 80
    const narrow = t.app.queue('narrow', { concurrency: 4 }).task('noop', async () => {}); // window 8
    await wide.enqueueMany(Array.from({ length: 400 }, () => [] as []));
    await narrow.enqueueMany(Array.from({ length: 40 }, () => [] as []));
    const asked: Record<string, number[]> = { wide: [], narrow: [] };
    const fetch = t.app.broker.fetch.bind(t.app.broker);
    t.app.broker.fetch = (queue, consumer, count) => {
      asked[queue.name]!.push(count);
      return fetch(queue, consumer, count);
    };
    const w = await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    await waitFor(() => w.stats().queues.wide?.completed === 400 && w.stats().queues.narrow?.completed === 40, { what: '440 jobs completed' });
    expect(Math.max(...asked.wide!)).toBe(40);
    expect(Math.max(...asked.narrow!)).toBe(8);
  });
  it('round-trips dates, buffers and nested values with msgpack', async () => {
    const t = testApp({ serializer: 'msgpack' }, 'features');
    cleanup = t.cleanup;
    const task = t.app.queue('q', { idleTimeout: 2000 }).task('echo', async (_ctx, when: Date, bytes: Buffer, nested: { a: number[]; b: { c: string | null } }) => ({
      when, bytes, nested, seen: [when instanceof Date, Buffer.isBuffer(bytes)],
    }));
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    const when = new Date('2024-02-29T12:34:56.789Z');
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13]);
    const nested = { a: [1, 2, 3], b: { c: null } };
    const out = await (await task.enqueue(when, bytes, nested)).result({ timeout: 5000 });
    expect(out.seen).toEqual([true, true]);
    expect(out.when).toBeInstanceOf(Date);
    expect(out.when.getTime()).toBe(when.getTime());
    expect(Buffer.from(out.bytes).equals(bytes)).toBe(true);
    expect(out.nested).toEqual(nested);
  });

  it('uses a custom encode/decode pair for arguments and results', async () => {
    let encoded = 0;
    let decoded = 0;
    const t = testApp({
      serializer: {
        name: 'b64json',
        encode: (v) => {
          encoded++;
          return `b64:${Buffer.from(JSON.stringify(v ?? null)).toString('base64')}`;
        },
        decode: (raw) => {
          decoded++;
          const s = String(raw);
          if (!s.startsWith('b64:')) throw new Error('not b64json');
          return JSON.parse(Buffer.from(s.slice(4), 'base64').toString());
        },
      },
    }, 'features');
    cleanup = t.cleanup;
    const task = t.app.queue('q', { idleTimeout: 2000 }).task('greet', async (_ctx, who: { name: string }) => `hi ${who.name}`);
    const job = await task.enqueue({ name: 'ada' });
    // On the wire (before any worker reads it) the arguments are in the custom format.
    const redis = rawRedis();
    try {
      const [entry] = await redis.xrange(`{${t.prefix}:q}:s:normal`, job.id, job.id);
      const fields = entry![1];
      expect(fields[fields.indexOf('d') + 1]).toBe(`b64:${Buffer.from('[{"name":"ada"}]').toString('base64')}`);
    } finally {
      redis.disconnect();
    }
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    expect(await job.result({ timeout: 5000 })).toBe('hi ada');
    expect(encoded).toBe(2);
    expect(decoded).toBe(2);
  });

  it('runs signed jobs end to end with a signing secret', async () => {
    const t = testApp({ signingSecret: 'top-secret' }, 'features');
    cleanup = t.cleanup;
    const task = t.app.queue('q', { idleTimeout: 2000 }).task('sum', async (_ctx, xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const job = await task.with({ id: 'signed-1', timeout: 5000 }).enqueue([1, 2, 3]);
    // Plain jobs: the first goes the long way, the next the short one (each signed over its data).
    const plain = [await task.enqueue([4]), await task.enqueue([5, 6])];
    const redis = rawRedis();
    try {
      const header = await waitFor(async () => {
        const entries = await redis.xrange(`{${t.prefix}:q}:s:normal`, '-', '+');
        return entries[0]?.[1][1];
      });
      // "id|task|attempt|sig|opts" with a non-empty signature.
      expect(header.split('|')[3]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    } finally {
      redis.disconnect();
    }
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    expect(await job.result({ timeout: 5000 })).toBe(6);
    expect(await Promise.all(plain.map((j) => j.result({ timeout: 5000 })))).toEqual([4, 11]);
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('removes an at-most-once job from the stream before running it, and never retries it', async () => {
    const t = testApp({}, 'features');
    cleanup = t.cleanup;
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const stream = `{${t.prefix}:q}:s:normal`;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const once = q.task('once', async (_ctx, fail: boolean) => {
      runs++;
      await gate;
      if (fail) throw new Error('once failed');
      return 'ok';
    }, { atMostOnce: true, maxTries: 3, backoff: { type: 'fixed', base: 10, jitter: false } });
    await run(t.app.worker({ handleSignals: false, blockTime: 1000 }));
    const redis = rawRedis();
    try {
      const job = await once.enqueue(false);
      await waitFor(() => runs === 1, { what: 'the job to start' });
      expect(await redis.xlen(stream)).toBe(0);
      expect(await redis.xrange(stream, job.id, job.id)).toEqual([]);
      expect(await job.status()).toBe('active');
      release();
      expect(await job.result({ timeout: 5000 })).toBe('ok');

      const failing = await once.enqueue(true);
      await expect(failing.result({ timeout: 5000 })).rejects.toMatchObject({ name: 'JobFailedError', attempts: 1 });
      expect(runs).toBe(2);
      expect(await failing.status()).toBe('failed');
      const [entry] = await t.app.deadLetters('q').list();
      expect(entry).toMatchObject({ id: failing.id, attempts: 1, task: 'once' });
      expect(worker!.stats().queues.q!.retried).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('counts processed, completed, failed and retried jobs in stats()', async () => {
    const t = testApp({}, 'features');
    cleanup = t.cleanup;
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const ok = q.task('ok', async () => 1);
    const bad = q.task('bad', async () => {
      throw new Error('bad');
    }, { maxTries: 2, backoff: { type: 'fixed', base: 10, jitter: false } });
    const w = await run(t.app.worker({ handleSignals: false, schedulerInterval: 50, blockTime: 1000 }));
    expect(w.stats().queues.q).toMatchObject({ processed: 0, completed: 0, failed: 0, retried: 0 });
    const jobs = [await ok.enqueue(), await ok.enqueue(), await bad.enqueue()];
    await Promise.allSettled(jobs.map((j) => j.result({ timeout: 5000 })));
    // 2 completions + 2 attempts of `bad` (one retried, one failed for good).
    await waitFor(() => w.stats().queues.q!.processed === 4, { what: 'four processed attempts' });
    expect(w.stats().queues.q).toMatchObject({ processed: 4, completed: 2, failed: 1, retried: 1, deadLettered: 1, running: 0 });
    expect(w.stats().id).toBe(w.id);
    expect(w.stats().startedAt).toBeGreaterThan(0);
  });
});
