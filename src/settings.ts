// Redis connection settings (code overridden by REDIS_* variables, via src/config.ts) and the
// `.env` reader.

import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { checkTls, resolveConfig, type Given, type TlsFiles } from './config.js';
import { parseClusterUrl, parseSentinelUrl, type SentinelAddress, type SentinelUrl } from './addresses.js';

export type { SentinelAddress, TlsFiles } from './config.js';

export interface RedisSettings {
  /**
   * Where Redis is: the URL given, or under Sentinel a `redis-sentinel://` URL of the
   * sentinels and master name (never with credentials).
   */
  url: string;
  db?: number;
  username?: string;
  password?: string;
  /** TLS on: by a `rediss://` URL, REDIS_SSL, or any of the TLS files or the server name. */
  tls: boolean;
  /** Path of a PEM file of CA certificates that verify the server's certificate (instead of Node's). */
  tlsCa?: string;
  /** Paths of the client certificate and its private key, for mutual TLS (set together). */
  tlsCert?: string;
  tlsKey?: string;
  /** The name the server's certificate is checked against and sent as SNI (default: the host). */
  tlsServername?: string;
  /** false: accept the server's certificate unverified (insecure). Default true. */
  tlsRejectUnauthorized?: boolean;
  /** The TLS files' contents, read once as the settings resolved (a missing file fails then). */
  tlsFiles?: TlsFiles;
  connectTimeout: number;
  keepAlive: number;
  maxRetriesPerRequest: number;
  /** Redis Sentinel: the sentinels asked for the master of `name` (set together). */
  sentinels?: SentinelAddress[];
  name?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  /**
   * TLS to the sentinels themselves, with the same CA, client certificate and server name as to
   * the master (default: as `tls`). false: the sentinels in plain TCP, the master over TLS.
   */
  sentinelTls?: boolean;
  /** Redis Cluster: the seed nodes (any of its masters or replicas; the rest are found from them). */
  cluster?: SentinelAddress[];
  /**
   * Redis Cluster behind NAT: the address each node announces ('host:port') to the address
   * this process reaches it at, as ioredis' `natMap` takes it.
   */
  natMap?: Record<string, { host: string; port: number }>;
}

/** The `redis` option: a URL, or settings (`sentinels` also as 'host:port,host:port'). */
export type RedisOption = string | (Partial<Omit<RedisSettings, 'sentinels' | 'cluster' | 'tlsFiles'>> & {
  url?: string; sentinels?: SentinelAddress[] | string; cluster?: SentinelAddress[] | string;
});

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
  'redisSentinels', 'redisSentinelMaster', 'redisSentinelUsername', 'redisSentinelPassword', 'redisSentinelTls', 'redisCluster',
  'redisTlsCa', 'redisTlsCert', 'redisTlsKey', 'redisTlsServername', 'redisTlsRejectUnauthorized',
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
 *
 * TLS is on for a `rediss://` URL, by REDIS_SSL, or by any TLS file or the server name; the files
 * are read (and checked) here, once, so a missing or bad one fails at startup. Under Sentinel the
 * sentinels are reached over TLS too, unless REDIS_SENTINEL_TLS says otherwise (true with
 * REDIS_SSL=false: the sentinels over TLS, the master in plain TCP).
 */
export function resolveRedisSettings(option: RedisOption | undefined, env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const code = typeof option === 'string' ? { url: option } : (option ?? {});
  const { values: v, sources } = resolveConfig({
    redisUrl: code.url, redisDb: code.db, redisUsername: code.username, redisPassword: code.password, redisSsl: code.tls,
    redisConnectionTimeout: code.connectTimeout, redisSentinels: code.sentinels, redisSentinelMaster: code.name,
    redisSentinelUsername: code.sentinelUsername, redisSentinelPassword: code.sentinelPassword, redisSentinelTls: code.sentinelTls,
    redisCluster: code.cluster,
    redisTlsCa: code.tlsCa, redisTlsCert: code.tlsCert, redisTlsKey: code.tlsKey, redisTlsServername: code.tlsServername,
    redisTlsRejectUnauthorized: code.tlsRejectUnauthorized,
  }, env, {}, { keys: REDIS_KEYS, dotenv: false });
  const { tls, tlsOn } = tlsSettings(v, sources);
  /** TLS to the data nodes: REDIS_SSL=false wins (with TLS files only when they are for the sentinels, see checkTls). */
  const dataTls = (otherwise: boolean) => (v.redisSsl === false ? false : tlsOn || (v.redisSsl ?? otherwise));
  const keepAlive = sources.redisSocketKeepalive.source === 'env' ? (v.redisSocketKeepalive ? 30_000 : 0) : (code.keepAlive ?? 30_000);
  const base = {
    ...tls,
    connectTimeout: v.redisConnectionTimeout!,
    keepAlive,
    maxRetriesPerRequest: code.maxRetriesPerRequest ?? 20,
  };
  const url = v.redisUrl!;
  const cluster = clusterSettings(v, sources, { ...base, tls: dataTls(false) }, code.natMap);
  if (cluster) return cluster;
  const fromUrl: SentinelUrl | undefined = url.startsWith('redis-sentinel://') ? parseSentinelUrl(url) : undefined;
  const useList = v.redisSentinels !== undefined && RANK[sources.redisSentinels.source] >= RANK[sources.redisUrl.source];
  const sentinels = useList ? v.redisSentinels : fromUrl?.sentinels;
  if (!sentinels) {
    if (v.redisSentinelMaster !== undefined && v.redisSentinels === undefined) {
      const m = sources.redisSentinelMaster;
      throw new ConfigError(m.name!, 'a master name together with sentinels: set REDIS_SENTINELS (redis.sentinels) or a redis-sentinel:// URL too, or leave it out', m.raw);
    }
    return { ...base, url, db: v.redisDb, username: v.redisUsername, password: v.redisPassword, tls: dataTls(url.startsWith('rediss://')) };
  }
  const name = v.redisSentinelMaster ?? fromUrl?.name;
  if (name === undefined) {
    const s = sources.redisSentinels;
    throw new ConfigError(s.name!, 'sentinels together with the name of the master they monitor: set REDIS_SENTINEL_MASTER (redis.name) too', s.raw);
  }
  const tlsToMaster = dataTls(false);
  return {
    ...base,
    url: `redis-sentinel://${addressList(sentinels)}/${encodeURIComponent(name)}`,
    db: v.redisDb ?? fromUrl?.db,
    username: v.redisUsername ?? fromUrl?.username,
    password: v.redisPassword ?? fromUrl?.password,
    tls: tlsToMaster,
    sentinelTls: v.redisSentinelTls ?? tlsToMaster,
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name,
    sentinelUsername: v.redisSentinelUsername,
    sentinelPassword: v.redisSentinelPassword,
  };
}

type RedisResolved = ReturnType<typeof resolveConfig<(typeof REDIS_KEYS)[number]>>;

/**
 * Cluster settings when the Cluster nodes are chosen: REDIS_CLUSTER_NODES (`redis.cluster`)
 * from a layer no lower than the URL's, as the sentinels are, or a `redis-cluster://` URL. A Cluster has one database and
 * no Sentinels: asking for either with it fails here, naming the setting.
 */
function clusterSettings(
  v: RedisResolved['values'], sources: RedisResolved['sources'],
  base: Omit<RedisSettings, 'url'>, natMap: RedisSettings['natMap'],
): RedisSettings | undefined {
  const url = v.redisUrl!;
  const fromUrl = url.startsWith('redis-cluster://') ? parseClusterUrl(url) : undefined;
  const useList = v.redisCluster !== undefined && RANK[sources.redisCluster.source] >= RANK[sources.redisUrl.source];
  const nodes = useList ? v.redisCluster : fromUrl?.nodes;
  if (nodes === undefined) return undefined;
  const c = useList ? sources.redisCluster : sources.redisUrl;
  if (v.redisSentinels !== undefined) {
    throw new ConfigError(c.name!, `Cluster nodes or Sentinels, not both (${sources.redisSentinels.name} is set too)`, c.raw);
  }
  if (v.redisDb !== undefined && v.redisDb !== 0) {
    const d = sources.redisDb;
    throw new ConfigError(d.name!, `0 or unset: a Redis Cluster has database 0 only (${c.name} is set)`, d.raw);
  }
  return {
    ...base,
    url: `redis-cluster://${addressList(nodes)}`,
    username: v.redisUsername ?? fromUrl?.username,
    password: v.redisPassword ?? fromUrl?.password,
    cluster: nodes.map(({ host, port }) => ({ host, port })),
    natMap,
  };
}

/**
 * The TLS settings: the files read and checked (see checkTls) and the server name, either of
 * which turns TLS on, and the insecure opt-out of verification.
 */
function tlsSettings(v: RedisResolved['values'], sources: RedisResolved['sources']): { tls: Pick<RedisSettings, 'tlsCa' | 'tlsCert' | 'tlsKey' | 'tlsServername' | 'tlsRejectUnauthorized' | 'tlsFiles'>; tlsOn: boolean } {
  const tlsFiles = checkTls({ values: v, sources });
  return {
    tlsOn: tlsFiles !== undefined || v.redisTlsServername !== undefined,
    tls: {
      ...(v.redisTlsCa !== undefined && { tlsCa: v.redisTlsCa }),
      ...(v.redisTlsCert !== undefined && { tlsCert: v.redisTlsCert, tlsKey: v.redisTlsKey }),
      ...(v.redisTlsServername !== undefined && { tlsServername: v.redisTlsServername }),
      ...(v.redisTlsRejectUnauthorized === false && { tlsRejectUnauthorized: false }),
      ...(tlsFiles && { tlsFiles }),
    },
  };
}

/** Addresses as 'host:port,host:port' ('[::1]:6379' for IPv6). */
function addressList(addresses: SentinelAddress[]): string {
  return addresses.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
}
