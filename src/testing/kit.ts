// millrace/testing: an isolated run of a user's app for one test. The app's tasks, workers and
// job handles go to a fresh memory broker on a manual clock (or an isolated key prefix on
// Redis) until close(); enqueued jobs are recorded; a worker of the kit runs them only when the
// test asks (fake mode: drain(), run()) or all along (live mode).

import { randomBytes } from 'node:crypto';
import type { Millrace } from '../app.js';
import type { Broker, Inspector, QueueRef } from '../broker/types.js';
import type { Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { Job } from '../job.js';
import { MemoryBroker } from '../memory/broker.js';
import { ManualClock } from '../memory/clock.js';
import { MemoryInspector } from '../memory/inspector.js';
import type { EnqueueOptions } from '../options.js';
import { RedisBroker } from '../redis/broker.js';
import { RedisInspector } from '../redis/inspector.js';
import type { Task } from '../registry.js';
import type { Middleware, OutgoingJob } from '../types.js';
import type { Worker, WorkerOptions } from '../worker/worker.js';
import { DeliveryGate } from './gate.js';
import { Drain, DrainLimitError, type DrainOptions, type DrainReport } from './drain.js';
import { removePrefix } from './prefix.js';

export { DrainLimitError, type DrainOptions, type DrainReport };

export interface TestAppOptions {
  /** 'memory' (default): no Redis, a manual clock. 'redis': the app's Redis, under a key prefix of its own removed at close(). */
  broker?: 'memory' | 'redis';
  /** 'fake' (default): nothing runs until drain() or run(). 'live': a worker runs every job as it comes. */
  mode?: 'fake' | 'live';
  /** Where the manual clock starts (epoch ms or a Date; default: now). Memory broker only. */
  now?: number | Date;
  /** Options of the kit's worker (concurrency, queues, ...); signals, health file and metrics stay off. */
  worker?: Omit<WorkerOptions, 'handleSignals' | 'healthFile' | 'metrics' | 'burst'>;
}

/** A job enqueued during the test, as the enqueue call gave it (after the app's enqueue middleware). */
export interface EnqueuedJob<A extends unknown[] = unknown[], R = unknown> {
  id: string;
  queue: string;
  task: string;
  args: A;
  options: EnqueueOptions;
  job: Job<R>;
}

/** The clock of a test app: a manual clock on the memory broker; on Redis, real time (advance refuses). */
export interface TestClock {
  now(): number;
  /** Moves time forward and runs what came due, in order; resolves once that work settled. */
  advance(by: Duration): Promise<number>;
}

export type Outcome = 'started' | 'completed' | 'failed' | 'dead';

/** An app of any dependencies type (a test app is not generic: `let t: TestApp` takes any app's). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyApp = Millrace<any>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTaskOf<A extends unknown[], R> = Task<any, A, R>;

/**
 * Runs `app` on a broker of its own for one test; `close()` (or `await using`) gives the app
 * back its own broker and leaves no timer, socket or key behind.
 */
export async function createTestApp(app: AnyApp, options: TestAppOptions = {}): Promise<TestApp> {
  const kind = options.broker ?? 'memory';
  if (kind !== 'memory' && kind !== 'redis') throw new ConfigError('createTestApp.broker', "'memory' or 'redis'", kind);
  const mode = options.mode ?? 'fake';
  if (mode !== 'fake' && mode !== 'live') throw new ConfigError('createTestApp.mode', "'fake' or 'live'", mode);
  if (kind === 'redis' && options.now !== undefined) throw new ConfigError('createTestApp.now', "no start time with broker 'redis' (it runs on real time)", options.now);
  const t = new TestApp(app, kind === 'memory' ? memorySetup(options.now) : redisSetup(app), mode, options.worker ?? {});
  if (mode === 'live') await t.startWorker();
  return t;
}

interface Setup {
  broker: Broker;
  inspector: Inspector;
  clock: TestClock;
  /** Closes the broker and removes what it stored, where that outlives it. */
  dispose(): Promise<void>;
}

function memorySetup(now: number | Date | undefined): Setup {
  const manual = new ManualClock(now ?? Date.now());
  const broker = new MemoryBroker({ clock: manual });
  return {
    broker, inspector: new MemoryInspector(broker), clock: manual,
    dispose: () => broker.close(),
  };
}

function redisSetup(app: AnyApp): Setup {
  const { settings, binary, eventsMaxLen, log } = app.redisSetup();
  const prefix = `${app.prefix}-test-${randomBytes(4).toString('hex')}`;
  const broker = new RedisBroker(settings, { prefix, binary, eventsMaxLen, log });
  return {
    broker, inspector: new RedisInspector(broker.ctx),
    clock: {
      now: () => Date.now(),
      advance: () => Promise.reject(new ConfigError('clock.advance', "the memory broker (createTestApp(app, { broker: 'memory' })): Redis runs on real time")),
    },
    dispose: async () => {
      await broker.close();
      await removePrefix(settings, prefix);
    },
  };
}

export class TestApp {
  readonly clock: TestClock;
  readonly broker: Broker;
  readonly inspector: Inspector;
  private readonly gate = new DeliveryGate();
  private readonly recorded: EnqueuedJob[] = [];
  private readonly restore: () => void;
  private readonly recorder: Middleware<unknown>;
  private readonly catcher: Middleware<unknown>;
  /** The error each job's last attempt threw, as the outermost execute middleware saw it. */
  private readonly thrown = new Map<string, unknown>();
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private closed = false;

  constructor(
    readonly app: AnyApp,
    private readonly setup: Setup,
    readonly mode: 'fake' | 'live',
    private readonly workerOptions: TestAppOptions['worker'] & object,
  ) {
    this.clock = setup.clock;
    this.broker = setup.broker;
    this.inspector = setup.inspector;
    this.restore = app.substituteBroker(this.gate.wrap(setup.broker), setup.inspector);
    // Innermost enqueue middleware: records what is sent, after the app's own middleware.
    this.recorder = {
      enqueue: async (jobs: OutgoingJob[], next) => {
        const ids = await next(jobs);
        jobs.forEach((j, i) => this.recorded.push({ id: ids[i]!, queue: j.queue, task: j.task, args: j.args, options: j.options, job: app.job(j.queue, ids[i]!) }));
        return ids;
      },
    };
    app.middleware.push(this.recorder);
    // Outermost execute middleware: keeps the error a job threw, so run() and drain() reject
    // with that very error (its class, its fields), not only its recorded name and message.
    this.catcher = {
      execute: async (ctx, next) => {
        try {
          return await next();
        } catch (err) {
          this.thrown.set(ctx.id, err);
          throw err;
        }
      },
    };
    app.middleware.unshift(this.catcher);
    if (this.mode === 'live') this.gate.allow(Infinity);
  }

  /** The jobs of a task enqueued so far in this test (all tasks' without one), oldest first. */
  enqueued<A extends unknown[], R>(task: AnyTaskOf<A, R>): EnqueuedJob<A, R>[];
  enqueued(): EnqueuedJob[];
  enqueued(task?: AnyTaskOf<unknown[], unknown>): EnqueuedJob[] {
    return this.recorded.filter((j) => !task || (j.task === task.name && j.queue === task.queue.name));
  }

  /** The kit's worker (started on first use: drain(), run(), waitFor(), or at once in live mode). */
  async startWorker(): Promise<Worker> {
    this.ensureOpen();
    this.starting ??= (async () => {
      const w = this.app.worker({ blockTime: 60_000, ...this.workerOptions, handleSignals: false, healthFile: false });
      this.worker = w;
      await w.start();
      return w;
    })();
    return this.starting;
  }

  /**
   * Runs jobs until every served queue is idle (nothing waiting, running or due), including the
   * jobs that jobs enqueue. Rejects with a job's error when it fails for good (failFast, the
   * default), and with a DrainLimitError past `maxJobs` started jobs. With `advance`, moves the
   * manual clock to each next due job (delays, retries) until none is left.
   */
  async drain(options: DrainOptions = {}): Promise<DrainReport> {
    const worker = await this.startWorker();
    const release = this.mode === 'fake' ? this.gate.allow(Infinity) : undefined;
    try {
      return await new Drain(this.app, worker, this.queueRefs(worker), this.clock, options, (id) => this.thrown.get(id)).run();
    } finally {
      await release?.();
    }
  }

  /**
   * Enqueues one job of `task` and runs it through the whole worker path (serializer round trip,
   * signing, middleware, lifespan deps, a real context); resolves with its result or rejects
   * with the error its handler threw (or its recorded error: a timeout, a bad result). One
   * attempt, at the queue's highest priority; in fake mode only this job is let through, after
   * any already waiting at that priority (a worker would run those first).
   */
  async run<A extends unknown[], R>(task: AnyTaskOf<A, R>, ...args: A): Promise<R> {
    await this.startWorker();
    const top = task.queue.levels.at(-1)!;
    const ahead = this.mode === 'fake' ? ((await this.inspector.counts(task.queue)).waiting[top] ?? 0) : 0;
    const job = await task.with({ maxTries: 1, priority: top }).enqueue(...args);
    const release = this.mode === 'fake' ? this.gate.allow(ahead + 1, task.queue.name) : undefined;
    try {
      await this.waitFor(job, 'completed').catch(() => undefined);
    } finally {
      await release?.();
    }
    try {
      return await job.result({ timeout: 5000 });
    } catch (err) {
      throw this.thrown.get(job.id) ?? err;
    }
  }

  /**
   * Resolves once the job reached the outcome: 'started' (an attempt began), 'completed',
   * 'failed' (ended failed, whether or not it went to the DLQ) or 'dead' (in the DLQ); rejects
   * when it ended otherwise. Listens to
   * the kit's worker, no polling; in fake mode something must run the job (drain(), live mode).
   */
  async waitFor<R>(job: Job<R>, outcome: Outcome): Promise<Job<R>> {
    if (!['started', 'completed', 'failed', 'dead'].includes(outcome)) throw new ConfigError('waitFor.outcome', "'started', 'completed', 'failed' or 'dead'", outcome);
    const worker = await this.startWorker();
    return new Promise<Job<R>>((resolve, reject) => {
      const offs: (() => void)[] = [];
      let done = false;
      const end = (ok: boolean) => {
        if (done) return;
        done = true;
        for (const off of offs) off();
        if (ok) resolve(job);
        else void endedOtherwise(job, outcome).then(reject, reject);
      };
      const mine = (e: { id: string; queue: string }) => e.id === job.id && e.queue === job.queue;
      offs.push(
        worker.on('job.started', (e) => mine(e) && outcome === 'started' && end(true)),
        worker.on('job.completed', (e) => mine(e) && end(outcome === 'completed')),
        worker.on('job.failed', (e) => mine(e) && !e.willRetry && outcome !== 'dead' && end(outcome === 'failed')),
        worker.on('job.dead', (e) => mine(e) && end(outcome !== 'completed')),
        worker.on('job.aborted', (e) => mine(e) && end(false)),
      );
      // Already there (or already ended otherwise) before the listeners were in.
      void job.status().then(async (status) => {
        if (status === 'active' && outcome === 'started') end(true);
        else if (status === 'completed') end(outcome === 'completed');
        else if (status === 'aborted' || status === 'unknown' || status === 'expired') end(false);
        else if (status === 'failed') end(outcome === 'failed' || (outcome === 'dead' && (await this.inDlq(job))));
      }, () => undefined);
    });
  }

  /** Gives the app back its own broker, stops the kit's worker, and closes and clears the kit's broker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.gate.shut();
    await this.worker?.stop({ grace: 1000 });
    for (const mw of [this.recorder, this.catcher]) {
      const at = this.app.middleware.indexOf(mw);
      if (at >= 0) this.app.middleware.splice(at, 1);
    }
    this.restore();
    await this.setup.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('this test app is closed');
  }

  private queueRefs(worker: Worker): QueueRef[] {
    return Object.keys(worker.stats().queues).map((name) => this.app.queues.get(name)!).filter(Boolean);
  }

  private async inDlq(job: Job<unknown>): Promise<boolean> {
    const entries = await this.app.deadLetters(job.queue).list({ limit: 1000 });
    return entries.some((e) => e.id === job.id);
  }
}

/** The error a waitFor rejects with when the job ended another way (or is not known at all). */
async function endedOtherwise(job: Job<unknown>, wanted: Outcome): Promise<Error> {
  try {
    // An unknown job (never enqueued, or its result expired) fails here with JobNotFoundError.
    await job.info();
    await job.result({ timeout: 5000 });
    return new Error(`job ${job.id} completed, not ${wanted}`);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
