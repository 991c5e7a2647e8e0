// A worker process's runtime: the lifespan and hooks around one QueueRunner per queue, the
// abort listener, and signal handling for a graceful stop.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError, errorFacts } from '../errors.js';
import { checkConnectionBudget, checkHeartbeat, resolveConfig, type Layer } from '../config.js';
import type { NodeSettler } from './settle.js';
import type { Broker, Durability, Inspector, WorkerEntry } from '../broker/types.js';
import { durabilityOf } from '../options.js';
import type { Queue } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { Middleware } from '../types.js';
import { QueueRunner } from './queueRunner.js';
import type { ProcessorStats } from './processor.js';
import { Heartbeater } from './heartbeater.js';
import { withTimeout } from './periodic.js';
import { clockOf, type Clock } from '../memory/clock.js';
import { CronScheduler, type CronHost } from './cronScheduler.js';
import { loadOtel, type OtelApi } from '../tracing.js';
import { EventPublisher } from './eventPublisher.js';
import { EventHub, type EventOf, type EventType, type MillraceEvent } from '../events.js';
import { Janitor } from './janitor.js';
import { WorkerMetrics, type MetricsOptions } from './metrics.js';
import { ThreadPool, type ThreadPoolOptions } from './threads.js';
import { SlotPool } from './slotPool.js';
import { expand } from '../shards/index.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

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
  /**
   * The longest the scheduler sleeps without a notice (default 5 s): it sleeps until the next
   * delayed job is due, and a notice wakes it for one that became the earliest due.
   */
  schedulerInterval?: Duration;
  /** Stop gracefully on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
  /** Worker (consumer) id; must be unique. Default: host:pid:random. */
  id?: string;
  /** How often the worker writes its heartbeat (default 10 s, or MILLRACE_HEARTBEAT_INTERVAL). */
  heartbeatInterval?: Duration;
  /** How long a heartbeat counts (default 30 s, or MILLRACE_HEARTBEAT_TTL); must exceed the interval. */
  heartbeatTtl?: Duration;
  /** Health file for `test -f` probes (default /tmp/millrace_worker_healthy, or MILLRACE_HEALTH_FILE); false for none. */
  healthFile?: string | false;
  /** Event-loop delay above which the worker reports itself unhealthy (default 1 s). */
  maxEventLoopLag?: Duration;
  /** Prometheus metrics: true to collect them (read with worker.metrics()), or where to serve them. */
  metrics?: boolean | MetricsOptions;
  /** Stop (and let run() resolve) once the served queues have no waiting, delayed or in-flight jobs. */
  burst?: boolean;
  /** Overrides every served queue's deadLetter option (true: failed jobs go to the DLQ). */
  deadLetter?: boolean;
  /**
   * Settings from command-line flags (the CLI sets them): unlike the options above, which the
   * environment overrides, these override the environment. Text is parsed as the variables are.
   */
  flags?: Pick<Layer, 'queues' | 'concurrency' | 'prefetch' | 'shutdownTimeout' | 'heartbeatInterval' | 'heartbeatTtl' | 'deadLetter' | 'healthFile'>;
  /** The pool that runs thread tasks (queue.threadTask): { max } threads at most (default: the CPU count). */
  threads?: ThreadPoolOptions;
}

export interface HealthReport {
  healthy: boolean;
  status: Worker['status'];
  broker: { connected: boolean; latencyMs?: number; error?: string };
  /** Epoch ms of the last fetch that reached Redis, over all queues. */
  lastFetchAt: number;
  lastHeartbeatAt: number;
  eventLoopLagMs: number;
  problems: string[];
}

export interface WorkerHost {
  readonly broker: Broker;
  readonly inspector: Inspector;
  readonly serializer: Serializer;
  readonly signingSecret: string | undefined;
  readonly middleware: Middleware<unknown>[];
  readonly log: Logger;
  readonly eventsMaxLen: number;
  /** The app's durability (queues' own override it); outcome writes wait for it when it says `outcomes`. */
  readonly durability?: Durability;
  cron(workerId: string): CronHost;
  queueNamed(name: string): Queue<unknown> | undefined;
  allQueues(): Queue<unknown>[];
  /** Where workflow nodes' outcomes are settled (src/workflow). */
  workflows?(): NodeSettler;
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
  /** The queues served, once each. */
  private readonly queues: Queue<unknown>[];
  /** A runner per queue, and per shard of a sharded queue. */
  private readonly runners: QueueRunner[];
  private readonly concurrencyOf = new Map<string, number>();
  private readonly graceMs: number;
  private readonly handleSignals: boolean;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private requestStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => (this.requestStop = resolve));
  private stopAbortListener: (() => Promise<void>) | undefined;
  private deps: unknown;
  private startedAt = 0;
  private readonly releaseListeners = new Set<() => void>();
  /** The broker's clock (a memory broker's manual one) for the times the worker publishes. */
  private get clock(): Clock {
    return clockOf(this.host.broker);
  }
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  private signalledWhileStarting = false;
  private otel: OtelApi | null = null;
  private readonly log: Logger;
  private readonly heartbeater: Heartbeater;
  /** Lifecycle events of this worker, in process. */
  readonly events: EventHub;
  private readonly publisher: EventPublisher | undefined;
  private readonly janitor: Janitor;
  private readonly cron: CronScheduler;
  private readonly prometheus: WorkerMetrics | undefined;
  /** The port metrics are served on, once started with metrics.port. */
  metricsPort: number | undefined;
  private readonly maxLagMs: number;
  private lagTimer: NodeJS.Timeout | undefined;
  /** Largest event-loop delay seen since the last healthcheck, ms. */
  private lagMaxMs = 0;
  private readonly burst: boolean;
  private burstTimer: NodeJS.Timeout | undefined;
  /** Runs thread tasks; its threads start with the first thread job. */
  readonly threads: ThreadPool;
  /** ENVIRONMENT / MILLRACE_ENVIRONMENT, shown in the worker registry. */
  readonly environment: string | undefined;

  constructor(
    private readonly host: WorkerHost,
    options: WorkerOptions = {},
  ) {
    this.events = new EventHub(undefined, () => this.clock.now());
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.log = host.log.child({ worker: this.id });
    // Code options < environment (MILLRACE_*, WORKER_*) < CLI flags; see src/config.ts.
    const config = resolveConfig({
      queues: options.queues, concurrency: options.concurrency, prefetch: options.prefetch,
      shutdownTimeout: options.shutdownTimeout, heartbeatInterval: options.heartbeatInterval,
      heartbeatTtl: options.heartbeatTtl, deadLetter: options.deadLetter, healthFile: options.healthFile,
    }, process.env, options.flags ?? {}, { keys: ['queues', 'concurrency', 'prefetch', 'shutdownTimeout', 'heartbeatInterval', 'heartbeatTtl', 'deadLetter', 'healthFile', 'environment'] });
    const cfg = config.values;
    this.environment = cfg.environment;
    this.graceMs = cfg.shutdownTimeout!;
    this.handleSignals = options.handleSignals ?? true;
    this.burst = options.burst ?? false;
    const names = cfg.queues ?? host.allQueues().map((q) => q.name);
    if (names.length === 0) throw new ConfigError('worker.queues', 'at least one queue; the app defines none');
    // Durable writes (outcomes, or enqueues from tasks) have a connection of their own.
    const durable = host.durability !== undefined || host.allQueues().some((q) => names.includes(q.name) && q.options.durability);
    // A blocking reader per queue, per shard of a sharded one.
    checkConnectionBudget(names.reduce((n, name) => n + (host.queueNamed(name)?.shards ?? 1), 0), durable);
    const concurrency = cfg.concurrency;
    const blockMs = parseDuration(options.blockTime ?? 5000, 'worker.blockTime');
    const schedulerPollMs = parseDuration(options.schedulerInterval ?? 5000, 'worker.schedulerInterval');
    this.threads = new ThreadPool(options.threads);
    this.queues = names.map((name) => {
      const queue = host.queueNamed(name);
      if (!queue) {
        const known = host.allQueues().map((q) => q.name).join(', ') || 'none';
        throw new ConfigError('worker.queues', `names of queues the app defines (${known})`, name);
      }
      return queue;
    });
    this.runners = this.queues.flatMap((queue) => {
      const c = concurrency ?? queue.options.concurrency;
      const prefetch = cfg.prefetch ?? (concurrency !== undefined ? c : queue.options.prefetch);
      const durable = durabilityOf(undefined, queue.options.durability, host.durability);
      this.concurrencyOf.set(queue.name, c);
      // A sharded queue: a runner per shard, all under one limit.
      const pool = queue.shards > 1 ? new SlotPool(c, c + prefetch) : undefined;
      return expand(queue).map((shard) => new QueueRunner(
        host.broker, shard, this.id,
        { concurrency: c, prefetch, idleTimeout: queue.options.idleTimeout, blockMs, schedulerPollMs, deadLetter: cfg.deadLetter, durability: durable?.outcomes ? durable : undefined, pool },
        { serializer: host.serializer, signingSecret: host.signingSecret, middleware: host.middleware, deps: () => this.deps, events: this.events, otel: () => this.otel, threads: this.threads, workflows: host.workflows },
        this.log,
      ));
    });
    for (const r of this.runners) {
      // Per job: nothing is copied or called unless a test kit listens.
      r.processor.onRelease = () => {
        if (this.releaseListeners.size > 0) for (const fn of [...this.releaseListeners]) fn();
      };
    }
    checkHeartbeat(config);
    const intervalMs = cfg.heartbeatInterval!;
    const ttlMs = cfg.heartbeatTtl!;
    const healthFile = cfg.healthFile!;
    this.maxLagMs = parseDuration(options.maxEventLoopLag ?? 1000, 'worker.maxEventLoopLag');
    const queues = this.queues;
    this.heartbeater = new Heartbeater(host.broker, {
      // A health record per shard, with that shard's counters.
      queues: this.runners.map((r) => r.queue),
      entry: () => this.entry(),
      healthRecord: (queue) => JSON.stringify({ worker: this.id, at: this.clock.now(), ...this.runners.find((r) => r.queue === queue)?.stats() }),
      ended: (queue) => {
        const st = this.runners.find((r) => r.queue === queue)?.stats();
        return { completed: st?.completed ?? 0, failed: st?.failed ?? 0 };
      },
    }, { intervalMs, ttlMs, healthFile }, this.log);
    if (host.eventsMaxLen > 0) this.publisher = new EventPublisher(host.broker, this.events, queues, this.log, this.id);
    this.events.onError((err, e) => this.log.error({ err: err instanceof Error ? err : errorFacts(err).text, event: e.type, job: 'id' in e ? e.id : undefined }, 'an event listener threw; the job goes on'));
    this.events.onAny((e) => logEvent(this.log, e));
    if (options.metrics) {
      this.prometheus = new WorkerMetrics(
        this.events, host.inspector, queues, () => this.runners.reduce((a, r) => a + r.stats().running, 0),
        options.metrics === true ? {} : options.metrics, this.log,
        () => Object.entries(this.stats().queues).map(([name, st]) => [name, st.notDurable ?? 0]),
      );
    }
    this.cron = new CronScheduler(host.cron(this.id), new Set(queues.map((q) => q.name)), this.log);
    this.janitor = new Janitor(host.inspector, queues, ttlMs * 2, Math.max(ttlMs, 60_000), this.log, host.broker.clock);
  }

  /** Starts the worker in the background; resolves once it is fetching. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker ${this.id} was already started`);
    this.state = 'starting';
    this.startedAt = this.clock.now();
    // Handlers go in first: a signal while starting must still end in a graceful stop.
    if (this.handleSignals) this.installSignalHandlers();
    this.publisher?.start();
    this.metricsPort = await this.prometheus?.start();
    this.otel = await loadOtel();
    const policy = await this.host.broker.evictionPolicy?.();
    if (policy !== undefined && policy !== 'noeviction') {
      this.log.warn({ policy }, `Redis maxmemory-policy is '${policy}', not 'noeviction': under memory pressure Redis may evict queued jobs and results`);
    }
    this.deps = await this.host.enterLifespan();
    this.stopAbortListener = await this.host.broker.onAbort(
      this.runners.map((r) => r.queue),
      (queue, id) => {
        for (const r of this.runners) if (r.queue.name === queue) r.processor.requestAbort(id);
      },
      // Aborts published while the subscriber was reconnecting: the lease renewal reports them;
      // a pause: the next fetch script sees it.
      () => this.runners.forEach((r) => r.resync()),
      (queue, paused) => {
        for (const r of this.runners) if (r.queue === queue) r.pauseChanged(paused);
      },
      // A hold (ctx.rateLimit, from any worker): the next fetch script sees it.
      (queue) => {
        for (const r of this.runners) if (r.queue === queue) r.held();
      },
      // A delayed job became the queue's earliest due: its scheduler, asleep until the one before, looks now.
      (queue) => {
        for (const r of this.runners) if (r.queue === queue) r.dueChanged();
      },
    );
    // The first heartbeat (the worker's health records) comes before the first job is fetched:
    // other workers judge an at-most-once job's worker alive by them.
    await this.heartbeater.start();
    for (const r of this.runners) await r.start();
    this.sampleEventLoopLag();
    this.janitor.start();
    await this.cron.start();
    this.state = 'running';
    if (this.burst) this.checkBurst();
    this.events.emit('worker.started', { worker: this.id, queues: this.queues.map((q) => q.name), hostname: hostname(), pid: process.pid });
    if (this.signalledWhileStarting) void this.stop();
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
    await this.cron.stop();
    await Promise.all(this.runners.map((r) => r.stopFetching()));
    const handedBack = await Promise.all(this.runners.map((r) => r.finish(graceMs)));
    await this.threads.destroy();
    await this.stopAbortListener?.();
    await this.janitor.stop();
    await this.heartbeater.stop();
    clearInterval(this.lagTimer);
    clearTimeout(this.burstTimer);
    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    try {
      await this.host.exitLifespan();
    } finally {
      this.state = 'stopped';
      this.events.emit('worker.stopped', { worker: this.id, queues: this.queues.map((q) => q.name), handedBack: handedBack.reduce((a, b) => a + b, 0) });
      await this.publisher?.stop();
      await this.prometheus?.stop();
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
        if (this.state === 'starting') this.signalledWhileStarting = true;
        else void this.stop();
      };
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    }
  }

  /** Burst mode: stops once no job of the served queues waits, is delayed, or is in flight. */
  private checkBurst(): void {
    const check = async () => {
      if (this.state !== 'running') return;
      try {
        if (await this.queuesEmpty()) {
          this.log.info('queues empty: burst worker stopping');
          void this.stop();
          return;
        }
      } catch (err) {
        this.log.warn({ err }, 'burst check failed; trying again');
      }
      if (this.state === 'running') this.burstTimer = setTimeout(() => void check(), 200);
    };
    void check();
  }

  private async queuesEmpty(): Promise<boolean> {
    for (const r of this.runners) {
      if (r.stats().held > 0) return false;
      const c = await this.host.inspector.counts(r.queue);
      if (c.delayed > 0 || c.active > 0 || Object.values(c.waiting).some((n) => n > 0)) return false;
    }
    // Held again when a job arrived while Redis was being asked.
    return this.runners.every((r) => r.stats().held === 0);
  }

  /** @internal millrace/testing: calls fn each time a job left the worker's hands; returns the unsubscribe. */
  onRelease(fn: () => void): () => void {
    this.releaseListeners.add(fn);
    return () => this.releaseListeners.delete(fn);
  }

  get status(): 'new' | 'starting' | 'running' | 'stopping' | 'stopped' {
    return this.state;
  }

  /** The Prometheus text exposition (needs the `metrics` option). */
  metrics(): Promise<string> {
    if (!this.prometheus) throw new ConfigError('worker.metrics', 'true or { port } to collect Prometheus metrics');
    return this.prometheus.text();
  }

  /** Calls fn for each event of this type from this worker (in process). */
  on<K extends EventType>(type: K, fn: (event: EventOf<K>) => unknown): () => void {
    return this.events.on(type, fn);
  }

  /** Measures how late a 100 ms timer fires: the time the event loop was blocked. */
  private sampleEventLoopLag(): void {
    let last = performance.now();
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.lagMaxMs = Math.max(this.lagMaxMs, now - last - 100);
      last = now;
    }, 100);
    this.lagTimer.unref();
  }

  /** This worker's registry entry, as its heartbeat publishes it. */
  entry(): WorkerEntry {
    const per = this.runners.map((r) => r.stats());
    const sum = (k: keyof ProcessorStats) => per.reduce((a, s) => a + (s[k] ?? 0), 0);
    const now = this.clock.now();
    return {
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      queues: this.queues.map((q) => q.name),
      concurrency: [...this.concurrencyOf.values()].reduce((a, c) => a + c, 0),
      running: sum('running'),
      held: sum('held'),
      processed: sum('processed'),
      completed: sum('completed'),
      failed: sum('failed'),
      retried: sum('retried'),
      aborted: sum('aborted'),
      deadLettered: sum('deadLettered'),
      notDurable: sum('notDurable'),
      startedAt: this.startedAt,
      heartbeatAt: now,
      uptimeMs: this.startedAt ? now - this.startedAt : 0,
      version: VERSION,
      ...(this.environment !== undefined ? { environment: this.environment } : {}),
    };
  }

  /**
   * Whether this worker is fit to run jobs: Redis answers, the event loop is not blocked,
   * heartbeats go through, and it is running.
   */
  async healthcheck(): Promise<HealthReport> {
    const problems: string[] = [];
    let broker: HealthReport['broker'];
    try {
      const latencyMs = await withTimeout(this.host.broker.ping(), 2000);
      broker = { connected: true, latencyMs };
    } catch (err) {
      broker = { connected: false, error: (err as Error).message };
      problems.push(`Redis does not answer: ${(err as Error).message}`);
    }
    // Let a sampler tick that was held up by a blocked loop record its delay first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const eventLoopLagMs = Math.round(this.lagMaxMs);
    this.lagMaxMs = 0;
    if (eventLoopLagMs > this.maxLagMs) problems.push(`event loop blocked for ${Math.round(eventLoopLagMs)} ms`);
    if (this.state !== 'running') problems.push(`worker is ${this.state}`);
    if (this.heartbeater.lastError) problems.push(`last heartbeat failed: ${this.heartbeater.lastError}`);
    return {
      healthy: problems.length === 0,
      status: this.state,
      broker,
      lastFetchAt: Math.max(0, ...this.runners.map((r) => r.lastFetchAt)),
      lastHeartbeatAt: this.heartbeater.lastBeatAt,
      eventLoopLagMs,
      problems,
    };
  }

  stats(): WorkerStats {
    return {
      id: this.id,
      startedAt: this.startedAt,
      queues: Object.fromEntries(this.queues.map((q) => [q.name, sumStats(this.runners.filter((r) => r.queue.name === q.name).map((r) => r.stats()))])),
    };
  }
}

/** A sharded queue's counters: its shards' summed. */
function sumStats(per: ProcessorStats[]): ProcessorStats {
  if (per.length === 1) return per[0]!;
  const out = { ...per[0]! };
  for (const s of per.slice(1)) for (const k of Object.keys(s) as (keyof ProcessorStats)[]) out[k] = (out[k] ?? 0) + (s[k] ?? 0);
  return out;
}

/** Logs are one consumer of the event map: routine events at debug, trouble louder. */
function logEvent(log: Logger, e: MillraceEvent): void {
  switch (e.type) {
    case 'worker.started':
      return log.info({ queues: e.queues }, 'worker started');
    case 'worker.stopped':
      return log.info({ handedBack: e.handedBack }, 'worker stopped');
    case 'job.retried':
      return log.info({ job: e.id, task: e.task, attempt: e.attempt, delay: e.delayMs, err: e.error }, 'job failed; retry scheduled');
    case 'job.dead':
      return log.error({ job: e.id, task: e.task, attempts: e.attempt, reason: e.reason, err: e.error }, 'job failed for good');
    case 'job.failed':
      if (!e.willRetry) log.warn({ job: e.id, task: e.task, attempt: e.attempt, err: e.error }, 'job failed');
      return;
    default:
      if (log.isLevelEnabled('debug')) log.debug({ job: 'id' in e ? e.id : undefined }, e.type);
  }
}
