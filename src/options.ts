// Option schemas for queues, tasks and enqueue calls. Every invalid value throws a
// ConfigError naming the option and what it accepts.

import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDuration, type Duration } from './duration.js';
import type { MemoryBroker } from './memory/broker.js';
import type { Durability } from './broker/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

export interface BackoffOptions {
  /** fixed: base; linear: base × attempt; exponential: base × 2^(attempt-1). */
  type?: 'fixed' | 'linear' | 'exponential';
  base?: Duration;
  max?: Duration;
  /** Spread each delay uniformly over [delay/2, delay] so retries of many jobs do not align. */
  jitter?: boolean;
}

/**
 * Durable writes: an enqueue answers only once `replicas` replicas acknowledged it (WAIT), or
 * with `aof` once it was fsynced to the append-only file (WAITAOF, Redis 7.2+), within
 * `timeout`; when that cannot be confirmed it rejects with a NotDurableError carrying the job
 * ids (the jobs were written). See docs/topologies.md#durable-enqueue.
 */
export interface DurabilityOptions {
  /** Replicas that must acknowledge (default 1; 0 with aof: 'local'). */
  replicas?: number;
  /** How long to wait for them (default 1 s). */
  timeout?: Duration;
  /**
   * true: WAITAOF (the master's and `replicas` replicas' append-only files fsynced); 'local':
   * the master's file fsynced, and `replicas` replicas acknowledged by WAIT. Needs Redis 7.2+.
   */
  aof?: boolean | 'local';
  /** Queue or app only: the worker's outcome writes (completion, retry, dead letter) wait too. */
  outcomes?: boolean;
}

/** How long a job's result is kept: a duration, 'forever', or 'none' (0). */
export type Retention = Duration | 'forever' | 'none';

export interface QueueOptions {
  /** Jobs of this queue one worker runs at once. */
  concurrency?: number;
  /** Jobs fetched ahead of free slots (default: concurrency). */
  prefetch?: number;
  jobTimeout?: Duration;
  resultTtl?: Retention;
  maxTries?: number;
  backoff?: BackoffOptions;
  /** Priority levels, lowest first. */
  priorities?: string[];
  defaultPriority?: string;
  /** Send jobs that failed for good to the dead-letter stream (default true). */
  deadLetter?: boolean;
  /** Times a job may be reclaimed from a dead worker before it counts as poison. */
  maxRecoveries?: number;
  /** A held job whose lease was not renewed for this long is reclaimed by another worker. */
  idleTimeout?: Duration;
  /** Durable enqueue (and outcomes) for this queue's jobs, over the app's; false: none. */
  durability?: DurabilityOptions | false;
  /**
   * Store the queue as this many sub-queues (shards), each in its own Cluster slot, so one hot
   * queue spreads over several masters (default 1). Fixed for the queue's life: see
   * docs/topologies.md#one-queue-over-many-masters.
   */
  shards?: number;
  /**
   * Jobs of this queue running (or fetched) at once over all workers and processes together, at
   * most (default: no cap). A worker's jobs hold their permits until they end; a killed worker's
   * come back when its jobs are reclaimed (idleTimeout). See docs/flow-control.md.
   */
  globalConcurrency?: number;
  /**
   * Jobs of this queue started at most `max` per `per` over all workers and processes together
   * (a token bucket of `max`, refilled continuously); limited jobs wait in place. See
   * docs/flow-control.md.
   */
  rateLimit?: { max: number; per: Duration };
  /**
   * Fair groups: jobs with a group key (a tenant, a customer) wait in their group and are served
   * round robin between groups, one job per group per turn, so a group with a million jobs does
   * not delay a group with one; optionally each group at most `concurrency` jobs at once and
   * `rateLimit` per group, over all workers. See docs/flow-control.md#fair-groups.
   */
  groups?: GroupOptions;
}

export interface GroupOptions {
  /** A job's group from its task's name and arguments (undefined: no group); `enqueue({ group })` overrides it. */
  key?: (args: unknown[], task: string) => string | undefined;
  /** Jobs of one group held (fetched or running) at once over all workers, at most. */
  concurrency?: number;
  /** Jobs of one group started at most `max` per `per` over all workers (a token bucket per group). */
  rateLimit?: { max: number; per: Duration };
}

export interface TaskOptions {
  timeout?: Duration;
  maxTries?: number;
  backoff?: BackoffOptions;
  /** Only errors of these classes are retried; others fail at once. */
  retryOn?: ErrorClass[];
  /** Errors of these classes fail the job at once without dead-lettering it. */
  ignoreOn?: ErrorClass[];
  resultTtl?: Retention;
  /** A job not started within this time after it was enqueued is not run. */
  expires?: Duration;
  priority?: string;
  /** Acknowledge before running: a crash loses the job rather than running it twice. */
  atMostOnce?: boolean;
}

export interface EnqueueOptions {
  /** Custom job id: enqueueing an id that exists returns the existing job. */
  id?: string;
  delay?: Duration;
  runAt?: Date | number;
  priority?: string;
  timeout?: Duration;
  maxTries?: number;
  /** Do not start after this time (a Date) or this long after enqueueing. */
  expires?: Duration | Date;
  /** Durable enqueue for this call, over the queue's and the app's; false: none. */
  durability?: Omit<DurabilityOptions, 'outcomes'> | false;
  /** The job's group (fair groups: docs/flow-control.md#fair-groups), over the queue's `groups.key`. */
  group?: string;
}

export interface ResolvedBackoff {
  type: 'fixed' | 'linear' | 'exponential';
  base: number;
  max: number;
  jitter: boolean;
}

export interface ResolvedQueueOptions {
  concurrency: number;
  prefetch: number;
  jobTimeout: number;
  /** Seconds: -1 forever, 0 none. */
  resultTtl: number;
  maxTries: number;
  backoff: ResolvedBackoff;
  priorities: string[];
  defaultPriority: string;
  deadLetter: boolean;
  maxRecoveries: number;
  idleTimeout: number;
  /** undefined: the app's; false: none. */
  durability: Durability | false | undefined;
  /** Sub-queues the queue is stored as (1: not sharded). */
  shards: number;
  /** Jobs held at once by all workers together, at most; 0: no cap. */
  globalConcurrency: number;
  /** Jobs delivered at most `max` per `perMs` over all workers; undefined: no limit. */
  rateLimit: { max: number; perMs: number } | undefined;
  /** Fair groups; undefined: not a grouped queue. */
  groups: ResolvedGroups | undefined;
}

export interface ResolvedGroups {
  key: ((args: unknown[], task: string) => string | undefined) | undefined;
  /** 0: no cap. */
  concurrency: number;
  rateLimit: { max: number; perMs: number } | undefined;
}

export interface ResolvedTaskOptions {
  timeout: number;
  maxTries: number;
  backoff: ResolvedBackoff;
  retryOn: ErrorClass[] | undefined;
  ignoreOn: ErrorClass[];
  resultTtl: number;
  expires: number | undefined;
  priority: string;
  atMostOnce: boolean;
}

/** The most shards a queue may have (each is a set of keys and, on a worker, a fetch loop). */
export const MAX_SHARDS = 256;

const duration = z.union([z.number().min(0), z.string()]);
const retention = z.union([duration, z.literal('forever'), z.literal('none')]);
const errorClasses = z.array(z.custom<ErrorClass>((v) => typeof v === 'function'));
const backoff = z.strictObject({
  type: z.enum(['fixed', 'linear', 'exponential']).optional(),
  base: duration.optional(),
  max: duration.optional(),
  jitter: z.boolean().optional(),
});

const ACCEPTS: Record<string, string> = {
  concurrency: 'an integer >= 1',
  prefetch: 'an integer >= 0',
  jobTimeout: "a duration (ms or '30s') > 0",
  timeout: "a duration (ms or '30s') > 0",
  resultTtl: "a duration (ms or '1h'), 'forever' or 'none'",
  maxTries: 'an integer >= 1',
  backoff: "{ type?: 'fixed' | 'linear' | 'exponential', base?: duration, max?: duration, jitter?: boolean }",
  shards: `an integer from 1 to ${MAX_SHARDS}`,
  globalConcurrency: 'an integer >= 1 (on a queue of one shard)',
  rateLimit: "{ max: an integer >= 1, per: a duration (ms or '1s') >= 1 ms } (on a queue of one shard)",
  priorities: 'a non-empty list of at most 64 distinct level names, lowest first',
  defaultPriority: 'one of the queue priorities',
  priority: 'one of the queue priorities',
  deadLetter: 'true or false',
  maxRecoveries: 'an integer >= 0',
  idleTimeout: "a duration (ms or '30s') >= 1000 ms",
  retryOn: 'a list of Error classes',
  ignoreOn: 'a list of Error classes',
  expires: "a duration (ms or '10m'), or a Date for enqueue",
  atMostOnce: 'true or false',
  id: "a string of 1-200 characters without '|', not shaped like an auto id ('123-0')",
  delay: "a duration (ms or '10m')",
  runAt: 'a Date or epoch milliseconds',
  groups: "{ key?: (args, task) => string | undefined, concurrency?: an integer >= 1, rateLimit?: { max: an integer >= 1, per: a duration >= 1 ms } } (limits on a queue of one shard)",
  group: 'a string of 1-200 characters',
};

const queueSchema = z.strictObject({
  concurrency: z.number().int().min(1).optional(),
  prefetch: z.number().int().min(0).optional(),
  jobTimeout: duration.optional(),
  resultTtl: retention.optional(),
  maxTries: z.number().int().min(1).optional(),
  backoff: backoff.optional(),
  priorities: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,30}$/)).min(1).max(64).optional(),
  defaultPriority: z.string().optional(),
  deadLetter: z.boolean().optional(),
  maxRecoveries: z.number().int().min(0).optional(),
  idleTimeout: duration.optional(),
  durability: z.unknown().optional(), // resolveDurability names what is wrong in it
  shards: z.number().int().min(1).max(MAX_SHARDS).optional(),
  globalConcurrency: z.number().int().min(1).optional(),
  rateLimit: z.strictObject({ max: z.number().int().min(1), per: duration }).optional(),
  groups: z.strictObject({
    key: z.custom<(args: unknown[], task: string) => string | undefined>((v) => typeof v === 'function').optional(),
    concurrency: z.number().int().min(1).optional(),
    rateLimit: z.strictObject({ max: z.number().int().min(1), per: duration }).optional(),
  }).optional(),
});

const taskSchema = z.strictObject({
  timeout: duration.optional(),
  maxTries: z.number().int().min(1).optional(),
  backoff: backoff.optional(),
  retryOn: errorClasses.optional(),
  ignoreOn: errorClasses.optional(),
  resultTtl: retention.optional(),
  expires: duration.optional(),
  priority: z.string().optional(),
  atMostOnce: z.boolean().optional(),
});

const enqueueSchema = z.strictObject({
  id: z.string().min(1).max(200).refine((s) => !s.includes('|') && !/^\d+-\d+$/.test(s)).optional(),
  delay: duration.optional(),
  runAt: z.union([z.date(), z.number().min(0)]).optional(),
  priority: z.string().optional(),
  timeout: duration.optional(),
  maxTries: z.number().int().min(1).optional(),
  expires: z.union([duration, z.date()]).optional(),
  durability: z.unknown().optional(),
  group: z.string().min(1).max(200).optional(),
});

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys((schema as unknown as { shape: object }).shape).join(', ');
    throw new ConfigError(`${where}.${issue.keys[0]}`, `one of the known options: ${known}`);
  }
  const received = field ? (value as Record<string, unknown>)[field] : value;
  throw new ConfigError(field ? `${where}.${field}` : where, ACCEPTS[field] ?? issue.message, received);
}

function ms(value: Duration, option: string, min = 0): number {
  let n: number;
  try {
    n = parseDuration(value, option);
  } catch {
    throw new ConfigError(option, "a duration: milliseconds or a string like '30s', '5m', '2h'", value);
  }
  if (n < min) throw new ConfigError(option, `a duration of at least ${min} ms`, value);
  return n;
}

export function retentionSeconds(value: Retention, option: string): number {
  if (value === 'forever') return -1;
  if (value === 'none') return 0;
  return Math.ceil(ms(value, option) / 1000);
}

function resolveBackoff(b: BackoffOptions | undefined, fallback: ResolvedBackoff, option: string): ResolvedBackoff {
  if (!b) return fallback;
  return {
    type: b.type ?? fallback.type,
    base: b.base === undefined ? fallback.base : ms(b.base, `${option}.base`),
    max: b.max === undefined ? fallback.max : ms(b.max, `${option}.max`),
    jitter: b.jitter ?? fallback.jitter,
  };
}

export interface QueueDefaults {
  concurrency: number;
  jobTimeout: number;
  resultTtl: number;
  maxTries: number;
}

export const DEFAULT_BACKOFF: ResolvedBackoff = { type: 'exponential', base: 1000, max: 3_600_000, jitter: true };
export const DEFAULT_PRIORITIES = ['low', 'normal', 'high', 'critical'];

export function resolveQueueOptions(name: string, raw: QueueOptions | undefined, defaults: QueueDefaults): ResolvedQueueOptions {
  const o = check(queueSchema, raw, `queue '${name}'`);
  const priorities = o.priorities ?? DEFAULT_PRIORITIES;
  if (new Set(priorities).size !== priorities.length) throw new ConfigError(`queue '${name}'.priorities`, ACCEPTS.priorities!, priorities);
  const defaultPriority = o.defaultPriority ?? (priorities.includes('normal') ? 'normal' : priorities[0]!);
  if (!priorities.includes(defaultPriority)) {
    throw new ConfigError(`queue '${name}'.defaultPriority`, `one of ${priorities.join(', ')}`, defaultPriority);
  }
  const concurrency = o.concurrency ?? defaults.concurrency;
  // A cap is one count in one slot: a sharded queue's jobs live in several.
  if (o.globalConcurrency !== undefined && (o.shards ?? 1) > 1) throw new ConfigError(`queue '${name}'.globalConcurrency`, ACCEPTS.globalConcurrency!, o.globalConcurrency);
  if (o.rateLimit !== undefined && (o.shards ?? 1) > 1) throw new ConfigError(`queue '${name}'.rateLimit`, ACCEPTS.rateLimit!, o.rateLimit);
  // A group's permits and tokens are counted in one slot: a sharded queue's groups span several.
  if ((o.groups?.concurrency !== undefined || o.groups?.rateLimit !== undefined) && (o.shards ?? 1) > 1) throw new ConfigError(`queue '${name}'.groups`, ACCEPTS.groups!, o.groups);
  const groups: ResolvedGroups | undefined = o.groups && {
    key: o.groups.key,
    concurrency: o.groups.concurrency ?? 0,
    rateLimit: o.groups.rateLimit && { max: o.groups.rateLimit.max, perMs: ms(o.groups.rateLimit.per, `queue '${name}'.groups.rateLimit.per`, 1) },
  };
  return {
    concurrency,
    // Under a cap, a job fetched ahead holds a permit another worker could run it with: none by default.
    prefetch: o.prefetch ?? (o.globalConcurrency !== undefined || groups?.concurrency ? 0 : concurrency),
    jobTimeout: o.jobTimeout === undefined ? defaults.jobTimeout : ms(o.jobTimeout, `queue '${name}'.jobTimeout`, 1),
    resultTtl: o.resultTtl === undefined ? defaults.resultTtl : retentionSeconds(o.resultTtl, `queue '${name}'.resultTtl`),
    maxTries: o.maxTries ?? defaults.maxTries,
    backoff: resolveBackoff(o.backoff, DEFAULT_BACKOFF, `queue '${name}'.backoff`),
    priorities,
    defaultPriority,
    deadLetter: o.deadLetter ?? true,
    maxRecoveries: o.maxRecoveries ?? 3,
    idleTimeout: o.idleTimeout === undefined ? 30_000 : ms(o.idleTimeout, `queue '${name}'.idleTimeout`, 1000),
    durability: resolveDurability(o.durability, `queue '${name}'.durability`, true),
    shards: o.shards ?? 1,
    globalConcurrency: o.globalConcurrency ?? 0,
    rateLimit: o.rateLimit === undefined ? undefined : { max: o.rateLimit.max, perMs: ms(o.rateLimit.per, `queue '${name}'.rateLimit.per`, 1) },
    groups,
  };
}

export function resolveTaskOptions(name: string, raw: TaskOptions | undefined, queue: ResolvedQueueOptions): ResolvedTaskOptions {
  const o = check(taskSchema, raw, `task '${name}'`);
  const priority = o.priority ?? queue.defaultPriority;
  if (!queue.priorities.includes(priority)) {
    throw new ConfigError(`task '${name}'.priority`, `one of ${queue.priorities.join(', ')}`, priority);
  }
  return {
    timeout: o.timeout === undefined ? queue.jobTimeout : ms(o.timeout, `task '${name}'.timeout`, 1),
    maxTries: o.maxTries ?? queue.maxTries,
    backoff: resolveBackoff(o.backoff, queue.backoff, `task '${name}'.backoff`),
    retryOn: o.retryOn,
    ignoreOn: o.ignoreOn ?? [],
    resultTtl: o.resultTtl === undefined ? queue.resultTtl : retentionSeconds(o.resultTtl, `task '${name}'.resultTtl`),
    expires: o.expires === undefined ? undefined : ms(o.expires, `task '${name}'.expires`, 1),
    priority,
    atMostOnce: o.atMostOnce ?? false,
  };
}

export interface ResolvedEnqueue {
  id: string;
  level: number;
  due?: { delay: number } | { at: number };
  timeout?: number;
  maxTries?: number;
  expiresAt?: number;
  /** undefined: the queue's or app's; false: none. */
  durability?: Durability | false;
  group?: string;
}

/** Validates enqueue options against the queue's priorities and the task's defaults. */
export function resolveEnqueueOptions(
  raw: EnqueueOptions | undefined,
  priorities: readonly string[],
  defaultPriority: string,
  taskExpires: number | undefined,
  now = Date.now(),
): ResolvedEnqueue {
  // Most enqueue calls pass no options: skip the schema for them (it is on the hot path).
  const o = raw === undefined || isEmpty(raw) ? {} as z.output<typeof enqueueSchema> : check(enqueueSchema, raw, 'enqueue');
  const priority = o.priority ?? defaultPriority;
  const level = priorities.indexOf(priority);
  if (level < 0) throw new ConfigError('enqueue.priority', `one of ${priorities.join(', ')}`, priority);
  if (o.delay !== undefined && o.runAt !== undefined) throw new ConfigError('enqueue.delay', 'either delay or runAt, not both');
  const out: ResolvedEnqueue = { id: o.id ?? '', level };
  if (o.delay !== undefined) out.due = { delay: ms(o.delay, 'enqueue.delay') };
  if (o.runAt !== undefined) out.due = { at: o.runAt instanceof Date ? o.runAt.getTime() : o.runAt };
  if (o.timeout !== undefined) out.timeout = ms(o.timeout, 'enqueue.timeout', 1);
  if (o.maxTries !== undefined) out.maxTries = o.maxTries;
  const startBy = out.due === undefined ? now : 'at' in out.due ? out.due.at : now + out.due.delay;
  if (o.expires instanceof Date) out.expiresAt = o.expires.getTime();
  else if (o.expires !== undefined) out.expiresAt = startBy + ms(o.expires, 'enqueue.expires');
  else if (taskExpires !== undefined) out.expiresAt = startBy + taskExpires;
  if (o.durability !== undefined) out.durability = resolveDurability(o.durability, 'enqueue.durability', false);
  if (o.group !== undefined) out.group = o.group;
  return out;
}

const DURABILITY_ACCEPTS = "false, or { replicas?: integer >= 0, timeout?: duration, aof?: true | false | 'local' }";

/**
 * Durability options checked and resolved: undefined when not given (the next level's apply),
 * false for none (given false, or nothing to wait for: replicas 0 without aof).
 */
export function resolveDurability(raw: unknown, option: string, outcomes: boolean): Durability | false | undefined {
  if (raw === undefined) return undefined;
  if (raw === false) return false;
  const accepts = outcomes ? `${DURABILITY_ACCEPTS.slice(0, -2)}, outcomes?: boolean }` : DURABILITY_ACCEPTS;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(option, accepts, raw);
  const known = outcomes ? ['replicas', 'timeout', 'aof', 'outcomes'] : ['replicas', 'timeout', 'aof'];
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    if (key === 'outcomes') throw new ConfigError(`${option}.outcomes`, "no 'outcomes' on an enqueue: it is a queue or app option (the worker's outcome writes)");
    throw new ConfigError(`${option}.${key}`, `one of the known options: ${known.join(', ')}`);
  }
  const d = raw as DurabilityOptions;
  if (d.aof !== undefined && d.aof !== true && d.aof !== false && d.aof !== 'local') {
    throw new ConfigError(`${option}.aof`, "true (the master's and the replicas' append-only files fsynced, WAITAOF), 'local' (the master's file) or false", d.aof);
  }
  const aof = d.aof ?? false;
  const replicas = d.replicas ?? (aof === 'local' ? 0 : 1);
  if (!Number.isInteger(replicas) || replicas < 0) throw new ConfigError(`${option}.replicas`, 'an integer >= 0: the replicas that must acknowledge', d.replicas);
  const timeoutMs = Math.ceil(ms(d.timeout ?? 1000, `${option}.timeout`, 1));
  if (d.outcomes !== undefined && typeof d.outcomes !== 'boolean') throw new ConfigError(`${option}.outcomes`, 'true or false', d.outcomes);
  if (replicas === 0 && aof === false) return false;
  return { replicas, timeoutMs, aof, outcomes: d.outcomes ?? false, key: `${replicas}/${timeoutMs}/${aof}` };
}

/**
 * The app's durability: the code's `durability`, with MILLRACE_DURABILITY_REPLICAS and
 * MILLRACE_DURABILITY_TIMEOUT over it (replicas 0 turns it off; a timeout alone needs durability
 * from the code or the replicas variable).
 */
export function appDurability(code: unknown, env: { replicas?: number; timeoutMs?: number; timeoutGiven?: { name?: string; raw?: unknown } }): Durability | undefined {
  const own = resolveDurability(code, 'durability', true);
  if (env.replicas === undefined && env.timeoutMs === undefined) return own || undefined;
  if (env.replicas === undefined && !own) {
    throw new ConfigError(env.timeoutGiven?.name ?? 'MILLRACE_DURABILITY_TIMEOUT', 'a timeout for durable enqueue that is on: set MILLRACE_DURABILITY_REPLICAS too (or durability in code)', env.timeoutGiven?.raw);
  }
  const base = typeof code === 'object' && code !== null ? code : {};
  return resolveDurability({
    ...base,
    ...(env.replicas !== undefined && { replicas: env.replicas }),
    ...(env.timeoutMs !== undefined && { timeout: env.timeoutMs }),
  }, 'durability', true) || undefined;
}

/** The durability that applies: the most specific level that says (false: none). */
export function durabilityOf(call: Durability | false | undefined, queue: Durability | false | undefined, app: Durability | undefined): Durability | undefined {
  const d = call ?? queue ?? app;
  return d === false ? undefined : d;
}

/** Delay before the next attempt after `attempt` attempts failed. */
export function backoffDelay(b: ResolvedBackoff, attempt: number, random = Math.random): number {
  const raw = b.type === 'fixed' ? b.base : b.type === 'linear' ? b.base * attempt : b.base * 2 ** (attempt - 1);
  const capped = Math.min(raw, b.max);
  return b.jitter ? capped / 2 + random() * (capped / 2) : capped;
}

/**
 * Which broker an app uses: Redis (the default), or `'memory'` / a `MemoryBroker` instance (give
 * one to choose its clock, e.g. a `ManualClock`). The memory broker is for tests and local
 * tinkering: one process, nothing persisted, not for production. With it, the app never opens a
 * Redis connection; see docs/memory-broker.md.
 */
export type BrokerOption = 'redis' | 'memory' | MemoryBroker;
