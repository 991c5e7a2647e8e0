// The Millrace app: a registry of queues and tasks bound to Redis, from which jobs are
// enqueued and inspected in any process, and workers are made.

import { pino, type Logger } from 'pino';
import { ConfigError } from './errors.js';
import { checkGroup, resolveGroupLimits, type GroupLimitsOptions } from './groups.js';
import { Registry, type AnyTask, type Queue } from './registry.js';
import { Client, type DeadLetterQueue } from './client.js';
import { Workflows, type StartOptions, type WorkflowHandle } from './workflow/runner.js';
import type { Flow, GroupResults, Settled } from './workflow/definition.js';
import { Job } from './job.js';
import { RedisBroker } from './redis/broker.js';
import { RedisInspector } from './redis/inspector.js';
import { MemoryBroker } from './memory/broker.js';
import { MemoryInspector } from './memory/inspector.js';
import { resolveRedisSettings, type RedisOption, type RedisSettings } from './settings.js';
import { resolveConfig } from './config.js';
import { resolveSerializer, type Serializer, type SerializerOption } from './serializer.js';
import { Worker, type WorkerHost, type WorkerOptions } from './worker/worker.js';
import type { Broker, Durability, GroupSummary, Inspector, JobSummary, StaleCleanup, StoredEvent, WorkerEntry } from './broker/types.js';
import { parseDuration, type Duration } from './duration.js';
import { appDurability, type BrokerOption, type DurabilityOptions, type EnqueueOptions } from './options.js';
import type { Middleware } from './types.js';
import { cronJobId, defineSchedule, nextTick, type CronOptions, type ScheduleDefinition, type ScheduleInfo } from './cron.js';
import type { CronHost } from './worker/cronScheduler.js';
import { ShardRouter } from './shards/broker.js';
import { ShardInspector } from './shards/inspector.js';

type Hook<D> = (deps: D) => unknown;

export interface MillraceOptions<D> {
  /** A Redis URL or settings; REDIS_URL and friends in the environment override it. */
  redis?: RedisOption;
  /**
   * 'redis' (default), or 'memory' / a MemoryBroker: an in-process broker for tests and local
   * tinkering (single process, not production); no Redis connection is opened then.
   */
  broker?: BrokerOption;
  /** Prefix of every key (default 'millrace', or MILLRACE_PREFIX). */
  prefix?: string;
  serializer?: SerializerOption;
  /** HMAC-SHA256 secret: jobs are signed when enqueued and checked before decoding. */
  signingSecret?: string;
  /** Sets up the tasks' dependencies in a worker: yield them once, clean up after. */
  lifespan?: () => AsyncGenerator<D, unknown, unknown>;
  onStartup?: Hook<D> | Hook<D>[];
  onShutdown?: Hook<D> | Hook<D>[];
  middleware?: Middleware<D>[];
  logger?: Logger;
  logLevel?: string;
  /** Lifecycle events on each queue's capped stream: false, or the cap (default 10,000 events). */
  events?: boolean | { maxLen?: number };
  /**
   * Durable enqueue for every queue (a queue's or call's own `durability` overrides it): an
   * enqueue answers once `replicas` replicas acknowledged it; `outcomes: true` makes workers'
   * outcome writes wait too. See docs/topologies.md#durable-enqueue.
   */
  durability?: DurabilityOptions | false;
}

export class Millrace<D = Record<string, never>> extends Registry<D> {
  readonly kind = 'millrace' as const;
  readonly log: Logger;
  readonly serializer: Serializer;
  readonly signingSecret: string | undefined;
  readonly prefix: string;
  /** ENVIRONMENT / MILLRACE_ENVIRONMENT ('development', 'production', ...), when set. */
  readonly environment: string | undefined;
  readonly middleware: Middleware<unknown>[];
  /** Length each queue's event stream is capped at; 0 when events are off. */
  readonly eventsMaxLen: number;
  /** The app's durability (the `durability` option resolved), when it has one. */
  readonly durability: Durability | undefined;
  private readonly options: MillraceOptions<D>;
  private redisBroker: RedisBroker | undefined;
  private redisInspector: RedisInspector | undefined;
  /** The memory broker and its inspector, when the app uses one (kept over close(): they are the data). */
  private readonly memory: { broker: MemoryBroker; inspector: MemoryInspector } | undefined;
  private jobClient: Client | undefined;
  /** The broker a test kit runs the app on instead of its own (millrace/testing). */
  private substitute: { broker: Broker; inspector: Inspector } | undefined;
  private readonly included: Registry<D>[] = [];
  private readonly codeSchedules = new Map<string, ScheduleDefinition>();
  private lifespan: AsyncGenerator<D, unknown, unknown> | undefined;
  private deps: D | undefined;

  constructor(options: MillraceOptions<D> = {}) {
    super();
    this.options = options;
    this.host = this;
    // Code options < environment (.env read; MILLRACE_*, ENVIRONMENT); see src/config.ts.
    const ev = options.events ?? true;
    const codeEvents = ev === false ? 0 : ev === true ? 10_000 : (ev.maxLen ?? 10_000);
    if (!Number.isInteger(codeEvents) || codeEvents < 0) throw new ConfigError('events.maxLen', 'an integer >= 0', codeEvents);
    const { values: cfg, sources } = resolveConfig({
      prefix: options.prefix, signingSecret: options.signingSecret, logLevel: options.logLevel, events: codeEvents,
    }, process.env, {}, { keys: ['prefix', 'signingSecret', 'logLevel', 'events', 'environment', 'durabilityReplicas', 'durabilityTimeout'] });
    this.prefix = cfg.prefix!;
    this.serializer = resolveSerializer(options.serializer);
    this.signingSecret = cfg.signingSecret;
    this.environment = cfg.environment;
    this.middleware = [...(options.middleware ?? [])] as Middleware<unknown>[];
    this.eventsMaxLen = cfg.events!;
    this.durability = appDurability(options.durability, { replicas: cfg.durabilityReplicas, timeoutMs: cfg.durabilityTimeout, timeoutGiven: sources.durabilityTimeout });
    this.log = options.logger ?? pino({ name: 'millrace', level: cfg.logLevel! });
    this.memory = memoryBroker(options.broker, this.eventsMaxLen);
  }

  /** Adds the queues and tasks of a registry defined in another module. */
  include(registry: Registry<D>): this {
    for (const [name, queue] of registry.queues) {
      const mine = this.queues.get(name);
      if (!mine) {
        this.queues.set(name, queue);
        continue;
      }
      if (mine === queue) continue;
      for (const [taskName, task] of queue.tasks) {
        if (mine.tasks.has(taskName)) throw new ConfigError(`task '${taskName}'`, `a name not already used in queue '${name}'`);
        mine.tasks.set(taskName, task);
      }
    }
    registry.host = this;
    this.included.push(registry);
    return this;
  }

  /** Adds middleware around execution and/or enqueueing. */
  use(middleware: Middleware<D>): this {
    this.middleware.push(middleware as Middleware<unknown>);
    return this;
  }

  /** The broker, with calls about a sharded queue routed to its shards (src/shards). */
  get broker(): Broker {
    return routed(this.substitute?.broker ?? this.memory?.broker ?? this.redis());
  }

  /** The inspector, a sharded queue's shards merged. */
  get inspector(): Inspector {
    if (this.substitute) return merged(this.substitute.inspector);
    if (this.memory) return merged(this.memory.inspector);
    this.redisInspector ??= new RedisInspector(this.redis().ctx);
    return merged(this.redisInspector);
  }

  private redis(): RedisBroker {
    this.redisBroker ??= new RedisBroker(resolveRedisSettings(this.options.redis), {
      prefix: this.prefix,
      binary: this.serializer.binary,
      eventsMaxLen: this.eventsMaxLen,
      log: this.log,
    });
    return this.redisBroker;
  }

  private get client(): Client {
    this.jobClient ??= new Client({
      broker: this.broker,
      inspector: this.inspector,
      serializer: this.serializer,
      signingSecret: this.signingSecret,
      middleware: this.middleware as Middleware<never>[],
      durability: this.durability,
      queueNamed: (name) => this.queues.get(name) as Queue<unknown> | undefined,
      taskNamed: (name) => this.taskNamed(name),
    });
    return this.jobClient;
  }

  taskNamed(name: string): AnyTask | undefined {
    for (const q of this.queues.values()) {
      const t = q.tasks.get(name);
      if (t) return t;
    }
    return undefined;
  }

  /** @internal used by Task.enqueue */
  enqueueTask(task: AnyTask, calls: { args: unknown[]; options: EnqueueOptions }[]): Promise<Job<unknown>[]> {
    return this.client.enqueueTask(task, calls);
  }

  /** @internal used by Task.enqueue */
  enqueueOne(task: AnyTask, args: unknown[]): Promise<Job<unknown>> {
    return this.client.enqueueOne(task, args);
  }

  /** Starts a workflow (src/workflow): `app.startWorkflow(chain(a.s(x), b.s()), { id })`; a running id is resumed, never doubled. */
  startWorkflow<R>(flow: Flow<R>, options?: StartOptions): Promise<WorkflowHandle<R>> {
    return this.workflows.start(flow, options);
  }

  /** A handle on a workflow by id, from any process: status, result, abort. */
  workflow<R = unknown>(id: string): WorkflowHandle<R> {
    return this.workflows.handle<R>(id);
  }

  /** A page of a stage's outcomes: what a paged group's callback reads with the GroupResults it receives. */
  workflowResults<T>(ref: GroupResults<T>, options?: { offset?: number; limit?: number }): Promise<Settled<T>[]> {
    return this.workflows.results(ref, options) as Promise<Settled<T>[]>;
  }

  /** @internal the workflow runner over the current client (the worker settles nodes through it) */
  get workflows(): Workflows {
    const client = this.client;
    let runner = runners.get(client);
    if (!runner) runners.set(client, (runner = new Workflows({ broker: this.broker, client, serializer: this.serializer })));
    return runner;
  }

  /** Enqueues a task by name, without its code (give `queue` when this process does not define the task). */
  enqueueByName<R = unknown>(name: string, args: unknown[] = [], options: EnqueueOptions & { queue?: string } = {}): Promise<Job<R>> {
    return this.client.enqueueByName(name, args, options) as Promise<Job<R>>;
  }

  /** A handle on a job by queue and id. */
  job<R = unknown>(queue: string, id: string): Job<R> {
    return this.client.job<R>(queue, id);
  }

  /** Finds a job by id in any queue (those this app defines, then those seen in Redis). */
  async findJob<R = unknown>(id: string): Promise<Job<R> | undefined> {
    const names = new Set([...this.queues.keys(), ...(await this.inspector.queueNames())]);
    for (const name of names) {
      if ((await this.client.status(name, id)) !== 'unknown') return this.client.job<R>(name, id);
    }
    return undefined;
  }

  /**
   * Every queue's job of this id. An id is unique within its queue only: an automatic id is its
   * stream entry's ("<ms>-<seq>"), which two queues may hand out in the same millisecond.
   */
  async findJobs<R = unknown>(id: string): Promise<Job<R>[]> {
    const names = [...new Set([...this.queues.keys(), ...(await this.inspector.queueNames())])].sort();
    const known = await Promise.all(names.map(async (name) => (await this.client.status(name, id)) !== 'unknown'));
    return names.filter((_, i) => known[i]).map((name) => this.client.job<R>(name, id));
  }

  /**
   * Pauses a queue from any process: its workers stop fetching within a second (a notice ends
   * their blocked reads; a fetch sees the flag in Redis), running jobs finish, and enqueues go
   * on. The state is kept in Redis, over worker restarts; resume() ends it.
   */
  async pause(queue: string): Promise<void> {
    await this.broker.setPaused(await this.client.ref(queue), true);
  }

  /** Resumes a paused queue: its workers fetch again at once. */
  async resume(queue: string): Promise<void> {
    await this.broker.setPaused(await this.client.ref(queue), false);
  }

  async isPaused(queue: string): Promise<boolean> {
    return this.broker.isPaused(await this.client.ref(queue));
  }

  /** Pauses one group of a grouped queue (fair groups): its jobs wait, the other groups are served. Kept in Redis. */
  async pauseGroup(queue: string, group: string): Promise<void> {
    await this.broker.setGroupPaused(await this.client.ref(queue), checkGroup(group), true);
  }

  /** Resumes a paused group: its jobs are served again, in turn with the other groups. */
  async resumeGroup(queue: string, group: string): Promise<void> {
    await this.broker.setGroupPaused(await this.client.ref(queue), checkGroup(group), false);
  }

  /**
   * Gives one group limits of its own over the queue's `groups` ones (a VIP tenant's larger cap:
   * `{ concurrency: 10 }`; null for none: `{ rateLimit: null }`), or takes them away (null). Kept
   * in Redis; every worker applies them from its next fetch.
   */
  async setGroupLimits(queue: string, group: string, limits: GroupLimitsOptions | null): Promise<void> {
    checkGroup(group);
    const resolved = limits === null ? undefined : resolveGroupLimits(limits);
    const ref = await this.client.ref(queue);
    // A group's permits and tokens are counted in one slot: a sharded queue's groups span several.
    if ((ref.shards ?? 1) > 1) throw new ConfigError('setGroupLimits queue', `a queue of one shard (queue '${queue}' has ${ref.shards})`, queue);
    await this.broker.setGroupLimits(ref, group, resolved);
  }

  /** The queue's groups with jobs waiting, or paused, by key (at most `limit`, default 1,000). */
  async groups(queue: string, options: { limit?: number } = {}): Promise<GroupSummary[]> {
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError('groups limit', 'an integer >= 1', limit);
    return this.inspector.groups(await this.client.ref(queue), limit);
  }

  /** Workers whose heartbeat is current, with their counters. */
  workers(): Promise<WorkerEntry[]> {
    return this.inspector.workers();
  }

  /**
   * Removes workers silent for longer than `staleAfter`, hands their jobs back to the queue and
   * dead-letters the at-most-once jobs they were running (reason 'interrupted').
   */
  async cleanupStaleWorkers(staleAfter: Duration = 60_000): Promise<StaleCleanup> {
    const names = new Set([...this.queues.keys(), ...(await this.inspector.queueNames())]);
    const refs = await Promise.all([...names].map((n) => this.client.ref(n)));
    return this.inspector.cleanupStaleWorkers(parseDuration(staleAfter, 'staleAfter'), refs);
  }

  listJobs(queue: string, state: JobSummary['state'], limit = 100): Promise<JobSummary[]> {
    return this.client.listJobs(queue, state, limit);
  }

  /**
   * Events after the given positions (per queue: an event cursor, '0-0' for the oldest kept);
   * without `after`, the oldest kept. Pass the returned cursors back to continue.
   */
  async readEvents(options: { queues?: string[]; after?: Record<string, string>; count?: number } = {}): Promise<{ events: StoredEvent[]; cursors: Record<string, string> }> {
    const queues = options.queues ?? [...new Set([...this.queues.keys(), ...(await this.inspector.queueNames())])];
    const cursors = Object.fromEntries(queues.map((q) => [q, options.after?.[q] ?? '0-0']));
    await this.learnShards(queues);
    const reader = this.broker.eventReader();
    try {
      const events = await reader.read(cursors, options.count ?? 100);
      for (const e of events) cursors[e.queue] = e.cursor;
      return { events, cursors };
    } finally {
      await reader.close();
    }
  }

  /**
   * Follows events as they are written (from now, or from the given cursors), until the
   * signal aborts: `for await (const e of app.subscribe({ signal })) ...`.
   */
  async *subscribe(options: { queues?: string[]; after?: Record<string, string>; signal?: AbortSignal } = {}): AsyncGenerator<StoredEvent> {
    const queues = options.queues ?? [...new Set([...this.queues.keys(), ...(await this.inspector.queueNames())])];
    await this.learnShards(queues);
    const reader = this.broker.eventReader();
    // From now: the newest event's cursor, so nothing written between two reads is missed.
    const cursors = { ...(await reader.latest(queues.filter((q) => !options.after?.[q]))), ...options.after };
    const onAbort = () => void reader.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!options.signal?.aborted) {
        let events: StoredEvent[];
        try {
          events = await reader.read(cursors, 100, 1000);
        } catch (err) {
          if (options.signal?.aborted) return;
          throw err;
        }
        for (const e of events) {
          cursors[e.queue] = e.cursor;
          yield e;
        }
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await reader.close();
    }
  }

  /** Makes the broker know which of these queues are sharded (their events are read per shard). */
  private async learnShards(queues: string[]): Promise<void> {
    const router = this.broker as ShardRouter;
    for (const q of this.queues.values()) router.know(q);
    await router.learn(queues);
  }

  /**
   * Enqueues `task` on every tick of a cron pattern, in workers serving its queue; each
   * tick runs once however many workers there are.
   */
  cron(pattern: string, task: AnyTask, options: CronOptions = {}): this {
    const def = defineSchedule(pattern, task.name, task.queue.name, options, 'code');
    if (this.codeSchedules.has(def.name)) throw new ConfigError('cron.name', 'a name not already used by another schedule', def.name);
    this.codeSchedules.set(def.name, def);
    return this;
  }

  /** Adds (or replaces) a schedule at runtime, stored in Redis, from any process. */
  async addSchedule(pattern: string, task: AnyTask | string, options: CronOptions & { queue?: string } = {}): Promise<ScheduleDefinition> {
    const name = typeof task === 'string' ? task : task.name;
    const queue = options.queue ?? (typeof task === 'string' ? this.taskNamed(task)?.queue.name : task.queue.name);
    if (!queue) throw new ConfigError('addSchedule.queue', `the queue of task '${name}' (this process does not define the task)`);
    const def = defineSchedule(pattern, name, queue, options, 'runtime');
    if (this.codeSchedules.has(def.name)) throw new ConfigError('cron.name', 'a name not used by a schedule defined in code', def.name);
    await this.broker.saveSchedule(def.name, JSON.stringify(def));
    return def;
  }

  /** Removes a runtime schedule; false when there is none of that name. */
  async removeSchedule(name: string): Promise<boolean> {
    const raw = (await this.broker.schedules())[name];
    if (!raw) return false;
    const def = JSON.parse(raw) as ScheduleDefinition;
    return this.broker.deleteSchedule(name, await this.client.ref(def.queue));
  }

  /** Schedules defined in this process's code and those stored at runtime, with their next run. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    const now = await this.broker.time();
    return (await this.allSchedules()).map((def) => ({ ...def, nextRunAt: nextTick(def, now) }));
  }

  private async allSchedules(): Promise<ScheduleDefinition[]> {
    const runtime = Object.values(await this.broker.schedules()).flatMap((raw) => {
      try {
        return [JSON.parse(raw) as ScheduleDefinition];
      } catch {
        this.log.warn({ raw: raw.slice(0, 100) }, 'ignoring an unreadable cron schedule in Redis');
        return [];
      }
    });
    return [...this.codeSchedules.values(), ...runtime.filter((d) => !this.codeSchedules.has(d.name))];
  }

  private cronHost(workerId: string): CronHost {
    return {
      schedules: () => this.allSchedules(),
      fire: (def, tick) => this.client.enqueueScheduled(def, tick, cronJobId(def, tick)),
      fireAtStartup: async (def) => {
        await this.client.enqueueScheduled(def, undefined, `cron:${def.name}:startup:${workerId}`);
      },
      serverTime: () => this.broker.time(),
      clock: this.broker.clock,
      onChange: this.broker.onSchedulesChanged?.bind(this.broker),
    };
  }

  /** The dead-letter queue of a queue: list, show, count, replay, delete, purge. */
  deadLetters(queue: string): DeadLetterQueue {
    return this.client.deadLetters(queue);
  }

  /** A worker for some or all of the app's queues; `await worker.run()` runs it until a signal. */
  worker(options: WorkerOptions = {}): Worker {
    return new Worker(this.workerHost(), options);
  }

  private workerHost(): WorkerHost {
    return {
      broker: this.broker,
      inspector: this.inspector,
      serializer: this.serializer,
      signingSecret: this.signingSecret,
      middleware: this.middleware,
      log: this.log,
      eventsMaxLen: this.eventsMaxLen,
      durability: this.durability,
      cron: (workerId) => this.cronHost(workerId),
      queueNamed: (name) => this.queues.get(name) as Queue<unknown> | undefined,
      allQueues: () => [...this.queues.values()] as Queue<unknown>[],
      workflows: () => this.workflows,
      enterLifespan: () => this.enterLifespan(),
      exitLifespan: () => this.exitLifespan(),
    };
  }

  private async enterLifespan(): Promise<unknown> {
    if (this.deps !== undefined) return this.deps;
    if (this.options.lifespan) {
      this.lifespan = this.options.lifespan();
      const first = await this.lifespan.next();
      if (first.done) throw new ConfigError('lifespan', 'an async generator that yields the dependencies once');
      this.deps = first.value;
    } else {
      this.deps = {} as D;
    }
    for (const hook of hooks(this.options.onStartup)) await hook(this.deps as D);
    return this.deps;
  }

  private async exitLifespan(): Promise<void> {
    if (this.deps === undefined) return;
    try {
      for (const hook of hooks(this.options.onShutdown)) await hook(this.deps);
    } finally {
      const gen = this.lifespan;
      this.lifespan = undefined;
      this.deps = undefined;
      if (gen) {
        const next = await gen.next();
        if (!next.done) await gen.return(undefined);
      }
    }
  }

  /**
   * @internal millrace/testing: runs the app (its tasks' enqueues, its workers, its job handles)
   * on another broker and inspector until the returned function gives it back its own.
   */
  substituteBroker(broker: Broker, inspector: Inspector): () => void {
    if (this.substitute) throw new Error('this app already runs under a test kit: close that one first (one createTestApp per app at a time)');
    const sub = { broker, inspector };
    this.substitute = sub;
    this.jobClient = undefined;
    return () => {
      if (this.substitute !== sub) return;
      this.substitute = undefined;
      this.jobClient = undefined;
    };
  }

  /** @internal millrace/testing: what a Redis broker of this app's own is made from. */
  redisSetup(): { settings: RedisSettings; binary: boolean; eventsMaxLen: number; log: Logger } {
    return { settings: resolveRedisSettings(this.options.redis), binary: this.serializer.binary, eventsMaxLen: this.eventsMaxLen, log: this.log };
  }

  /** Closes the app's Redis connections (a memory broker ends its blocked reads and waits, and keeps its data). */
  async close(): Promise<void> {
    await this.memory?.broker.close();
    await this.redisBroker?.close();
    this.redisBroker = undefined;
    this.redisInspector = undefined;
    this.jobClient = undefined;
  }
}

function memoryBroker(option: BrokerOption | undefined, eventsMaxLen: number): { broker: MemoryBroker; inspector: MemoryInspector } | undefined {
  if (option === undefined || option === 'redis') return undefined;
  if (option !== 'memory' && !(option instanceof MemoryBroker)) throw new ConfigError('broker', "'redis', 'memory' or a MemoryBroker", option);
  const broker = option === 'memory' ? new MemoryBroker({ eventsMaxLen }) : option;
  broker.adopt({ eventsMaxLen });
  return { broker, inspector: new MemoryInspector(broker) };
}

const routers = new WeakMap<Broker, ShardRouter>();
const runners = new WeakMap<Client, Workflows>();
const mergers = new WeakMap<Inspector, ShardInspector>();

function routed(broker: Broker): ShardRouter {
  let r = routers.get(broker);
  if (!r) routers.set(broker, (r = new ShardRouter(broker)));
  return r;
}

function merged(inspector: Inspector): ShardInspector {
  let m = mergers.get(inspector);
  if (!m) mergers.set(inspector, (m = new ShardInspector(inspector)));
  return m;
}

function hooks<D>(h: Hook<D> | Hook<D>[] | undefined): Hook<D>[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}
