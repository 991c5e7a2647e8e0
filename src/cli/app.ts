// How the operation commands reach Redis: the app of `--app <module>[:export]` (loaded as
// `millrace worker` loads it), else a plain app configured by the environment (REDIS_URL,
// MILLRACE_PREFIX, .env). Also the errors those commands exit with, and queue look-ups.

import { pino } from 'pino';
import { Millrace } from '../app.js';
import { resolveRedisSettings } from '../settings.js';
import type { QueueRef } from '../broker/types.js';
import { baseBroker } from '../shards/broker.js';
import { SentinelsUnreachableError } from '../redis/sentinels.js';
import { CliError, importModule, pickApp, parseTarget, resolveModule, UsageError } from './load.js';

export { CliError } from './load.js';

/** The app as the commands use it (a user's module may bring its own copy of millrace). */
export type OpsApp = Millrace<unknown>;

const OPS_METHODS = ['enqueueByName', 'findJob', 'job', 'listJobs', 'deadLetters', 'workers', 'cleanupStaleWorkers', 'readEvents', 'pause', 'resume'] as const;

/** Priority levels assumed for a queue no process registered (as the client assumes). */
const DEFAULT_LEVELS = ['low', 'normal', 'high', 'critical'];

export interface Opened {
  app: OpsApp;
  /** Where Redis is, for messages: the URL without its password, or what configures it. */
  redis: string;
  /** The last connection error (e.g. 'connect ECONNREFUSED ...'), if any. */
  connectionError(): string | undefined;
}

/** Remembers the app's last Redis connection error: it says more than a failed command does. */
function opened(app: OpsApp, redis: string): Opened {
  let last: string | undefined;
  const conn = (baseBroker(app.broker) as unknown as { ctx?: { conn?: { on(event: 'error', fn: (err: Error) => void): unknown } } }).ctx?.conn;
  conn?.on('error', (err) => (last = err.message));
  return { app, redis, connectionError: () => last };
}

/** The app to work through; its Redis is not contacted yet. */
export async function openApp(target: string | undefined): Promise<Opened> {
  if (target === undefined) {
    // Commands fail fast when Redis is down rather than retrying for long; logs go to stderr
    // so that --json output stays parseable.
    const logger = pino({ name: 'millrace', level: process.env.MILLRACE_LOG_LEVEL ?? 'error' }, pino.destination(2));
    const app = new Millrace<unknown>({ logger, redis: { maxRetriesPerRequest: 1, connectTimeout: 5000 } });
    return opened(app, redactUrl(resolveRedisSettings(undefined).url));
  }
  const { file, exportName } = parseTarget(target);
  const path = resolveModule(file);
  const { app, name } = pickApp(await importModule(path, file), file, exportName);
  const missing = OPS_METHODS.filter((m) => typeof (app as unknown as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw new UsageError(`the app '${name}' of '${file}' lacks ${missing.join(', ')}: it comes from an older millrace; upgrade it or leave out --app`);
  }
  // The user's logger may write to stdout: keep it quiet unless asked.
  if (process.env.MILLRACE_LOG_LEVEL === undefined) app.log.level = 'error';
  return opened(app as unknown as OpsApp, `the Redis of the app in '${file}'`);
}

/** Rejects with a clear error when Redis does not answer a PING within `timeoutMs`. */
export async function checkRedis(o: Opened, timeoutMs = 5000): Promise<number> {
  try {
    return await withTimeout(o.app.broker.ping(), timeoutMs, `no answer within ${timeoutMs} ms`);
  } catch (err) {
    throw new CliError(
      `cannot reach Redis (${o.redis}): ${redisFailure(o, err)}. ` +
        'Set REDIS_URL (or REDIS_URL_LOCAL outside a container), or pass --app <module> whose app configures Redis.',
    );
  }
}

/**
 * Why Redis failed: the connection's own error when there is one, else the command's; the
 * command's when no sentinel gave the master (it says why and what to check).
 */
export function redisFailure(o: Opened, err: unknown): string {
  if (err instanceof SentinelsUnreachableError) return err.message;
  return (o.connectionError() ?? (err as Error).message).replace(/\.$/, '');
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Queues this app defines and queues seen in Redis under its prefix, sorted. */
export async function knownQueues(app: OpsApp): Promise<string[]> {
  return [...new Set([...app.queues.keys(), ...(await app.inspector.queueNames())])].sort();
}

/** Fails with the known queues listed when `queue` is neither defined here nor seen in Redis. */
export async function requireQueue(app: OpsApp, queue: string): Promise<void> {
  const known = await knownQueues(app);
  if (known.includes(queue)) return;
  throw new CliError(
    `unknown queue '${queue}' under prefix '${app.prefix}': ` +
      (known.length ? `known queues are ${known.join(', ')}` : 'no queue is known there yet (set MILLRACE_PREFIX if your app uses another prefix)'),
  );
}

/** A queue as the broker takes it: from this app, else as registered in Redis (levels, shards). */
export async function queueRef(app: OpsApp, queue: string): Promise<QueueRef> {
  const defined = app.queues.get(queue);
  if (defined) return defined;
  const shape = await app.broker.queueShape(queue);
  return { name: queue, levels: shape?.levels ?? DEFAULT_LEVELS, shards: shape?.shards };
}

/** A queue's priority levels, lowest first: from this app, else as registered in Redis. */
export async function queueLevels(app: OpsApp, queue: string): Promise<readonly string[]> {
  return (await queueRef(app, queue)).levels;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}
