// The one table of settings: each setting's environment names, CLI flag, schema and default, and
// resolveConfig(), which layers code < environment (.env read) < flags and says where each value came from.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { ConfigError, maskUrlPassword } from './errors.js';
import { parseDuration } from './duration.js';
import { loadDotEnv } from './settings.js';
import { CLUSTER_SCHEME, parseClusterUrl, parseHostPorts, parseSentinelUrl, Problem, SENTINEL_SCHEME } from './addresses.js';

export type Scope = 'redis' | 'app' | 'worker' | 'queue-default';
export type Source = 'code' | 'env' | 'flag' | 'default';

const BOOL_TEXT = ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'] as const;
const TRUE_TEXT = new Set(['1', 'true', 'yes', 'on']);
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Schemas take a typed value (code, or a flag already parsed) or the text of a variable/flag.
const bool = z.union([z.boolean(), z.string().trim().toLowerCase().pipe(z.enum(BOOL_TEXT)).transform((v) => TRUE_TEXT.has(v))]);
const int = (min: number) => z.union([z.number(), z.string().trim().regex(/^-?\d+$/).transform(Number)]).pipe(z.number().int().min(min));
const text = z.string().min(1);
/** Milliseconds from a number, or from text: a duration like '30s', or a bare number of `bare` ms. */
const duration = (bare: number, min: number) => z.union([
  z.number(),
  z.string().trim().min(1).transform((v, ctx) => {
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * bare;
    try {
      return parseDuration(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a duration' });
      return z.NEVER;
    }
  }),
]).pipe(z.number().min(min));
/** A duration from a variable or a flag, where a bare number is seconds. */
const seconds = (min = 0) => duration(1000, min);
/** A duration option in code reads as everywhere in the API: a bare number is milliseconds. */
const msInCode = (min: number, example: string) => ({
  schema: duration(1, min), accepts: `milliseconds ${min > 0 ? '> 0' : '>= 0'} or a duration like '${example}'`,
});
export type { ClusterUrl, SentinelAddress, SentinelUrl } from './addresses.js';

/** A schema check from a parser that throws Problems: the Problem becomes the issue parse() reports. */
const checked = <T>(fn: (v: string) => T) => (v: string, ctx: z.RefinementCtx): T => {
  try {
    return fn(v);
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, params: { problem: true } });
    return z.NEVER;
  }
};
const redisUrl = text.regex(/^(rediss?|redis-sentinel|redis-cluster):\/\//)
  .transform(checked((v) => {
    if (v.startsWith(SENTINEL_SCHEME)) parseSentinelUrl(v);
    else if (v.startsWith(CLUSTER_SCHEME)) parseClusterUrl(v);
    return v;
  }));
const REDIS_URL_ACCEPTS = "a URL like 'redis://host:6379/0', 'rediss://...', 'redis-sentinel://host:26379,host:26379/mymaster' or 'redis-cluster://host:6379,host:6379'";
const SENTINELS_ACCEPTS = "host:port pairs separated by commas, like 'sentinel-1:26379,sentinel-2:26379'";
const CLUSTER_ACCEPTS = "host:port pairs separated by commas, like 'node-1:6379,node-2:6379'";
const hostList = z.string().transform(checked(parseHostPorts));
const sentinels = hostList;
const port = z.number().int().min(1).max(65535);
const inCode = (accepts: string) => ({
  schema: z.union([z.array(z.object({ host: text, port })).min(1), hostList]),
  accepts: `an array of { host, port } (port 1-65535), or ${accepts}`,
});
const sentinelsInCode = inCode(SENTINELS_ACCEPTS);
const hostListInCode = inCode(CLUSTER_ACCEPTS);

/** What a TLS file setting must hold: CA certificates, the client's certificate (chain), or its private key. */
type PemKind = 'ca' | 'cert' | 'key';

/** A file's bytes; throws a Problem saying why it cannot be read. */
function readSettingFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Problem(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : `it cannot be read (${code ?? (err as Error).message})`);
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Checks that a file's contents are what its TLS setting needs; throws a Problem if not. */
function checkPem(kind: PemKind, pem: Buffer): void {
  const text = pem.toString('latin1');
  if (kind === 'key') {
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) throw new Problem('the key is encrypted, and a passphrase is not supported (decrypt it: openssl pkey -in key.pem -out plain.pem)');
    try {
      createPrivateKey(pem);
    } catch {
      throw new Problem('it holds no PEM private key (-----BEGIN PRIVATE KEY-----)');
    }
    return;
  }
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new Problem('it holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new Problem(`certificate ${i + 1} of ${blocks.length} in it does not parse`);
    }
  });
}

/** The path of a readable PEM file of `kind`, checked as the setting resolves (the path is the value). */
const pemFile = (kind: PemKind) => text.transform(checked((path) => {
  checkPem(kind, readSettingFile(path));
  return path;
}));
const PEM_ACCEPTS: Record<PemKind, string> = {
  ca: 'the path of a readable PEM file of CA certificates',
  cert: 'the path of a readable PEM file of the client certificate (and its chain)',
  key: 'the path of a readable PEM file of the client certificate\'s private key (unencrypted)',
};

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
  /** The code option's name in messages (default: `worker.<key>` for worker settings, else the key). */
  option?: string;
  /** How a value from code is read, when not as text is (durations: milliseconds). */
  code?: { schema: z.ZodType; accepts: string };
}
const def = <S extends z.ZodType>(d: Def<S>): Def<S> => d;

export const SETTINGS = {
  redisUrl: def({ env: ['MILLRACE_REDIS_URL', 'REDIS_URL'], scope: 'redis', option: 'redis.url', schema: redisUrl, accepts: REDIS_URL_ACCEPTS, about: 'Redis URL (REDIS_URL_LOCAL wins outside a container)', default: 'redis://127.0.0.1:6379' }),
  redisUrlLocal: def({ env: ['MILLRACE_REDIS_URL_LOCAL', 'REDIS_URL_LOCAL'], scope: 'redis', schema: redisUrl, accepts: REDIS_URL_ACCEPTS, about: 'Redis URL used when DOCKER_CONTAINER is unset' }),
  redisSentinels: def({ env: ['MILLRACE_REDIS_SENTINELS', 'REDIS_SENTINELS'], scope: 'redis', option: 'redis.sentinels', schema: sentinels, code: sentinelsInCode, accepts: SENTINELS_ACCEPTS, about: 'Redis Sentinels to ask for the master (instead of REDIS_URL)' }),
  redisSentinelMaster: def({ env: ['MILLRACE_REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_MASTER'], scope: 'redis', option: 'redis.name', schema: text, accepts: 'the master name the Sentinels monitor', about: 'master name under Redis Sentinel' }),
  redisSentinelUsername: def({ env: ['MILLRACE_REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_USERNAME'], scope: 'redis', option: 'redis.sentinelUsername', schema: text, accepts: 'a user name', about: 'ACL user on the Sentinels' }),
  redisSentinelPassword: def({ env: ['MILLRACE_REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_PASSWORD'], scope: 'redis', option: 'redis.sentinelPassword', schema: text, accepts: 'a password', about: 'password of the Sentinels', secret: true }),
  redisSentinelTls: def({ env: ['MILLRACE_REDIS_SENTINEL_TLS', 'REDIS_SENTINEL_TLS'], scope: 'redis', option: 'redis.sentinelTls', schema: bool, accepts: 'true or false', about: 'TLS to the Sentinels themselves, with the TLS settings of the master (default: as to the master)' }),
  redisCluster: def({ env: ['MILLRACE_REDIS_CLUSTER_NODES', 'REDIS_CLUSTER_NODES'], scope: 'redis', option: 'redis.cluster', schema: hostList, code: hostListInCode, accepts: CLUSTER_ACCEPTS, about: 'Redis Cluster seed nodes (instead of REDIS_URL)' }),
  redisDb: def({ env: ['MILLRACE_REDIS_DB', 'REDIS_DB'], scope: 'redis', option: 'redis.db', schema: int(0), accepts: 'an integer >= 0', about: 'Redis database number' }),
  redisUsername: def({ env: ['MILLRACE_REDIS_USERNAME', 'REDIS_USERNAME'], scope: 'redis', option: 'redis.username', schema: text, accepts: 'a user name', about: 'Redis ACL user' }),
  redisPassword: def({ env: ['MILLRACE_REDIS_PASSWORD', 'REDIS_PASSWORD'], scope: 'redis', option: 'redis.password', schema: text, accepts: 'a password', about: 'Redis password', secret: true }),
  redisSsl: def({ env: ['MILLRACE_REDIS_SSL', 'REDIS_SSL'], scope: 'redis', option: 'redis.tls', schema: bool, accepts: 'true or false', about: 'TLS to Redis (default: true for rediss://)' }),
  redisTlsCa: def({ env: ['MILLRACE_REDIS_TLS_CA_FILE', 'REDIS_TLS_CA_FILE'], scope: 'redis', option: 'redis.tlsCa', schema: pemFile('ca'), accepts: PEM_ACCEPTS.ca, about: "CA certificates that verify Redis' certificate instead of Node's (turns TLS on)" }),
  redisTlsCert: def({ env: ['MILLRACE_REDIS_TLS_CERT_FILE', 'REDIS_TLS_CERT_FILE'], scope: 'redis', option: 'redis.tlsCert', schema: pemFile('cert'), accepts: PEM_ACCEPTS.cert, about: 'client certificate for mutual TLS, with REDIS_TLS_KEY_FILE (turns TLS on)' }),
  redisTlsKey: def({ env: ['MILLRACE_REDIS_TLS_KEY_FILE', 'REDIS_TLS_KEY_FILE'], scope: 'redis', option: 'redis.tlsKey', schema: pemFile('key'), accepts: PEM_ACCEPTS.key, about: 'private key of the client certificate (turns TLS on)' }),
  redisTlsServername: def({ env: ['MILLRACE_REDIS_TLS_SERVERNAME', 'REDIS_TLS_SERVERNAME'], scope: 'redis', option: 'redis.tlsServername', schema: z.string().trim().regex(/^[A-Za-z0-9.-]{1,253}$/), accepts: "a host name like 'redis.internal'", about: "name Redis' certificate is checked against, and sent as SNI (default: the host connected to; turns TLS on)" }),
  redisTlsRejectUnauthorized: def({ env: ['MILLRACE_REDIS_TLS_REJECT_UNAUTHORIZED', 'REDIS_TLS_REJECT_UNAUTHORIZED'], scope: 'redis', option: 'redis.tlsRejectUnauthorized', schema: bool, accepts: 'true or false', about: "false: accept any certificate from Redis, unverified (insecure; for self-signed managed Redis without its CA)", default: true }),
  redisMaxConnections: def({ env: ['MILLRACE_REDIS_MAX_CONNECTIONS', 'REDIS_MAX_CONNECTIONS'], scope: 'redis', schema: int(1), accepts: 'an integer >= 1', about: 'Redis connections one process may open (a worker: 2 + one per queue)' }),
  redisConnectionTimeout: def({ env: ['MILLRACE_REDIS_CONNECTION_TIMEOUT', 'REDIS_CONNECTION_TIMEOUT'], scope: 'redis', option: 'redis.connectTimeout', schema: seconds(1), code: msInCode(1, '10s'), accepts: "a number of seconds > 0 or a duration like '10s'", about: 'connect timeout', default: 10_000 }),
  redisSocketKeepalive: def({ env: ['MILLRACE_REDIS_SOCKET_KEEPALIVE', 'REDIS_SOCKET_KEEPALIVE'], scope: 'redis', schema: bool, accepts: 'true or false', about: 'TCP keep-alive on Redis connections', default: true }),

  prefix: def({ env: ['MILLRACE_PREFIX'], scope: 'app', schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), accepts: "1-64 letters, digits, '_', '.', ':' or '-'", about: 'prefix of every Redis key', default: 'millrace' }),
  signingSecret: def({ env: ['MILLRACE_SIGNING_SECRET'], scope: 'app', schema: text, accepts: 'a non-empty secret', about: 'HMAC secret jobs are signed with', secret: true }),
  logLevel: def({ env: ['MILLRACE_LOG_LEVEL'], flag: '--log-level', scope: 'app', schema: z.enum(LOG_LEVELS), accepts: LOG_LEVELS.join(', '), about: 'log level', default: 'info' }),
  environment: def({ env: ['MILLRACE_ENVIRONMENT', 'ENVIRONMENT'], scope: 'app', schema: text, accepts: "a name like 'development' or 'production'", about: 'deployment environment, shown in the worker registry' }),
  events: def({ env: ['MILLRACE_EVENTS'], scope: 'app', schema: z.union([bool.transform((on) => (on ? 10_000 : 0)), int(0)]), accepts: 'true, false, or the events kept per queue (an integer >= 0)', about: 'events kept per queue (0: off)', default: 10_000 }),

  durabilityReplicas: def({ env: ['MILLRACE_DURABILITY_REPLICAS'], scope: 'app', schema: int(0), accepts: 'an integer >= 0 (0: durable enqueue off)', about: "replicas every enqueue waits for (a queue's or call's own durability still wins)" }),
  durabilityTimeout: def({ env: ['MILLRACE_DURABILITY_TIMEOUT'], scope: 'app', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '100ms'", about: 'how long a durable enqueue waits for its replicas' }),

  queues: def({ env: ['MILLRACE_QUEUE', 'WORKER_QUEUE_TYPE'], flag: '--queue', scope: 'worker', schema: list, accepts: 'queue names separated by commas', about: 'queues a worker serves (default: every queue)' }),
  concurrency: def({ env: ['MILLRACE_WORKER_CONCURRENCY', 'WORKER_CONCURRENCY', 'MILLRACE_CONCURRENCY'], flag: '--concurrency', scope: 'worker', schema: int(1), accepts: 'an integer >= 1', about: "jobs run at once per queue (overrides the queues' concurrency)" }),
  prefetch: def({ env: ['MILLRACE_PREFETCH'], scope: 'worker', schema: int(0), accepts: 'an integer >= 0', about: 'jobs fetched ahead per queue' }),
  processes: def({ env: ['MILLRACE_WORKERS', 'MILLRACE_WORKER_PROCESSES', 'WORKER_PROCESSES'], flag: '--workers', scope: 'worker', schema: int(1), accepts: 'an integer >= 1', about: 'worker processes under the CLI supervisor', default: 1 }),
  shutdownTimeout: def({ env: ['MILLRACE_SHUTDOWN_TIMEOUT'], flag: '--shutdown-timeout', scope: 'worker', schema: seconds(0), code: msInCode(0, '30s'), accepts: "a number of seconds or a duration like '30s'", about: 'grace period for running jobs at shutdown', default: 30_000 }),
  heartbeatInterval: def({ env: ['MILLRACE_HEARTBEAT_INTERVAL'], flag: '--heartbeat-interval', scope: 'worker', schema: seconds(1), code: msInCode(1, '10s'), accepts: "a number of seconds > 0 or a duration like '10s'", about: 'how often the worker writes its heartbeat', default: 10_000 }),
  heartbeatTtl: def({ env: ['MILLRACE_HEARTBEAT_TTL'], flag: '--heartbeat-ttl', scope: 'worker', schema: seconds(1), code: msInCode(1, '30s'), accepts: "a number of seconds > 0 or a duration like '30s'", about: 'how long a heartbeat counts', default: 30_000 }),
  deadLetter: def({ env: ['MILLRACE_USE_DEAD_LETTER_QUEUE'], flag: '--dlq', scope: 'worker', schema: bool, accepts: 'true or false', about: "dead-letter jobs that fail for good (overrides the queues' deadLetter)" }),
  healthFile: def({ env: ['MILLRACE_HEALTH_FILE'], scope: 'worker', schema: z.union([z.literal(false), z.string().transform((v) => (/^(false|0|off|no|)$/i.test(v.trim()) ? false : v))]), accepts: 'a file path, or false for none', about: 'file kept while the worker is healthy', default: '/tmp/millrace_worker_healthy' as string | false }),

  jobTimeout: def({ env: ['MILLRACE_TIMEOUT_SECONDS', 'WORKER_TIMEOUT_SECONDS'], scope: 'queue-default', schema: seconds(1), accepts: "a number of seconds > 0 or a duration like '5m'", about: "every queue's jobTimeout (a task's own timeout still wins)" }),
  maxTries: def({ env: ['MILLRACE_MAX_TRIES', 'WORKER_MAX_TRIES'], scope: 'queue-default', schema: int(1), accepts: 'an integer >= 1', about: "every queue's maxTries (a task's own maxTries still wins)" }),
  resultTtl: def({ env: ['MILLRACE_KEEP_RESULT_SECONDS', 'WORKER_KEEP_RESULT_SECONDS'], scope: 'queue-default', schema: seconds(0).transform((ms) => Math.ceil(ms / 1000)), accepts: "a number of seconds >= 0 or a duration like '1h'", about: "every queue's resultTtl in seconds (a task's own resultTtl still wins)" }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]['schema']> };
/** A layer: typed values (code options; flags passed as values) or text, read as a variable is. */
export type Layer = { [K in SettingKey]?: Settings[K] | string | undefined };

/** Where a value came from: the flag, variable or code option that set it, and its value as given there. */
export interface Given {
  source: Source;
  /** Unset for a default. */
  name?: string;
  /** The text of a variable or flag, or the code's value: what messages quote. */
  raw?: unknown;
}

export interface Resolved<K extends SettingKey = SettingKey> {
  values: { [P in K]: Settings[P] | undefined };
  sources: { [P in K]: Given };
}

/** The layer that sets a setting, if any: a flag, else a variable, else the code. */
function given(key: SettingKey, code: Layer, env: NodeJS.ProcessEnv, flags: Layer): (Given & { name: string }) | undefined {
  const d = SETTINGS[key] as Def<z.ZodType>;
  if (flags[key] !== undefined) return { source: 'flag', name: d.flag ?? key, raw: flags[key] };
  const e = fromEnv(key, env);
  if (e) return { source: 'env', name: e.name, raw: e.raw };
  if (code[key] !== undefined) return { source: 'code', name: d.option ?? (d.scope === 'worker' ? `worker.${key}` : key), raw: code[key] };
  return undefined;
}

function parse<K extends SettingKey>(key: K, from: Given & { name: string }): Settings[K] {
  const d = SETTINGS[key] as Def<z.ZodType>;
  const { schema, accepts } = from.source === 'code' && d.code ? d.code : d;
  const parsed = schema.safeParse(from.raw);
  if (!parsed.success) {
    const problem = findProblem(parsed.error.issues);
    throw new ConfigError(from.name, problem ? `${accepts}; ${problem.message}` : accepts, from.raw);
  }
  return parsed.data as Settings[K];
}

/** The message of a Problem among the issues (a union's included). */
function findProblem(issues: readonly z.core.$ZodIssue[]): { message: string } | undefined {
  for (const i of issues) {
    if (i.code === 'custom' && (i.params as { problem?: boolean } | undefined)?.problem) return i;
    if (i.code === 'invalid_union') {
      for (const branch of i.errors) {
        const found = findProblem(branch);
        if (found) return found;
      }
    }
  }
  return undefined;
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
    const from = given(key, code, env, flags);
    values[key] = from ? parse(key, from) : (SETTINGS[key] as Def<z.ZodType>).default as Settings[K];
    sources[key] = from ?? { source: 'default' };
  }
  return { values, sources };
}

/**
 * The heartbeat TTL must exceed the interval, so that one late beat does not expire the worker.
 * Blames the TTL unless only the interval was set, and quotes both as the user gave them.
 */
export function checkHeartbeat({ values, sources }: Resolved<'heartbeatInterval' | 'heartbeatTtl'>): void {
  const interval = values.heartbeatInterval!;
  const ttl = values.heartbeatTtl!;
  if (ttl > interval) return;
  const why = 'so one late beat does not expire the worker';
  const { heartbeatInterval: i, heartbeatTtl: t } = sources;
  if (t.source === 'default' && i.source !== 'default') {
    throw new ConfigError(i.name!, `a heartbeat interval shorter than the heartbeat TTL (${asGiven('heartbeatTtl', t, ttl)}), ${why}`, i.raw);
  }
  throw new ConfigError(t.name ?? 'heartbeatTtl', `a heartbeat TTL longer than the heartbeat interval (${asGiven('heartbeatInterval', i, interval)}), ${why}`, t.raw ?? ttl);
}

/** A setting as given, for a message: `MILLRACE_HEARTBEAT_INTERVAL "5", 5 s`, or the default and how to set it. */
function asGiven(key: SettingKey, from: Given, ms: number): string {
  const amount = ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
  if (from.source !== 'default') return `${from.name} ${JSON.stringify(from.raw)}, ${amount}`;
  const d = SETTINGS[key] as Def<z.ZodType>;
  return `the default, ${amount}; ${[d.env[0], d.flag].filter(Boolean).join(' or ')} sets it`;
}

/** The contents of the TLS files, read once as the settings resolve. */
export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export type TlsSettingKey = 'redisSsl' | 'redisTlsCa' | 'redisTlsCert' | 'redisTlsKey' | 'redisTlsServername' | 'redisSentinelTls';

/**
 * The TLS settings together: a client key needs its certificate and the other way round, and
 * the two must match; TLS cannot be turned off (REDIS_SSL=false) while a TLS file or server
 * name is set, unless they are for the sentinels only (REDIS_SENTINEL_TLS=true). Reads the files;
 * returns their contents (undefined when none is set).
 */
export function checkTls({ values, sources }: Resolved<TlsSettingKey>): TlsFiles | undefined {
  const { redisTlsCa: ca, redisTlsCert: cert, redisTlsKey: key, redisSsl: ssl } = sources;
  const on = [ca, cert, key, sources.redisTlsServername].find((g) => g.source !== 'default');
  if (on && values.redisSsl === false && values.redisSentinelTls !== true) {
    throw new ConfigError(ssl.name!, `true, or unset, when ${on.name} is set (a TLS file or server name turns TLS on; with REDIS_SENTINEL_TLS=true they are for the sentinels only)`, ssl.raw);
  }
  if (key.source !== 'default' && cert.source === 'default') {
    throw new ConfigError(key.name!, 'a client certificate with it: set REDIS_TLS_CERT_FILE (redis.tlsCert) too, or leave the key out', key.raw);
  }
  if (cert.source !== 'default' && key.source === 'default') {
    throw new ConfigError(cert.name!, "the certificate's private key with it: set REDIS_TLS_KEY_FILE (redis.tlsKey) too, or leave the certificate out", cert.raw);
  }
  const read = (k: 'redisTlsCa' | 'redisTlsCert' | 'redisTlsKey'): Buffer | undefined => {
    const path = values[k];
    if (path === undefined) return undefined;
    try {
      return readSettingFile(path);
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      throw new ConfigError(sources[k].name!, `${(SETTINGS[k] as Def<z.ZodType>).accepts}; ${err.message}`, sources[k].raw);
    }
  };
  const files: TlsFiles = { ca: read('redisTlsCa'), cert: read('redisTlsCert'), key: read('redisTlsKey') };
  if (files.cert && files.key) {
    try {
      createSecureContext({ cert: files.cert, key: files.key });
    } catch (err) {
      const why = (err as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/, '');
      throw new ConfigError(key.name!, `the private key of the client certificate in ${cert.name} (${JSON.stringify(cert.raw)}); ${why}`, key.raw);
    }
  }
  return files.ca || files.cert ? files : undefined;
}

/**
 * Redis connections one worker process opens: commands, the abort subscriber, one blocking
 * reader per queue and, with durable writes, the connection they WAIT on (app.subscribe()/
 * readEvents() add one more; on a Cluster each is one per master). Fails when
 * REDIS_MAX_CONNECTIONS is lower.
 */
export function checkConnectionBudget(queues: number, durable = false, env: NodeJS.ProcessEnv = process.env): number {
  const needed = 2 + queues + (durable ? 1 : 0);
  const { values, sources } = resolveConfig({}, env, {}, { keys: ['redisMaxConnections'], dotenv: false });
  const max = values.redisMaxConnections;
  if (max !== undefined && needed > max) {
    throw new ConfigError(
      sources.redisMaxConnections.name ?? 'REDIS_MAX_CONNECTIONS',
      `at least ${needed}: a worker for ${queues} queue(s) opens a command connection, an abort subscriber and one blocking reader per queue${durable ? ', and one for durable writes' : ''}`,
      sources.redisMaxConnections.raw ?? max,
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
      key, scope: d.scope, value: d.secret && value !== undefined ? '***' : typeof value === 'string' ? maskUrlPassword(value) : value, source: resolved.sources[key].source,
      from: resolved.sources[key].name, env: d.env, flag: d.flag, accepts: d.accepts, about: d.about,
    };
  });
}
