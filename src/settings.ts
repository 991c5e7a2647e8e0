// Settings from code, overridden by environment variables (a `.env` file is read too),
// validated by one schema whose errors name the setting and what it accepts.

import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';

export interface RedisSettings {
  url: string;
  db?: number;
  username?: string;
  password?: string;
  tls: boolean;
  connectTimeout: number;
  keepAlive: number;
  maxRetriesPerRequest: number;
}

export type RedisOption = string | (Partial<RedisSettings> & { url?: string });

const bool = z.union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes' || v === 'on');
const int = (min: number) => z.coerce.number().int().min(min);

const ENV_SCHEMA = {
  REDIS_DB: int(0),
  REDIS_SSL: bool,
  REDIS_CONNECTION_TIMEOUT: z.coerce.number().positive(),
  REDIS_SOCKET_KEEPALIVE: bool,
} as const;

const ENV_ACCEPTS: Record<keyof typeof ENV_SCHEMA, string> = {
  REDIS_DB: 'an integer >= 0',
  REDIS_SSL: 'true or false',
  REDIS_CONNECTION_TIMEOUT: 'a number of seconds > 0',
  REDIS_SOCKET_KEEPALIVE: 'true or false',
};

let dotenvLoaded = false;

/** Reads `.env` from the working directory once; variables already set win. */
export function loadDotEnv(path = '.env', env: NodeJS.ProcessEnv = process.env): void {
  if (dotenvLoaded || !existsSync(path)) return;
  dotenvLoaded = true;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    let value = m[2]!;
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    if (env[m[1]!] === undefined) env[m[1]!] = value;
  }
}

function envValue<K extends keyof typeof ENV_SCHEMA>(env: NodeJS.ProcessEnv, name: K): z.output<(typeof ENV_SCHEMA)[K]> | undefined {
  const raw = env[`MILLRACE_${name}`] ?? env[name];
  if (raw === undefined || raw === '') return undefined;
  const parsed = ENV_SCHEMA[name].safeParse(raw);
  if (!parsed.success) throw new ConfigError(name, ENV_ACCEPTS[name], raw);
  return parsed.data as z.output<(typeof ENV_SCHEMA)[K]>;
}

/** The Redis URL: REDIS_URL_LOCAL outside a container (DOCKER_CONTAINER unset), else REDIS_URL. */
function envUrl(env: NodeJS.ProcessEnv): string | undefined {
  const local = env.MILLRACE_REDIS_URL_LOCAL ?? env.REDIS_URL_LOCAL;
  if (local && !env.DOCKER_CONTAINER) return local;
  return env.MILLRACE_REDIS_URL ?? env.REDIS_URL ?? undefined;
}

export function resolveRedisSettings(option: RedisOption | undefined, env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const code = typeof option === 'string' ? { url: option } : (option ?? {});
  const url = envUrl(env) ?? code.url ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError('REDIS_URL', "a URL like 'redis://host:6379/0' or 'rediss://...'", url);
  const timeout = envValue(env, 'REDIS_CONNECTION_TIMEOUT');
  const keepAlive = envValue(env, 'REDIS_SOCKET_KEEPALIVE');
  return {
    url,
    db: envValue(env, 'REDIS_DB') ?? code.db,
    username: env.MILLRACE_REDIS_USERNAME ?? env.REDIS_USERNAME ?? code.username,
    password: env.MILLRACE_REDIS_PASSWORD ?? env.REDIS_PASSWORD ?? code.password,
    tls: envValue(env, 'REDIS_SSL') ?? code.tls ?? url.startsWith('rediss://'),
    connectTimeout: timeout !== undefined ? timeout * 1000 : (code.connectTimeout ?? 10_000),
    keepAlive: keepAlive === undefined ? (code.keepAlive ?? 30_000) : keepAlive ? 30_000 : 0,
    maxRetriesPerRequest: code.maxRetriesPerRequest ?? 20,
  };
}

/** A duration setting from the environment (seconds when a bare number), or undefined. */
export function envSeconds(env: NodeJS.ProcessEnv, names: string[]): number | undefined {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const ms = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) * 1000 : tryDuration(raw);
    if (ms === undefined) throw new ConfigError(name, "a number of seconds or a duration like '30s'", raw);
    return ms;
  }
  return undefined;
}

export function envInt(env: NodeJS.ProcessEnv, names: string[], min: number): number | undefined {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(name, `an integer >= ${min}`, raw);
    return n;
  }
  return undefined;
}

function tryDuration(raw: string): number | undefined {
  try {
    return parseDuration(raw);
  } catch {
    return undefined;
  }
}
