// Queues and tasks as the user defines them. A Registry holds queues; a Millrace app is a
// Registry bound to Redis, and can include registries defined in other modules.

import { ConfigError } from './errors.js';
import { assertName } from './redis/keys.js';
import {
  resolveQueueOptions, resolveTaskOptions, type EnqueueOptions, type QueueDefaults, type QueueOptions,
  type ResolvedQueueOptions, type ResolvedTaskOptions, type TaskOptions,
} from './options.js';
import { resolveConfig } from './config.js';
import type { Handler } from './types.js';
import type { Job } from './job.js';
import type { GroupLimits, QueueRef } from './broker/types.js';
import { moduleUrl, threadHandler, type ThreadSpec } from './worker/threads.js';
import { Signature, type Flow } from './workflow/definition.js';
import type { StartOptions, WorkflowHandle } from './workflow/runner.js';


/** What a task needs from the app it is bound to. */
export interface TaskHost {
  enqueueTask(task: AnyTask, calls: { args: unknown[]; options: EnqueueOptions }[]): Promise<Job<unknown>[]>;
  /** One job with the task's defaults (the most common call, on a shorter path). */
  enqueueOne(task: AnyTask, args: unknown[]): Promise<Job<unknown>>;
  startWorkflow<R>(flow: Flow<R>, options?: StartOptions): Promise<WorkflowHandle<R>>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = Task<any, any[], unknown>;

/** Built-in queue defaults (a queue's options override them). */
export function queueDefaultsFromEnv(): QueueDefaults {
  return { concurrency: 10, jobTimeout: 300_000, resultTtl: 3600, maxTries: 3 };
}

/**
 * Queue settings from the environment (WORKER_TIMEOUT_SECONDS, WORKER_MAX_TRIES,
 * WORKER_KEEP_RESULT_SECONDS and their MILLRACE_ names): they override every queue's code values;
 * a task's own options still win over its queue's.
 */
export function queueOverridesFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<Pick<ResolvedQueueOptions, 'jobTimeout' | 'maxTries' | 'resultTtl'>> {
  const { values } = resolveConfig({}, env, {}, { keys: ['jobTimeout', 'maxTries', 'resultTtl'] });
  const out: Partial<Pick<ResolvedQueueOptions, 'jobTimeout' | 'maxTries' | 'resultTtl'>> = {};
  if (values.jobTimeout !== undefined) out.jobTimeout = values.jobTimeout;
  if (values.maxTries !== undefined) out.maxTries = values.maxTries;
  if (values.resultTtl !== undefined) out.resultTtl = values.resultTtl;
  return out;
}

export class Registry<D = unknown> {
  readonly queues = new Map<string, Queue<D>>();
  /** @internal the app this registry is bound to */
  host: (TaskHost & { readonly kind: 'millrace' }) | undefined;

  /** Defines a queue (or returns the one already defined under this name). */
  queue(name: string, options?: QueueOptions): Queue<D> {
    const existing = this.queues.get(name);
    if (existing) {
      if (options !== undefined) throw new ConfigError(`queue '${name}'`, 'options given once, where the queue is first defined');
      return existing;
    }
    assertName('queue', name);
    const q = new Queue<D>(this, name, { ...resolveQueueOptions(name, options, queueDefaultsFromEnv()), ...queueOverridesFromEnv() });
    this.queues.set(name, q);
    return q;
  }

  /** Every task of every queue. */
  tasks(): AnyTask[] {
    return [...this.queues.values()].flatMap((q) => [...q.tasks.values()]);
  }
}

export class Queue<D = unknown> implements QueueRef {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly tasks = new Map<string, Task<D, any[], unknown>>();

  constructor(
    readonly registry: Registry<D>,
    readonly name: string,
    readonly options: ResolvedQueueOptions,
  ) {}

  get levels(): readonly string[] {
    return this.options.priorities;
  }

  get resultTtl(): number {
    return this.options.resultTtl;
  }

  /** Set on the view of one shard of a sharded queue (src/shards: shardRefs), never on the queue itself. */
  declare readonly shard?: number;

  /** How many shards the queue is stored as (1: not sharded). */
  get shards(): number {
    return this.options.shards;
  }

  /** Jobs held at once by all workers together, at most (0: no cap). */
  get globalConcurrency(): number {
    return this.options.globalConcurrency;
  }

  /** Jobs delivered at most `max` per `perMs` over all workers (undefined: no limit). */
  get rateLimit(): { max: number; perMs: number } | undefined {
    return this.options.rateLimit;
  }

  /** Fair groups' limits (undefined: not a grouped queue). */
  get groups(): GroupLimits | undefined {
    return this.options.groups;
  }

  /** Defines a task; its arguments and result types come from the handler. */
  task<A extends unknown[], R>(name: string, handler: Handler<D, A, R>, options?: TaskOptions): Task<D, A, Awaited<R>> {
    assertName('task', name);
    if (typeof handler !== 'function') throw new ConfigError(`task '${name}'.handler`, 'a function (ctx, ...args) => result');
    if (this.tasks.has(name)) throw new ConfigError(`task '${name}'`, `a name not already used in queue '${this.name}'`);
    const t = new Task<D, A, Awaited<R>>(this, name, handler as Handler<D, A, Awaited<R>>, resolveTaskOptions(name, options, this.options));
    this.tasks.set(name, t);
    return t;
  }

  /**
   * Defines a CPU-bound task that runs on the worker's thread pool: the module's export is called
   * with the job's arguments (no ctx); arguments and result must be structured-clonable. Types come
   * from the function: `q.threadTask<typeof import('./cpu.js').fib>('fib', url, { export: 'fib' })`.
   */
  threadTask<F extends AnyFunction = AnyFunction>(name: string, module: URL | string, options: ThreadTaskOptions = {}): Task<D, Parameters<F>, Awaited<ReturnType<F>>> {
    assertName('task', name);
    const { export: exportName = 'default', ...taskOptions } = options;
    if (typeof exportName !== 'string' || exportName === '') throw new ConfigError(`task '${name}'.export`, 'the name of a function the module exports', exportName);
    const spec: ThreadSpec = { module: moduleUrl(module, `task '${name}'.module`), export: exportName };
    if (this.tasks.has(name)) throw new ConfigError(`task '${name}'`, `a name not already used in queue '${this.name}'`);
    const t = new Task<D, Parameters<F>, Awaited<ReturnType<F>>>(
      this, name, threadHandler(spec) as unknown as Handler<D, Parameters<F>, Awaited<ReturnType<F>>>, resolveTaskOptions(name, taskOptions, this.options), spec,
    );
    this.tasks.set(name, t);
    return t;
  }
}

/** Options of a thread task: the task options, and which export of the module to call. */
export interface ThreadTaskOptions extends TaskOptions {
  /** The module's export to call (default 'default'). */
  export?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

export interface TaskCall<A extends unknown[], R> {
  enqueue(...args: A): Promise<Job<R>>;
}

export class Task<D, A extends unknown[], R> {
  constructor(
    readonly queue: Queue<D>,
    readonly name: string,
    readonly handler: Handler<D, A, R>,
    readonly options: ResolvedTaskOptions,
    /** Set for a thread task: the function it runs on the worker's thread pool. */
    readonly thread?: ThreadSpec,
  ) {}

  /** @internal the app the task's registry is bound to */
  get host(): TaskHost {
    const host = this.queue.registry.host;
    if (!host) {
      throw new ConfigError(
        `task '${this.name}'`,
        'a task whose registry is included in a Millrace app: call app.include(registry) before enqueueing',
      );
    }
    return host;
  }

  /** Enqueues one job with the task's defaults. */
  enqueue(...args: A): Promise<Job<R>> {
    try {
      return this.host.enqueueOne(this, args) as Promise<Job<R>>;
    } catch (err) {
      return Promise.reject(err); // a task not bound to an app: rejected like every other error
    }
  }

  /**
   * A signature of this task for a workflow (src/workflow): with every argument, a first stage
   * (`resize.s(path)`); with all but the first, a later stage, whose first argument is what the
   * stage before gave (`upload.s()` receives resize's result). The compiler checks each fits.
   */
  s(...args: A): Signature<void, R>;
  s(...rest: A extends [unknown, ...infer T] ? T : never): Signature<A extends [infer H, ...unknown[]] ? H : never, R>;
  s(...args: unknown[]): Signature<unknown, R> {
    return new Signature(this, args);
  }

  /** Enqueue options for the next call: `task.with({ delay: '10m' }).enqueue(...)`. */
  with(options: EnqueueOptions): TaskCall<A, R> {
    return {
      enqueue: async (...args: A) => (await this.host.enqueueTask(this, [{ args, options }]))[0] as Job<R>,
    };
  }

  /** Enqueues many jobs in one round trip. Each item is the argument list, or { args, options }. */
  async enqueueMany(items: readonly (A | { args: A; options?: EnqueueOptions })[]): Promise<Job<R>[]> {
    const calls = items.map((it) => (Array.isArray(it) ? { args: it as unknown[], options: {} } : { args: (it as { args: A }).args as unknown[], options: (it as { options?: EnqueueOptions }).options ?? {} }));
    return (await this.host.enqueueTask(this, calls)) as Job<R>[];
  }
}
