// The memory broker: the real worker and client run against `broker: 'memory'` (or a
// MemoryBroker on a ManualClock) end to end, with no Redis. Time is the manual clock's: nothing
// here sleeps to wait for a state; tests wait on results, events and promises.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { baseBroker } from '../src/shards/broker.js';
import type { ShardInspector } from '../src/shards/inspector.js';
import {
  ConfigError, JobAbortedError, JobFailedError, JobNotFoundError, JobTimeoutError, LeaseLostError, ManualClock, MemoryBroker,
  MemoryInspector, Millrace, type EventOf, type EventType, type MillraceOptions, type Worker, type WorkerOptions,
} from '../src/index.js';
import { encodeResult } from '../src/results.js';

// No test of this file may open a Redis connection: constructing one fails.
vi.mock('ioredis', () => {
  class NoRedis {
    constructor() {
      throw new Error('the memory broker must not open a Redis connection');
    }
  }
  return { Redis: NoRedis, Cluster: NoRedis, default: NoRedis };
});

const START = Date.UTC(2030, 0, 1, 0, 0, 30);

const apps: Millrace<Record<string, never>>[] = [];
const started: Worker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.stop({ grace: 500 })));
  for (const app of apps.splice(0)) await app.close();
});

/** An app on a MemoryBroker with a manual clock. */
function memoryApp(options: MillraceOptions<Record<string, never>> = {}) {
  const clock = new ManualClock(START);
  const broker = new MemoryBroker({ clock });
  const app = new Millrace({ logLevel: 'silent', ...options, broker });
  apps.push(app);
  return { app, clock, broker };
}

async function startWorker(app: Millrace<Record<string, never>>, options: WorkerOptions = {}): Promise<Worker> {
  const w = app.worker({ handleSignals: false, healthFile: false, blockTime: 60_000, ...options });
  started.push(w);
  await w.start();
  return w;
}

/** The next event of a type from a worker. */
function next<K extends EventType>(worker: Worker, type: K): Promise<EventOf<K>> {
  return new Promise((resolve) => {
    const off = worker.on(type, (e) => {
      off();
      resolve(e);
    });
  });
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Rejects with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
}

describe('memory broker: wiring', () => {
  it("gives 'memory' apps a memory broker and inspector, and refuses other values", async () => {
    const app = new Millrace({ broker: 'memory', logLevel: 'silent' });
    apps.push(app);
    expect(baseBroker(app.broker)).toBeInstanceOf(MemoryBroker);
    expect((app.inspector as ShardInspector).inner).toBeInstanceOf(MemoryInspector);
    expect(app.broker).toBe(app.broker);
    const task = app.queue('q').task('add', async (_ctx, a: number, b: number) => a + b);
    await startWorker(app);
    expect(await (await task.enqueue(2, 3)).result({ timeout: 5000 })).toBe(5);
    expect(await app.broker.ping()).toBe(0);
    expect(() => new Millrace({ broker: 'sqlite' as never })).toThrow(ConfigError);
  });

  it('answers the time of its clock, and keeps its data over app.close()', async () => {
    const { app, clock } = memoryApp();
    const task = app.queue('q').task('t', async () => 1);
    expect(await app.broker.time()).toBe(START);
    await clock.advance('1s');
    expect(await app.broker.serverNow()).toBe(START + 1000);
    const job = await task.enqueue();
    expect(job.id).toBe(`${START + 1000}-0`);
    await app.close();
    expect(await job.status()).toBe('waiting');
  });
});

describe('memory broker: the job path', () => {
  it('completes a job whose result() was awaited before any worker ran', async () => {
    const { app } = memoryApp();
    const task = app.queue('q').task('greet', async (_ctx, name: string) => `hello ${name}`);
    const job = await task.enqueue('ada');
    const result = job.result({ timeout: 5000 });
    await startWorker(app);
    expect(await result).toBe('hello ada');
    expect(await job.status()).toBe('completed');
  });

  it('runs jobs highest priority first', async () => {
    const { app } = memoryApp();
    const ran: string[] = [];
    const task = app.queue('q', { concurrency: 1 }).task('p', async (_ctx, name: string) => void ran.push(name));
    const jobs = [];
    for (const priority of ['low', 'normal', 'high', 'critical', 'normal']) jobs.push(await task.with({ priority }).enqueue(priority));
    await startWorker(app);
    for (const j of jobs) await j.result({ timeout: 5000 });
    expect(ran).toEqual(['critical', 'high', 'normal', 'normal', 'low']);
  });

  it('runs a delayed job only once the clock passed its due time, never early', async () => {
    const { app, clock } = memoryApp();
    let runs = 0;
    const task = app.queue('q').task('later', async () => ++runs);
    await startWorker(app);
    const job = await task.with({ delay: '10m' }).enqueue();
    expect(await job.status()).toBe('delayed');
    expect((await job.info()).dueAt).toBe(START + 600_000);
    await clock.advance(600_000 - 1);
    expect(await app.inspector.counts(app.queues.get('q')!)).toMatchObject({ delayed: 1, waiting: { normal: 0 } });
    expect(await job.status()).toBe('delayed');
    await clock.advance(1);
    expect(await job.result({ timeout: 5000 })).toBe(1);
    expect(runs).toBe(1);
  });

  it('removes a delayed job with unschedule()', async () => {
    const { app } = memoryApp();
    const task = app.queue('q').task('later', async () => 1);
    const job = await task.with({ delay: '1h' }).enqueue();
    expect(await job.unschedule()).toBe(true);
    expect(await job.status()).toBe('unknown');
    expect(await job.unschedule()).toBe(false);
  });

  it('retries a failed attempt after its backoff on the clock, then succeeds', async () => {
    const { app, clock } = memoryApp();
    const attempts: number[] = [];
    const task = app.queue('q').task('flaky', async (ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('first try fails');
      return 'ok';
    }, { backoff: { type: 'fixed', base: '5s', jitter: false } });
    const worker = await startWorker(app);
    const retried = next(worker, 'job.retried');
    const job = await task.enqueue();
    expect(await retried).toMatchObject({ id: job.id, attempt: 1, delayMs: 5000, error: 'Error: first try fails' });
    expect(await job.info()).toMatchObject({ status: 'delayed', dueAt: START + 5000, lastError: 'Error: first try fails', attempts: 1 });
    await clock.advance(4999);
    expect(await job.status()).toBe('delayed');
    await clock.advance(1);
    expect(await job.result({ timeout: 5000 })).toBe('ok');
    expect(attempts).toEqual([1, 2]);
    expect((await job.info()).attempts).toBe(2);
  });

  it('dead-letters a job after maxTries with its reason, and replays it from the DLQ', async () => {
    const { app, clock } = memoryApp();
    let fixed = false;
    const task = app.queue('q').task('boom', async () => {
      if (!fixed) throw new Error('boom');
      return 'fixed';
    }, { maxTries: 2, backoff: { type: 'fixed', base: 1000, jitter: false } });
    const worker = await startWorker(app);
    const retried = next(worker, 'job.retried');
    const job = await task.enqueue();
    await retried;
    await clock.advance(1000);
    await expect(job.result({ timeout: 5000 })).rejects.toMatchObject({ name: 'JobFailedError', attempts: 2 });
    const dlq = app.deadLetters('q');
    const [entry] = await dlq.list();
    expect(entry).toMatchObject({ id: job.id, task: 'boom', queue: 'q', reason: 'max-tries', attempts: 2, worker: worker.id, error: 'Error: boom', failedAt: START + 1000 });
    expect(await dlq.show(entry!.dlqId)).toEqual(entry);
    expect(await dlq.count()).toBe(1);
    fixed = true;
    expect(await dlq.replay(entry!.dlqId, { resetAttempts: true })).toEqual([job.id]);
    expect(await dlq.count()).toBe(0);
    expect(await job.result({ timeout: 5000 })).toBe('fixed');
  });

  it('deletes and purges DLQ entries', async () => {
    const { app } = memoryApp();
    const task = app.queue('q').task('bad', async () => {
      throw new Error('no');
    }, { maxTries: 1 });
    await startWorker(app);
    const jobs = await Promise.all([task.enqueue(), task.enqueue(), task.enqueue()]);
    for (const j of jobs) await expect(j.result({ timeout: 5000 })).rejects.toThrow(JobFailedError);
    const dlq = app.deadLetters('q');
    const list = await dlq.list();
    expect(list.map((e) => e.id).sort()).toEqual(jobs.map((j) => j.id).sort());
    expect(await dlq.list({ after: list[0]!.dlqId })).toHaveLength(2);
    expect(await dlq.delete(list[0]!.dlqId)).toBe(1);
    expect(await dlq.purge()).toBe(2);
    expect(await dlq.count()).toBe(0);
  });

  it('enqueues a custom id once, while it waits and while its result is kept', async () => {
    const { app } = memoryApp();
    let runs = 0;
    const task = app.queue('q').task('once', async () => ++runs);
    const first = await task.with({ id: 'order-1' }).enqueue();
    const again = await task.with({ id: 'order-1' }).enqueue();
    expect([first.id, first.created, again.id, again.created]).toEqual(['order-1', true, 'order-1', false]);
    await startWorker(app);
    expect(await first.result({ timeout: 5000 })).toBe(1);
    expect((await task.with({ id: 'order-1' }).enqueue()).created).toBe(false);
    expect(runs).toBe(1);
  });
});

describe('memory broker: aborts, timeouts, at-most-once', () => {
  it('aborts a waiting job and a delayed job before they start', async () => {
    const { app } = memoryApp();
    const task = app.queue('q').task('t', async () => 1);
    const waiting = await task.enqueue();
    const delayed = await task.with({ delay: '1h' }).enqueue();
    expect(await waiting.abort()).toBe('aborted');
    expect(await delayed.abort()).toBe('aborted');
    expect(await waiting.abort()).toBe('finished');
    expect(await app.job('q', 'nope-id').abort()).toBe('not_found');
    await expect(waiting.result({ timeout: 1000 })).rejects.toThrow(JobAbortedError);
    await expect(delayed.result({ timeout: 1000 })).rejects.toThrow(JobAbortedError);
    expect(await app.inspector.counts(app.queues.get('q')!)).toMatchObject({ waiting: { normal: 0 }, delayed: 0, active: 0 });
    expect(await delayed.info()).toMatchObject({ status: 'aborted', task: 't', priority: 'normal', args: [] });
  });

  it('aborts a running job through its signal (the onAbort listener)', async () => {
    const { app } = memoryApp();
    const running = deferred();
    const task = app.queue('q').task('long', async (ctx) => {
      running.resolve();
      return aborted(ctx.signal);
    });
    await startWorker(app);
    const job = await task.enqueue();
    await running.promise;
    expect(await job.abort()).toBe('aborting');
    await expect(job.result({ timeout: 5000 })).rejects.toThrow(JobAbortedError);
    expect(await job.status()).toBe('aborted');
  });

  it('aborts an attempt once the clock passes its timeout and dead-letters it with reason timeout', async () => {
    const { app, clock } = memoryApp();
    let reason: unknown;
    const running = deferred();
    const task = app.queue('q').task('slow', async (ctx) => {
      ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
      running.resolve();
      return aborted(ctx.signal);
    }, { timeout: '10m', maxTries: 1 });
    await startWorker(app);
    const job = await task.enqueue();
    await running.promise;
    // The timeout runs on the broker's clock: ten minutes of real time would never end it.
    await clock.advance('10m');
    await expect(job.result({ timeout: 5000 })).rejects.toThrow(/JobTimeoutError/);
    expect(reason).toBeInstanceOf(JobTimeoutError);
    expect((await app.deadLetters('q').list())[0]).toMatchObject({ id: job.id, reason: 'timeout' });
  });

  it('takes an at-most-once job off its stream before it runs and never retries it', async () => {
    const { app } = memoryApp();
    const q = app.queue('q');
    const gate = deferred();
    const running = deferred();
    const once = q.task('once', async (_ctx, fail: boolean) => {
      running.resolve();
      await gate.promise;
      if (fail) throw new Error('once failed');
      return 'ok';
    }, { atMostOnce: true, maxTries: 3 });
    const worker = await startWorker(app);
    const job = await once.enqueue(false);
    await running.promise;
    expect(await app.inspector.counts(q)).toMatchObject({ active: 1, waiting: { normal: 0 } });
    expect(await app.listJobs('q', 'active')).toMatchObject([{ id: job.id, owner: worker.id }]);
    expect(await job.status()).toBe('active');
    gate.resolve();
    expect(await job.result({ timeout: 5000 })).toBe('ok');
    const failing = await once.enqueue(true);
    await expect(failing.result({ timeout: 5000 })).rejects.toMatchObject({ name: 'JobFailedError', attempts: 1 });
    expect((await app.deadLetters('q').list())[0]).toMatchObject({ id: failing.id, reason: 'at-most-once', attempts: 1 });
    expect(worker.stats().queues.q!.retried).toBe(0);
    expect(await failing.info()).toMatchObject({ status: 'failed', args: [true] });
  });
});

describe('memory broker: leases and recovery', () => {
  it('keeps a live worker\'s lease over a jump of the clock, and refuses its late outcome once another consumer took the job', async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q', { idleTimeout: 1000 });
    const gate = deferred();
    const running = deferred();
    const lost = deferred<unknown>();
    const task = q.task('held', async (ctx) => {
      ctx.signal.addEventListener('abort', () => lost.resolve(ctx.signal.reason));
      running.resolve();
      await gate.promise;
      return 'late';
    });
    const worker = await startWorker(app);
    const job = await task.enqueue();
    await running.promise;
    // Nothing is idle on a healthy worker until the clock moves past the idle timeout.
    expect((await app.broker.reclaim(q, 'thief', { minIdleMs: 1000, count: 10, maxRecoveries: 3, ttl: 60 })).claimed).toEqual([]);
    // A jump past the idle timeout renews the running job's lease (as a worker that kept running would).
    await clock.advance(1500);
    expect((await app.broker.reclaim(q, 'thief', { minIdleMs: 1000, count: 10, maxRecoveries: 3, ttl: 60 })).claimed).toEqual([]);
    // A consumer that takes it anyway (as after a blocked event loop) fences the running worker out.
    const { claimed } = await app.broker.reclaim(q, 'thief', { minIdleMs: 0, count: 10, maxRecoveries: 3, ttl: 60 });
    expect(claimed).toMatchObject([{ entry: job.id, token: '2', deaths: 1 }]);
    // The running worker finds out at its next renewal, a third of the idle timeout later.
    await clock.advance(334);
    expect(await lost.promise).toBeInstanceOf(LeaseLostError);
    gate.resolve();
    const late = { level: 1, entry: job.id, token: '1', header: undefined, data: undefined };
    const record = (value: string) => encodeResult('completed', { task: 'held', attempts: 1 }, JSON.stringify(value));
    expect(await app.broker.complete(q, worker.id, [{ delivery: late, id: job.id, record: record('late'), ttl: 60, hasRecord: false, abortRequested: false }])).toEqual([false]);
    expect(await job.info()).toMatchObject({ status: 'active', worker: 'thief', deliveries: 2 });
    expect(await app.broker.complete(q, 'thief', [{ delivery: claimed[0]!, id: job.id, record: record('thief'), ttl: 60, hasRecord: false, abortRequested: false }])).toEqual([true]);
    expect(await job.result({ timeout: 1000 })).toBe('thief');
  });

  it("reclaims a dead consumer's job once it is idle past the idle timeout, and runs it", async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q', { idleTimeout: 1000 });
    const task = q.task('t', async (ctx) => ctx.attempt);
    const job = await task.enqueue();
    expect(await app.broker.fetch(q, 'ghost', 10)).toHaveLength(1);
    await clock.advance(1001);
    await startWorker(app);
    expect(await job.result({ timeout: 5000 })).toBe(1);
    expect((await job.info()).deliveries).toBe(0);
  });

  it('dead-letters a poison job whose workers died more than maxRecoveries times', async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q', { idleTimeout: 1000, maxRecoveries: 1 });
    let runs = 0;
    const task = q.task('poison', async () => ++runs);
    const job = await task.enqueue();
    await app.broker.fetch(q, 'ghost-a', 1);
    await clock.advance(1001);
    expect((await app.broker.reclaim(q, 'ghost-b', { minIdleMs: 1000, count: 1, maxRecoveries: 1, ttl: 3600 })).claimed).toHaveLength(1);
    await clock.advance(1001);
    await startWorker(app);
    await expect(job.result({ timeout: 5000 })).rejects.toThrow(/PoisonJobError/);
    expect((await app.deadLetters('q').list())[0]).toMatchObject({ id: job.id, reason: 'poison', attempts: 2, worker: 'ghost-b' });
    expect(runs).toBe(0);
  });

  it('hands a running job back on a graceful stop, and another worker runs it', async () => {
    const { app } = memoryApp();
    const q = app.queue('q');
    const running = deferred();
    let runs = 0;
    const task = q.task('t', async (ctx) => {
      if (runs++ > 0) return 'second';
      running.resolve();
      return aborted(ctx.signal);
    });
    const first = await startWorker(app);
    const job = await task.enqueue();
    await running.promise;
    await first.stop({ grace: 20 });
    expect(await app.inspector.counts(q)).toMatchObject({ waiting: { normal: 1 }, active: 0 });
    expect(await job.info()).toMatchObject({ status: 'waiting', attempts: 0 });
    await startWorker(app);
    expect(await job.result({ timeout: 5000 })).toBe('second');
  });

  it("cleans up a stale worker: its jobs handed back, its at-most-once job dead-lettered 'interrupted'", async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q');
    const plain = q.task('plain', async () => 1);
    const once = q.task('once', async () => 1, { atMostOnce: true });
    const a = await plain.enqueue();
    const [delivery] = await app.broker.fetch(q, 'ghost', 1);
    const b = await once.enqueue();
    const [taken] = await app.broker.fetch(q, 'ghost', 1);
    expect(await app.broker.take(q, 'ghost', { delivery: taken!, id: b.id })).toBe(true);
    expect(delivery!.entry).toBe(a.id);
    expect(await app.cleanupStaleWorkers('1m')).toEqual({ workers: [], jobs: 0, interrupted: [] });
    await clock.advance('2m');
    expect(await app.cleanupStaleWorkers('1m')).toEqual({ workers: ['ghost'], jobs: 1, interrupted: [b.id] });
    expect(await app.inspector.counts(q)).toMatchObject({ waiting: { normal: 1 }, active: 0, dlq: 1 });
    await expect(b.result({ timeout: 1000 })).rejects.toThrow(/WorkerLostError/);
    expect((await app.deadLetters('q').list())[0]).toMatchObject({ id: b.id, reason: 'interrupted' });
  });
});

describe('memory broker: state, results and inspection', () => {
  it('expires a result after its TTL on the clock; result() then says not found', async () => {
    const { app, clock } = memoryApp();
    const task = app.queue('q').task('t', async () => 'v', { resultTtl: '10s' });
    await startWorker(app);
    const job = await task.enqueue();
    expect(await job.result({ timeout: 5000 })).toBe('v');
    await clock.advance(9999);
    expect(await job.status()).toBe('completed');
    await clock.advance(1);
    expect(await job.status()).toBe('unknown');
    await expect(job.result({ timeout: 5000 })).rejects.toThrow(JobNotFoundError);
    await expect(job.info()).rejects.toThrow(JobNotFoundError);
  });

  it("keeps a result that is not kept ('none') a minute for a waiter", async () => {
    const { app, clock } = memoryApp();
    const task = app.queue('q').task('t', async () => 'v', { resultTtl: 'none' });
    const job = await task.enqueue();
    const result = job.result({ timeout: 5000 });
    await startWorker(app);
    expect(await result).toBe('v');
    expect(await job.status()).toBe('completed');
    await clock.advance('60s');
    expect(await job.status()).toBe('unknown');
  });

  it('shows jobs in info(), counts() and listJobs() as they move', async () => {
    const { app } = memoryApp();
    const q = app.queue('q');
    const gate = deferred();
    const task = q.task('t', async (_ctx, n: number) => {
      await gate.promise;
      return n * 2;
    });
    const a = await task.enqueue(1);
    const b = await task.with({ priority: 'high' }).enqueue(2);
    const c = await task.with({ delay: '1m' }).enqueue(3);
    expect(await app.inspector.counts(q)).toEqual({ waiting: { critical: 0, high: 1, normal: 1, low: 0 }, delayed: 1, active: 0, dlq: 0, consumers: 0, paused: false });
    expect((await app.listJobs('q', 'waiting')).map((j) => j.id)).toEqual([b.id, a.id]);
    expect(await app.listJobs('q', 'delayed')).toMatchObject([{ id: c.id, dueAt: START + 60_000, level: 1 }]);
    expect(await a.info()).toMatchObject({ status: 'waiting', task: 't', args: [1], priority: 'normal', enqueuedAt: START });
    const worker = await startWorker(app, { concurrency: 1 });
    const started = next(worker, 'job.started');
    expect(await started).toMatchObject({ id: b.id });
    expect((await app.listJobs('q', 'active'))[0]).toMatchObject({ id: b.id, owner: worker.id });
    expect(await b.info()).toMatchObject({ status: 'active', worker: worker.id, deliveries: 1, args: [2], priority: 'high' });
    gate.resolve();
    expect(await a.result({ timeout: 5000 })).toBe(2);
    expect(await b.result({ timeout: 5000 })).toBe(4);
    expect((await app.listJobs('q', 'completed')).map((j) => j.id).sort()).toEqual([a.id, b.id].sort());
    expect(await b.info()).toMatchObject({ status: 'completed', result: 4, args: [2], priority: 'high', attempts: 1, worker: worker.id });
    await expect(app.listJobs('q', 'bogus' as never)).rejects.toThrow(ConfigError);
    expect(await app.findJob(a.id)).toMatchObject({ queue: 'q', id: a.id });
  });

  it('keeps progress and log lines, and lets them expire on the clock', async () => {
    const { app, clock } = memoryApp();
    const task = app.queue('q').task('t', async (ctx) => {
      await ctx.progress({ pct: 50 });
      await ctx.addLog('half way');
      await ctx.addLog('done');
      return 1;
    });
    await startWorker(app);
    const job = await task.enqueue();
    await job.result({ timeout: 5000 });
    expect(await job.progress()).toEqual({ pct: 50 });
    const logs = await job.logs();
    expect(logs.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['half way', 'done']);
    expect(await job.logs({ start: -1 })).toEqual([logs[1]]);
    await clock.advance('25h');
    expect(await job.progress()).toBeUndefined();
    expect(await job.logs()).toEqual([]);
  });

  it('dead-letters a malformed entry without running it, and goes on', async () => {
    const { app } = memoryApp();
    const q = app.queue('q');
    const task = q.task('t', async () => 'fine');
    const worker = await startWorker(app);
    const dead = next(worker, 'job.dead');
    const [bad] = await app.broker.enqueue(q, [{ level: 1, id: '', task: 'nope', header: '|nope', data: '[]' }]);
    expect(await dead).toMatchObject({ id: bad!.id, reason: 'malformed' });
    expect((await app.deadLetters('q').list())[0]).toMatchObject({ id: '', reason: 'malformed', header: '|nope', attempts: 0 });
    expect(await (await task.enqueue()).result({ timeout: 5000 })).toBe('fine');
  });

  it('round-trips binary arguments and results with msgpack, signed', async () => {
    const { app } = memoryApp({ serializer: 'msgpack', signingSecret: 's3cret' });
    const task = app.queue('q').task('echo', async (_ctx, b: Buffer, d: Date) => ({ b, d }));
    const at = new Date(START);
    const job = await task.enqueue(Buffer.from([0, 255, 1]), at);
    const [waiting] = await app.listJobs('q', 'waiting');
    expect(waiting!.header!.split('|')[3]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await startWorker(app);
    const out = await job.result({ timeout: 5000 });
    expect(Buffer.from(out.b)).toEqual(Buffer.from([0, 255, 1]));
    expect(out.d).toEqual(at);
    expect(Buffer.isBuffer((await app.broker.getResult(app.queues.get('q')!, job.id))!)).toBe(true);
  });

  it('lists live workers by heartbeat, beating over a jump of the clock; a silent entry expires on the clock; stop removes it', async () => {
    const { app, clock } = memoryApp();
    app.queue('q');
    const worker = await startWorker(app, { heartbeatTtl: '30s', heartbeatInterval: '10s' });
    expect((await app.workers()).map((w) => w.id)).toEqual([worker.id]);
    expect(await worker.healthcheck()).toMatchObject({ healthy: true, broker: { connected: true } });
    await clock.advance('31s');
    const [entry] = await app.workers();
    expect(entry).toMatchObject({ id: worker.id, heartbeatAt: START + 31_000 });
    // An entry nobody renews (a worker that died) is gone once its TTL passed.
    await app.broker.heartbeat({ ...entry!, id: 'ghost' }, 30_000, []);
    await worker.stop();
    expect((await app.workers()).map((w) => w.id)).toEqual(['ghost']);
    await clock.advance('30s');
    expect(await app.workers()).toEqual([]);
  });
});

describe('memory broker: blocking reads, events, cron, documents', () => {
  it('blocks a read until an entry is added or the clock makes one due, and ends it on interrupt and close', async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q');
    const task = q.task('t', async () => 1);
    const reader = app.broker.blockingReader(q, 'c1');
    const first = reader.read(10, 60_000);
    const job = await task.enqueue();
    expect((await first).map((d) => d.entry)).toEqual([job.id]);
    const second = reader.read(10, 60_000);
    const later = await task.with({ delay: '5s' }).enqueue();
    await clock.advance('5s');
    const [promoted] = await second;
    expect(String(promoted!.header)).toMatch(new RegExp(`^${later.id}\\|t\\|`));
    const third = reader.read(10, 60_000);
    await reader.interrupt();
    expect(await third).toEqual([]);
    expect(await reader.read(1, 5)).toEqual([]);
    const fourth = reader.read(10, 60_000);
    await reader.close();
    expect(await fourth).toEqual([]);
    expect(await reader.read(1, 60_000)).toEqual([]);
  });

  it('records a job life in order on the event stream, readable from a cursor and followed with subscribe()', async () => {
    const { app } = memoryApp();
    const task = app.queue('q').task('t', async () => 'ok');
    const worker = await startWorker(app);
    const job = await task.enqueue();
    await job.result({ timeout: 5000 });
    await worker.stop();
    const { events, cursors } = await app.readEvents({ queues: ['q'] });
    const types = events.map((e) => e.event.type);
    expect(types.filter((x) => x.startsWith('job.'))).toEqual(['job.enqueued', 'job.started', 'job.completed']);
    expect(types.indexOf('worker.started')).toBeLessThan(types.indexOf('job.started'));
    expect(types.at(-1)).toBe('worker.stopped');
    expect(events.find((e) => e.event.type === 'job.completed')!.event).toMatchObject({ queue: 'q', id: job.id, worker: worker.id });
    expect((await app.readEvents({ queues: ['q'], after: cursors })).events).toEqual([]);

    const controller = new AbortController();
    const seen = deferred<string>();
    const following = (async () => {
      for await (const e of app.subscribe({ queues: ['q'], after: cursors, signal: controller.signal })) {
        if (e.event.type === 'job.enqueued') seen.resolve(e.event.id);
      }
    })();
    const another = await task.enqueue();
    expect(await seen.promise).toBe(another.id);
    controller.abort();
    await following;
  });

  it('enqueues a cron tick once however many workers fire it', async () => {
    const { app, clock } = memoryApp();
    const q = app.queue('q');
    const runs: string[] = [];
    const ran = [deferred(), deferred()];
    const task = q.task('tick', async (ctx) => {
      runs.push(ctx.id);
      ran[runs.length - 1]?.resolve();
    });
    app.cron('* * * * *', task, { name: 'minutely' });
    await startWorker(app);
    await startWorker(app);
    // 30 s past the minute: the tick of 00:00 is within the default drift of a minute.
    await ran[0]!.promise;
    // Its outcome recorded first: a minute's jump would leave its lease idle past the idle timeout.
    await app.job('q', runs[0]!).result({ timeout: 5000 });
    await clock.advance('1m');
    await ran[1]!.promise;
    const tick = START + 30_000;
    const again = await app.broker.enqueue(q, [{ level: 1, id: `cron:minutely:${tick}`, task: 'tick', header: `cron:minutely:${tick}|tick|||`, data: '[]' }], { schedule: 'minutely', tick });
    expect(again).toEqual([]);
    await Promise.all(started.splice(0).map((w) => w.stop()));
    expect(runs).toEqual([`cron:minutely:${START - 30_000}`, `cron:minutely:${tick}`]);
    expect((await app.listSchedules())[0]).toMatchObject({ name: 'minutely', nextRunAt: tick + 60_000 });
  });

  it('adds and removes runtime schedules, and keeps documents until their TTL', async () => {
    const { app, clock } = memoryApp();
    const task = app.queue('q').task('t', async () => 1);
    await app.addSchedule('0 * * * *', task, { name: 'hourly' });
    expect((await app.listSchedules()).map((s) => s.name)).toEqual(['hourly']);
    expect(await app.removeSchedule('hourly')).toBe(true);
    expect(await app.removeSchedule('hourly')).toBe(false);
    await app.broker.saveDocument('report', 'r1', '{"ok":true}', 1000);
    expect(await app.broker.loadDocument('report', 'r1')).toBe('{"ok":true}');
    await clock.advance(1000);
    expect(await app.broker.loadDocument('report', 'r1')).toBeNull();
  });
});
