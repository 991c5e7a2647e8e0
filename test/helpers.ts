// Test helpers: an app with its own key prefix on the real Redis, removal of that prefix's
// keys afterwards (the shared server is never flushed), workers stopped after each test, and
// waiting on conditions.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '../src/testing/prefix.js';
import { Millrace, type MillraceOptions, type Worker, type WorkerOptions } from '../src/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniquePrefix(name = 't'): string {
  return `mrtest-${name}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under a prefix: the queue keys `{prefix:queue}:...` and `prefix:...`. */
export async function removeKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    return await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

export interface TestApp<D> {
  app: Millrace<D>;
  prefix: string;
  /** Closes the app and removes its keys. */
  cleanup(): Promise<void>;
}

/** A Millrace app on the test Redis with a fresh prefix. */
export function testApp<D = Record<string, never>>(options: MillraceOptions<D> = {}, name = 't'): TestApp<D> {
  const prefix = options.prefix ?? uniquePrefix(name);
  const app = new Millrace<D>({ redis: REDIS_URL, ...options, prefix });
  return {
    app,
    prefix,
    cleanup: async () => {
      await app.close();
      await removeKeys(prefix);
    },
  };
}

export interface WorkerTracker {
  /** Starts a worker (signals not handled, blockTime 1 s, then the tracker's defaults and `options`). */
  start<D>(app: Millrace<D>, options?: WorkerOptions): Promise<Worker>;
  /** The worker started last. */
  readonly last: Worker | undefined;
  /** Stops every started worker (grace 1 s); call it in afterEach. */
  stopAll(): Promise<void>;
}

/** Keeps the workers a test starts so that afterEach can stop them all. */
export function workers(defaults: WorkerOptions = {}): WorkerTracker {
  const started: Worker[] = [];
  return {
    async start(app, options = {}) {
      const w = app.worker({ handleSignals: false, blockTime: 1000, ...defaults, ...options });
      started.push(w); // before start(), so a worker that fails to start is still stopped
      await w.start();
      return w;
    },
    get last() {
      return started.at(-1);
    },
    async stopAll() {
      await Promise.all(started.splice(0).map((w) => w.stop({ grace: 1000 })));
    },
  };
}

/** Resolves when `check` returns a truthy value (polled), or rejects after `timeout` ms. */
export async function waitFor<T>(check: () => T | Promise<T>, { timeout = 10_000, interval = 20, what = 'condition' } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A raw Redis connection for tampering with and inspecting keys in tests. */
export function rawRedis(): Redis {
  return new Redis(REDIS_URL);
}

/**
 * Apps a test makes on the test Redis, and its workers, all stopped and removed by cleanup()
 * (call it in afterEach): `app(name)` a fresh prefix, `outsider(prefix)` another process's view
 * of the same prefix (an app that defines no queue: another service, the CLI).
 */
export function testApps() {
  const made: TestApp<Record<string, never>>[] = [];
  const others: Millrace<Record<string, never>>[] = [];
  const tracker = workers();
  return {
    tracker,
    app(name: string): TestApp<Record<string, never>> {
      const t = testApp({}, name);
      made.push(t);
      return t;
    },
    outsider(prefix: string): Millrace<Record<string, never>> {
      const a = new Millrace<Record<string, never>>({ redis: REDIS_URL, prefix });
      others.push(a);
      return a;
    },
    async cleanup(): Promise<void> {
      await tracker.stopAll();
      await Promise.all(others.splice(0).map((a) => a.close()));
      await Promise.all(made.splice(0).map((t) => t.cleanup()));
    },
  };
}
