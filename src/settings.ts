// Redis connection settings (code overridden by REDIS_* variables, via src/config.ts) and the
// `.env` reader.

import { existsSync, readFileSync } from 'node:fs';
import { resolveConfig } from './config.js';

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

let dotenvLoaded = false;

/** Reads a `.env` file (the working directory's, once, by default); variables already set win. */
export function loadDotEnv(path = '.env', env: NodeJS.ProcessEnv = process.env, force = false): void {
  if ((dotenvLoaded && !force) || !existsSync(path)) return;
  if (!force) dotenvLoaded = true;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    let value = m[2]!;
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    if (env[m[1]!] === undefined) env[m[1]!] = value;
  }
}

/** Redis settings: the code's, overridden by REDIS_* / MILLRACE_REDIS_* (see src/config.ts). */
export function resolveRedisSettings(option: RedisOption | undefined, env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const code = typeof option === 'string' ? { url: option } : (option ?? {});
  const { values: v, sources } = resolveConfig({
    redisUrl: code.url, redisDb: code.db, redisUsername: code.username, redisPassword: code.password, redisSsl: code.tls,
    redisConnectionTimeout: code.connectTimeout,
  }, env, {}, { keys: ['redisUrl', 'redisDb', 'redisUsername', 'redisPassword', 'redisSsl', 'redisConnectionTimeout', 'redisSocketKeepalive'], dotenv: false });
  const url = v.redisUrl!;
  const keepAlive = sources.redisSocketKeepalive.source === 'env' ? (v.redisSocketKeepalive ? 30_000 : 0) : (code.keepAlive ?? 30_000);
  return {
    url,
    db: v.redisDb,
    username: v.redisUsername,
    password: v.redisPassword,
    tls: v.redisSsl ?? url.startsWith('rediss://'),
    connectTimeout: v.redisConnectionTimeout!,
    keepAlive,
    maxRetriesPerRequest: code.maxRetriesPerRequest ?? 20,
  };
}
