// Redis connection settings (code overridden by REDIS_* variables, via src/config.ts) and the
// `.env` reader.

import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { parseSentinelUrl, resolveConfig, type Given, type SentinelAddress, type SentinelUrl } from './config.js';

export type { SentinelAddress } from './config.js';

export interface RedisSettings {
  /**
   * Where Redis is: the URL given, or under Sentinel a `redis-sentinel://` URL of the
   * sentinels and master name (never with credentials).
   */
  url: string;
  db?: number;
  username?: string;
  password?: string;
  tls: boolean;
  connectTimeout: number;
  keepAlive: number;
  maxRetriesPerRequest: number;
  /** Redis Sentinel: the sentinels asked for the master of `name` (set together). */
  sentinels?: SentinelAddress[];
  name?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
}

/** The `redis` option: a URL, or settings (`sentinels` also as 'host:port,host:port'). */
export type RedisOption = string | (Partial<Omit<RedisSettings, 'sentinels'>> & { url?: string; sentinels?: SentinelAddress[] | string });

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

const REDIS_KEYS = [
  'redisUrl', 'redisDb', 'redisUsername', 'redisPassword', 'redisSsl', 'redisConnectionTimeout', 'redisSocketKeepalive',
  'redisSentinels', 'redisSentinelMaster', 'redisSentinelUsername', 'redisSentinelPassword',
] as const;

/** Layers in precedence order: a setting from a later one wins over one from an earlier. */
const RANK: Record<Given['source'], number> = { default: 0, code: 1, env: 2, flag: 3 };

/**
 * Redis settings: the code's, overridden by REDIS_* / MILLRACE_REDIS_* (see src/config.ts).
 *
 * Sentinel is chosen by the sentinels setting (REDIS_SENTINELS, `redis.sentinels`) or a
 * `redis-sentinel://` URL. When both the sentinels and a URL are set, the one from the later
 * layer wins (a REDIS_URL overrides sentinels in code and the other way round); on the same
 * layer the sentinels win. The db, user and password settings override the URL's.
 */
export function resolveRedisSettings(option: RedisOption | undefined, env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const code = typeof option === 'string' ? { url: option } : (option ?? {});
  const { values: v, sources } = resolveConfig({
    redisUrl: code.url, redisDb: code.db, redisUsername: code.username, redisPassword: code.password, redisSsl: code.tls,
    redisConnectionTimeout: code.connectTimeout, redisSentinels: code.sentinels, redisSentinelMaster: code.name,
    redisSentinelUsername: code.sentinelUsername, redisSentinelPassword: code.sentinelPassword,
  }, env, {}, { keys: REDIS_KEYS, dotenv: false });
  const keepAlive = sources.redisSocketKeepalive.source === 'env' ? (v.redisSocketKeepalive ? 30_000 : 0) : (code.keepAlive ?? 30_000);
  const base = {
    connectTimeout: v.redisConnectionTimeout!,
    keepAlive,
    maxRetriesPerRequest: code.maxRetriesPerRequest ?? 20,
  };
  const url = v.redisUrl!;
  const fromUrl: SentinelUrl | undefined = url.startsWith('redis-sentinel://') ? parseSentinelUrl(url) : undefined;
  const useList = v.redisSentinels !== undefined && RANK[sources.redisSentinels.source] >= RANK[sources.redisUrl.source];
  const sentinels = useList ? v.redisSentinels : fromUrl?.sentinels;
  if (!sentinels) {
    if (v.redisSentinelMaster !== undefined && v.redisSentinels === undefined) {
      const m = sources.redisSentinelMaster;
      throw new ConfigError(m.name!, 'a master name together with sentinels: set REDIS_SENTINELS (redis.sentinels) or a redis-sentinel:// URL too, or leave it out', m.raw);
    }
    return { ...base, url, db: v.redisDb, username: v.redisUsername, password: v.redisPassword, tls: v.redisSsl ?? url.startsWith('rediss://') };
  }
  const name = v.redisSentinelMaster ?? fromUrl?.name;
  if (name === undefined) {
    const s = sources.redisSentinels;
    throw new ConfigError(s.name!, 'sentinels together with the name of the master they monitor: set REDIS_SENTINEL_MASTER (redis.name) too', s.raw);
  }
  return {
    ...base,
    url: `redis-sentinel://${sentinels.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',')}/${encodeURIComponent(name)}`,
    db: v.redisDb ?? fromUrl?.db,
    username: v.redisUsername ?? fromUrl?.username,
    password: v.redisPassword ?? fromUrl?.password,
    tls: v.redisSsl ?? false,
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name,
    sentinelUsername: v.redisSentinelUsername,
    sentinelPassword: v.redisSentinelPassword,
  };
}
