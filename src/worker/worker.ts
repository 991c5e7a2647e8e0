// A worker process's runtime: the lifespan and hooks around one QueueRunner per queue, the
// abort listener, and signal handling for a graceful stop.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { envInt, envSeconds } from '../settings.js';
import type { Broker } from '../broker/types.js';
import type { Queue } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { Middleware } from '../types.js';
import { QueueRunner } from './queueRunner.js';
import type { ProcessorStats } from './processor.js';

export interface WorkerOptions {
  /** Queue names to serve (default: every queue the app defines). */
  queues?: string[];
  /** Overrides every served queue's concurrency. */
  concurrency?: number;
  /** Overrides every served queue's prefetch. */
  prefetch?: number;
  /** Grace period for running jobs at shutdown (default 30 s). */
  shutdownTimeout?: Duration;
  /** How long a blocking read waits for new jobs before looping (default 5 s). */
  blockTime?: Duration;
  /** How often due delayed jobs are looked for at most (default 250 ms). */
  schedulerInterval?: Duration;
  /** Stop gracefully on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
  /** Worker (consumer) id; must be unique. Default: host:pid:random. */
  id?: string;
}

export interface WorkerHost {
  readonly broker: Broker;
  readonly serializer: Serializer;
  readonly signingSecret: string | undefined;
  readonly middleware: Middleware<unknown>[];
  readonly log: Logger;
  queueNamed(name: string): Queue<unknown> | undefined;
  allQueues(): Queue<unknown>[];
  /** Enters the lifespan (and startup hooks) and returns the dependencies. */
  enterLifespan(): Promise<unknown>;
  exitLifespan(): Promise<void>;
}

export interface WorkerStats {
  id: string;
  startedAt: number;
  queues: Record<string, ProcessorStats>;
}

export class Worker {
  readonly id: string;
  private readonly runners: QueueRunner[];
  private readonly graceMs: number;
  private readonly handleSignals: boolean;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private requestStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => (this.requestStop = resolve));
  private stopAbortListener: (() => Promise<void>) | undefined;
  private deps: unknown;
  private startedAt = 0;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  private readonly log: Logger;

  constructor(
    private readonly host: WorkerHost,
    options: WorkerOptions = {},
  ) {
    const env = process.env;
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.log = host.log.child({ worker: this.id });
    this.graceMs = options.shutdownTimeout !== undefined
      ? parseDuration(options.shutdownTimeout, 'worker.shutdownTimeout')
      : (envSeconds(env, ['MILLRACE_SHUTDOWN_TIMEOUT']) ?? 30_000);
    this.handleSignals = options.handleSignals ?? true;
    const envQueues = env.MILLRACE_QUEUE ? env.MILLRACE_QUEUE.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    const names = options.queues ?? envQueues ?? host.allQueues().map((q) => q.name);
    if (names.length === 0) throw new ConfigError('worker.queues', 'at least one queue; the app defines none');
    const concurrency = options.concurrency ?? envInt(env, ['MILLRACE_WORKER_CONCURRENCY'], 1);
    const blockMs = parseDuration(options.blockTime ?? 5000, 'worker.blockTime');
    const schedulerPollMs = parseDuration(options.schedulerInterval ?? 250, 'worker.schedulerInterval');
    this.runners = names.map((name) => {
      const queue = host.queueNamed(name);
      if (!queue) {
        const known = host.allQueues().map((q) => q.name).join(', ') || 'none';
        throw new ConfigError('worker.queues', `names of queues the app defines (${known})`, name);
      }
      const c = concurrency ?? queue.options.concurrency;
      const prefetch = options.prefetch ?? (concurrency !== undefined ? c : queue.options.prefetch);
      return new QueueRunner(
        host.broker, queue, this.id,
        { concurrency: c, prefetch, idleTimeout: queue.options.idleTimeout, blockMs, schedulerPollMs },
        { serializer: host.serializer, signingSecret: host.signingSecret, middleware: host.middleware, deps: () => this.deps },
        this.log,
      );
    });
  }

  /** Starts the worker in the background; resolves once it is fetching. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker ${this.id} was already started`);
    this.state = 'starting';
    this.startedAt = Date.now();
    this.deps = await this.host.enterLifespan();
    this.stopAbortListener = await this.host.broker.onAbort(
      this.runners.map((r) => r.queue),
      (queue, id) => this.runners.find((r) => r.queue.name === queue)?.processor.requestAbort(id),
    );
    for (const r of this.runners) await r.start();
    if (this.handleSignals) this.installSignalHandlers();
    this.state = 'running';
    this.log.info({ queues: this.runners.map((r) => r.queue.name) }, 'worker started');
  }

  /** Runs until stop() or SIGTERM/SIGINT, then stops gracefully. */
  async run(): Promise<void> {
    await this.start();
    await this.stopRequested;
    await this.stopping;
  }

  /**
   * Graceful stop: stop fetching, let running jobs finish within the grace period, abort the
   * rest, and hand every unfinished or prefetched job straight back to the queue.
   */
  stop(options: { grace?: Duration } = {}): Promise<void> {
    if (!this.stopping) {
      const grace = options.grace === undefined ? this.graceMs : parseDuration(options.grace, 'grace');
      this.stopping = this.shutdown(grace);
      this.requestStop();
    }
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.state = 'stopping';
    this.log.info({ graceMs }, 'worker stopping');
    await Promise.all(this.runners.map((r) => r.stopFetching()));
    const handedBack = await Promise.all(this.runners.map((r) => r.finish(graceMs)));
    await this.stopAbortListener?.();
    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    try {
      await this.host.exitLifespan();
    } finally {
      this.state = 'stopped';
      this.log.info({ handedBack: handedBack.reduce((a, b) => a + b, 0) }, 'worker stopped');
    }
  }

  private installSignalHandlers(): void {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const fn = () => {
        if (this.state === 'stopping') {
          this.log.warn(`${sig} again: aborting running jobs now`);
          for (const r of this.runners) r.processor.abortRunning();
          return;
        }
        this.log.info(`${sig} received`);
        void this.stop();
      };
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    }
  }

  get status(): 'new' | 'starting' | 'running' | 'stopping' | 'stopped' {
    return this.state;
  }

  stats(): WorkerStats {
    return {
      id: this.id,
      startedAt: this.startedAt,
      queues: Object.fromEntries(this.runners.map((r) => [r.queue.name, r.stats()])),
    };
  }
}
