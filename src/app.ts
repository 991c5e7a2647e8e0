// The Millrace app: a registry of queues and tasks bound to Redis, from which jobs are
// enqueued and inspected in any process, and workers are made.

import { pino, type Logger } from 'pino';
import { ConfigError } from './errors.js';
import { Registry, type AnyTask, type Queue } from './registry.js';
import { Client, type DeadLetterQueue } from './client.js';
import { Job } from './job.js';
import { RedisBroker } from './redis/broker.js';
import { RedisInspector } from './redis/inspector.js';
import { loadDotEnv, resolveRedisSettings, type RedisOption } from './settings.js';
import { resolveSerializer, type Serializer, type SerializerOption } from './serializer.js';
import { Worker, type WorkerHost, type WorkerOptions } from './worker/worker.js';
import type { Broker, Inspector, JobSummary } from './broker/types.js';
import type { EnqueueOptions } from './options.js';
import type { Middleware } from './types.js';

type Hook<D> = (deps: D) => unknown;

export interface MillraceOptions<D> {
  /** A Redis URL or settings; REDIS_URL and friends in the environment override it. */
  redis?: RedisOption;
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
}

export class Millrace<D = Record<string, never>> extends Registry<D> {
  readonly kind = 'millrace' as const;
  readonly log: Logger;
  readonly serializer: Serializer;
  readonly signingSecret: string | undefined;
  readonly prefix: string;
  readonly middleware: Middleware<unknown>[];
  private readonly options: MillraceOptions<D>;
  private redisBroker: RedisBroker | undefined;
  private redisInspector: RedisInspector | undefined;
  private jobClient: Client | undefined;
  private readonly included: Registry<D>[] = [];
  private lifespan: AsyncGenerator<D, unknown, unknown> | undefined;
  private deps: D | undefined;

  constructor(options: MillraceOptions<D> = {}) {
    super();
    loadDotEnv();
    this.options = options;
    this.host = this;
    this.prefix = process.env.MILLRACE_PREFIX ?? options.prefix ?? 'millrace';
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(this.prefix)) throw new ConfigError('prefix', "1-64 letters, digits, '_', '.', ':' or '-'", this.prefix);
    this.serializer = resolveSerializer(options.serializer);
    this.signingSecret = process.env.MILLRACE_SIGNING_SECRET ?? options.signingSecret;
    this.middleware = [...(options.middleware ?? [])] as Middleware<unknown>[];
    this.log = options.logger ?? pino({ name: 'millrace', level: options.logLevel ?? process.env.MILLRACE_LOG_LEVEL ?? 'info' });
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

  get broker(): Broker {
    return this.redis();
  }

  get inspector(): Inspector {
    this.redisInspector ??= new RedisInspector(this.redis().ctx);
    return this.redisInspector;
  }

  private redis(): RedisBroker {
    this.redisBroker ??= new RedisBroker(resolveRedisSettings(this.options.redis), this.prefix, this.serializer.binary);
    return this.redisBroker;
  }

  private get client(): Client {
    this.jobClient ??= new Client({
      broker: this.broker,
      inspector: this.inspector,
      serializer: this.serializer,
      signingSecret: this.signingSecret,
      middleware: this.middleware as Middleware<never>[],
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

  listJobs(queue: string, state: JobSummary['state'], limit = 100): Promise<JobSummary[]> {
    return this.client.listJobs(queue, state, limit);
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
      serializer: this.serializer,
      signingSecret: this.signingSecret,
      middleware: this.middleware,
      log: this.log,
      queueNamed: (name) => this.queues.get(name) as Queue<unknown> | undefined,
      allQueues: () => [...this.queues.values()] as Queue<unknown>[],
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

  /** Closes the app's Redis connections. */
  async close(): Promise<void> {
    await this.redisBroker?.close();
    this.redisBroker = undefined;
    this.redisInspector = undefined;
    this.jobClient = undefined;
  }
}

function hooks<D>(h: Hook<D> | Hook<D>[] | undefined): Hook<D>[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}
