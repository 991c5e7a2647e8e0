// The one table of settings: each setting's environment names, CLI flag, schema and default, and
// resolveConfig(), which layers code < environment (.env read) < flags and says where each value came from.

import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import { loadDotEnv } from './settings.js';

export type Scope = 'redis' | 'app' | 'worker' | 'queue-default';
export type Source = 'code' | 'env' | 'flag' | 'default';

const BOOL_TEXT = ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'] as const;
const TRUE_TEXT = new Set(['1', 'true', 'yes', 'on']);
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Schemas take a typed value (code, or a flag already parsed) or the text of a variable/flag.
const bool = z.union([z.boolean(), z.string().trim().toLowerCase().pipe(z.enum(BOOL_TEXT)).transform((v) => TRUE_TEXT.has(v))]);
const int = (min: number) => z.union([z.number(), z.string().trim().regex(/^-?\d+$/).transform(Number)]).pipe(z.number().int().min(min));
const text = z.string().min(1);
/** Milliseconds from code or a parsed flag; seconds (bare number) or a duration like '30s' as text. */
const seconds = (min = 0) => z.union([
  z.number(),
  z.string().trim().min(1).transform((v, ctx) => {
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
    try {
      return parseDuration(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a duration' });
      return z.NEVER;
    }
  }),
]).pipe(z.number().min(min));
const list = z.union([z.array(z.string()), z.string().transform((v) => v.split(','))])
  .transform((names) => names.map((s) => s.trim()).filter(Boolean)).pipe(z.array(z.string()).min(1));

interface Def<S extends z.ZodType> {
  /** Environment names, MILLRACE_ first, then the seeds' alias. */
  env: string[];
  flag?: string;
  scope: Scope;
  schema: S;
  accepts: string;
  /** What it sets, for `millrace config` and the docs. */
  about: string;
  default?: z.output<S>;
  secret?: boolean;
}
const def = <S extends z.ZodType>(d: Def<S>): Def<S> => d;

export const SETTINGS = {
  redisUrl: def({ env: ['MILLRACE_REDIS_URL', 'REDIS_URL'], scope: 'redis', schema: text.regex(/^rediss?:\/\//), accepts: "a URL like 'redis://host:6379/0' or 'rediss://...'", about: 'Redis URL (REDIS_URL_LOCAL wins outside a container)', default: 'redis://127.0.0.1:6379' }),
  redisUrlLocal: def({ env: ['MILLRACE_REDIS_URL_LOCAL', 'REDIS_URL_LOCAL'], scope: 'redis', schema: text.regex(/^rediss?:\/\//), accepts: "a URL like 'redis://localhost:6379'", about: 'Redis URL used when DOCKER_CONTAINER is unset' }),
  redisDb: def({ env: ['MILLRACE_REDIS_DB', 'REDIS_DB'], scope: 'redis', schema: int(0), accepts: 'an integer >= 0', about: 'Redis database number' }),
  redisUsername: def({ env: ['MILLRACE_REDIS_USERNAME', 'REDIS_USERNAME'], scope: 'redis', schema: text, accepts: 'a user name', about: 'Redis ACL user' }),
  redisPassword: def({ env: ['MILLRACE_REDIS_PASSWORD', 'REDIS_PASSWORD'], scope: 'redis', schema: text, accepts: 'a password', about: 'Redis password', secret: true }),
  redisSsl: def({ env: ['MILLRACE_REDIS_SSL', 'REDIS_SSL'], scope: 'redis', schema: bool, accepts: 'true or false', about: 'TLS to Redis (default: true for rediss://)' }),
  redisMaxConnections: def({ env: ['MILLRACE_REDIS_MAX_CONNECTIONS', 'REDIS_MAX_CONNECTIONS'], scope: 'redis', schema: int(1), accepts: 'an integer >= 1', about: 'Redis connections one process may open (a worker: 2 + one per queue)' }),
  redisConnectionTimeout: def({ env: ['MILLRACE_REDIS_CONNECTION_TIMEOUT', 'REDIS_CONNECTION_TIMEOUT'], scope: 'redis', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '10s'", about: 'connect timeout', default: 10_000 }),
  redisSocketKeepalive: def({ env: ['MILLRACE_REDIS_SOCKET_KEEPALIVE', 'REDIS_SOCKET_KEEPALIVE'], scope: 'redis', schema: bool, accepts: 'true or false', about: 'TCP keep-alive on Redis connections', default: true }),

  prefix: def({ env: ['MILLRACE_PREFIX'], scope: 'app', schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), accepts: "1-64 letters, digits, '_', '.', ':' or '-'", about: 'prefix of every Redis key', default: 'millrace' }),
  signingSecret: def({ env: ['MILLRACE_SIGNING_SECRET'], scope: 'app', schema: text, accepts: 'a non-empty secret', about: 'HMAC secret jobs are signed with', secret: true }),
  logLevel: def({ env: ['MILLRACE_LOG_LEVEL'], flag: '--log-level', scope: 'app', schema: z.enum(LOG_LEVELS), accepts: LOG_LEVELS.join(', '), about: 'log level', default: 'info' }),
  environment: def({ env: ['MILLRACE_ENVIRONMENT', 'ENVIRONMENT'], scope: 'app', schema: text, accepts: "a name like 'development' or 'production'", about: 'deployment environment, shown in the worker registry' }),
  events: def({ env: ['MILLRACE_EVENTS'], scope: 'app', schema: z.union([bool.transform((on) => (on ? 10_000 : 0)), int(0)]), accepts: 'true, false, or the events kept per queue (an integer >= 0)', about: 'events kept per queue (0: off)', default: 10_000 }),

  queues: def({ env: ['MILLRACE_QUEUE', 'WORKER_QUEUE_TYPE'], flag: '--queue', scope: 'worker', schema: list, accepts: 'queue names separated by commas', about: 'queues a worker serves (default: every queue)' }),
  concurrency: def({ env: ['MILLRACE_WORKER_CONCURRENCY', 'WORKER_CONCURRENCY', 'MILLRACE_CONCURRENCY'], flag: '--concurrency', scope: 'worker', schema: int(1), accepts: 'an integer >= 1', about: "jobs run at once per queue (overrides the queues' concurrency)" }),
  prefetch: def({ env: ['MILLRACE_PREFETCH'], scope: 'worker', schema: int(0), accepts: 'an integer >= 0', about: 'jobs fetched ahead per queue' }),
  processes: def({ env: ['MILLRACE_WORKERS', 'MILLRACE_WORKER_PROCESSES', 'WORKER_PROCESSES'], flag: '--workers', scope: 'worker', schema: int(1), accepts: 'an integer >= 1', about: 'worker processes under the CLI supervisor', default: 1 }),
  shutdownTimeout: def({ env: ['MILLRACE_SHUTDOWN_TIMEOUT'], flag: '--shutdown-timeout', scope: 'worker', schema: seconds(0), accepts: "a number of seconds or a duration like '30s'", about: 'grace period for running jobs at shutdown', default: 30_000 }),
  heartbeatInterval: def({ env: ['MILLRACE_HEARTBEAT_INTERVAL'], flag: '--heartbeat-interval', scope: 'worker', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '10s'", about: 'how often the worker writes its heartbeat', default: 10_000 }),
  heartbeatTtl: def({ env: ['MILLRACE_HEARTBEAT_TTL'], flag: '--heartbeat-ttl', scope: 'worker', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '30s'", about: 'how long a heartbeat counts', default: 30_000 }),
  deadLetter: def({ env: ['MILLRACE_USE_DEAD_LETTER_QUEUE'], flag: '--dlq', scope: 'worker', schema: bool, accepts: 'true or false', about: "dead-letter jobs that fail for good (overrides the queues' deadLetter)" }),
  healthFile: def({ env: ['MILLRACE_HEALTH_FILE'], scope: 'worker', schema: z.union([z.literal(false), z.string().transform((v) => (/^(false|0|off|no|)$/i.test(v.trim()) ? false : v))]), accepts: 'a file path, or false for none', about: 'file kept while the worker is healthy', default: '/tmp/millrace_worker_healthy' as string | false }),

  jobTimeout: def({ env: ['MILLRACE_TIMEOUT_SECONDS', 'WORKER_TIMEOUT_SECONDS'], scope: 'queue-default', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '5m'", about: "every queue's jobTimeout (a task's own timeout still wins)" }),
  maxTries: def({ env: ['MILLRACE_MAX_TRIES', 'WORKER_MAX_TRIES'], scope: 'queue-default', schema: int(1), accepts: 'an integer >= 1', about: "every queue's maxTries (a task's own maxTries still wins)" }),
  resultTtl: def({ env: ['MILLRACE_KEEP_RESULT_SECONDS', 'WORKER_KEEP_RESULT_SECONDS'], scope: 'queue-default', schema: seconds(0).transform((ms) => Math.ceil(ms / 1000)), accepts: "a number of seconds >= 0 or a duration like '1h'", about: "every queue's resultTtl in seconds (a task's own resultTtl still wins)" }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]['schema']> };
/** A layer: typed values (code, parsed flags) or the text of a variable or flag. */
export type Layer = { [K in SettingKey]?: Settings[K] | string | undefined };

export interface Resolved<K extends SettingKey = SettingKey> {
  values: { [P in K]: Settings[P] | undefined };
  sources: { [P in K]: { source: Source; name?: string } };
}

function parse<K extends SettingKey>(key: K, raw: unknown, name: string): Settings[K] {
  const d = SETTINGS[key] as Def<z.ZodType>;
  const parsed = d.schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(name, d.accepts, raw);
  return parsed.data as Settings[K];
}

/** The first set environment name of a setting; REDIS_URL_LOCAL wins outside a container. */
function fromEnv(key: SettingKey, env: NodeJS.ProcessEnv): { name: string; raw: string } | undefined {
  if (key === 'redisUrl' && !env.DOCKER_CONTAINER) {
    const local = fromEnv('redisUrlLocal', env);
    if (local) return local;
  }
  for (const name of SETTINGS[key].env) {
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== '') return { name, raw };
  }
  return undefined;
}

export interface ResolveOptions<K extends SettingKey> {
  /** Which settings (default all). */
  keys?: readonly K[];
  /** Read this .env file into `env` first (variables already set win); false to skip. Default '.env'. */
  dotenv?: string | false;
}

/**
 * The effective settings: flags over environment over code over built-in defaults. Every value
 * is validated; a bad one throws a ConfigError naming the variable, flag or option.
 */
export function resolveConfig<K extends SettingKey = SettingKey>(
  code: Layer = {}, env: NodeJS.ProcessEnv = process.env, flags: Layer = {}, options: ResolveOptions<K> = {},
): Resolved<K> {
  if (options.dotenv !== false) loadDotEnv(options.dotenv ?? '.env', env, options.dotenv !== undefined);
  const keys = options.keys ?? (Object.keys(SETTINGS) as K[]);
  const values = {} as Resolved<K>['values'];
  const sources = {} as Resolved<K>['sources'];
  for (const key of keys) {
    const d = SETTINGS[key] as Def<z.ZodType>;
    const flag = flags[key];
    const e = fromEnv(key, env);
    if (flag !== undefined) {
      values[key] = parse(key, flag, d.flag ?? key);
      sources[key] = { source: 'flag', name: d.flag };
    } else if (e) {
      values[key] = parse(key, e.raw, e.name);
      sources[key] = { source: 'env', name: e.name };
    } else if (code[key] !== undefined) {
      values[key] = parse(key, code[key], d.scope === 'worker' ? `worker.${key}` : key);
      sources[key] = { source: 'code' };
    } else {
      values[key] = d.default as Settings[K];
      sources[key] = { source: 'default' };
    }
  }
  return { values, sources };
}

/**
 * Redis connections one worker process opens: commands, the abort subscriber and one blocking
 * reader per queue (app.subscribe()/readEvents() add one more). Fails when REDIS_MAX_CONNECTIONS is lower.
 */
export function checkConnectionBudget(queues: number, env: NodeJS.ProcessEnv = process.env): number {
  const needed = 2 + queues;
  const { values, sources } = resolveConfig({}, env, {}, { keys: ['redisMaxConnections'], dotenv: false });
  const max = values.redisMaxConnections;
  if (max !== undefined && needed > max) {
    throw new ConfigError(
      sources.redisMaxConnections.name ?? 'REDIS_MAX_CONNECTIONS',
      `at least ${needed}: a worker for ${queues} queue(s) opens a command connection, an abort subscriber and one blocking reader per queue`,
      max,
    );
  }
  return needed;
}

/** One line per setting for `millrace config`: value (secrets hidden), source, names. */
export function describeConfig(resolved: Resolved): { key: SettingKey; scope: Scope; value: unknown; source: Source; from?: string; env: string[]; flag?: string; accepts: string; about: string }[] {
  return (Object.keys(resolved.values) as SettingKey[]).map((key) => {
    const d = SETTINGS[key] as Def<z.ZodType>;
    const value = resolved.values[key];
    return {
      key, scope: d.scope, value: d.secret && value !== undefined ? '***' : value, source: resolved.sources[key].source,
      from: resolved.sources[key].name, env: d.env, flag: d.flag, accepts: d.accepts, about: d.about,
    };
  });
}
