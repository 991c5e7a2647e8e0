// Creates ioredis connections from the app's Redis settings.

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from '../settings.js';
import { tlsOptions } from './tls.js';

export type { Redis };
export type { Conn } from './topology.js';
import type { Conn } from './topology.js';

/** Reconnection delays: 100 ms doubling up to 2 s, forever. */
const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/**
 * A new connection: to the URL's server, under Sentinel to the master the sentinels name, or
 * to a Redis Cluster (a `Cluster`, which reaches every master and follows slot moves).
 * `blocking` connections wait for Redis forever instead of failing commands after a few
 * retries (a worker's blocking read must survive a Redis restart or a failover).
 */
export function connect(settings: RedisSettings, role: string, blocking = false, log?: Logger): Conn {
  return settings.cluster ? connectCluster(settings, role, blocking, log) : connectOne(settings, role, blocking, log);
}

/** What every connection to a data node is given, on every topology. */
function nodeOptions(settings: RedisSettings, role: string, blocking: boolean) {
  return {
    connectionName: `millrace:${role}`,
    username: settings.username,
    password: settings.password,
    connectTimeout: settings.connectTimeout,
    keepAlive: settings.keepAlive,
    tls: tlsOptions(settings),
    maxRetriesPerRequest: blocking ? null : settings.maxRetriesPerRequest,
    enableAutoPipelining: false,
  } satisfies RedisOptions;
}

/** A connection to one Redis (standalone or the Sentinel master): never a Cluster. */
export function connectOne(settings: RedisSettings, role: string, blocking = false, log?: Logger): Redis {
  const options: RedisOptions = { ...nodeOptions(settings, role, blocking), db: settings.db, retryStrategy: backoff, lazyConnect: false };
  const conn = settings.sentinels ? new Redis(sentinelOptions(settings, options)) : new Redis(settings.url, options);
  warnOnErrors(conn, role, log);
  return conn;
}

/**
 * What to check when a connection error will not heal by waiting: a certificate Node refused, or
 * credentials Redis refused. Undefined for an outage (refused, reset, timed out), which retrying
 * outlasts.
 */
export function settingsToCheck(err: Error & { code?: string }): string | undefined {
  const code = err.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/.test(code)) {
    return 'the TLS settings: REDIS_TLS_CA_FILE (the CA that signed the server certificate), REDIS_TLS_SERVERNAME (a name the certificate carries), the host in REDIS_URL';
  }
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(err.message)) {
    return "the credentials: REDIS_USERNAME / REDIS_PASSWORD (or the URL's), and the user's ACL rule (docs/topologies.md#acl-users)";
  }
  return undefined;
}

/**
 * Connection errors are retried by ioredis; says so once in a while rather than per attempt. An
 * error that retrying will not mend (a refused certificate or password) is logged as an error,
 * naming the settings to check.
 */
function warnOnErrors(conn: Conn, role: string, log: Logger | undefined): void {
  let lastWarned = 0;
  const warn = (err: Error) => {
    if (Date.now() - lastWarned < 5000) return;
    lastWarned = Date.now();
    const check = settingsToCheck(err);
    if (check) log?.error({ err: err.message, connection: role, check }, `Redis connection refused: check ${check}; reconnecting`);
    else log?.warn({ err: err.message, connection: role }, 'Redis connection error; reconnecting');
  };
  conn.on('error', warn);
  if (conn instanceof Cluster) conn.on('node error', warn);
}

/**
 * A Redis Cluster connection: one connection per master, commands sent to the master owning
 * their keys' slot. MOVED and ASK are followed; after a failover (CLUSTERDOWN, TRYAGAIN, a
 * master gone) the slot map is fetched again and the command resent, for as long as the
 * connection waits (forever for blocking roles). Reads go to masters only: a replica may lag.
 */
function connectCluster(settings: RedisSettings, role: string, blocking: boolean, log?: Logger): Cluster {
  const options: ClusterOptions = {
    redisOptions: nodeOptions(settings, role, blocking),
    clusterRetryStrategy: backoff,
    scaleReads: 'master',
    maxRedirections: 64,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshInterval: 5000,
    natMap: settings.natMap,
    // The subscriber reads result and abort notices with SSUBSCRIBE, from each slot's master.
    shardedSubscribers: role === 'subscriber',
    lazyConnect: false,
  };
  const conn = new Cluster(settings.cluster!, options);
  warnOnErrors(conn, role, log);
  // ioredis connects to a master on the first command for it. Connected at once instead, a
  // connection's first command to a master is sent as it is made, as on one Redis: an event
  // read from "$" of a queue on another master than the ones read so far otherwise reached it
  // after a write that another connection made later (and missed that write).
  const connectMasters = () => {
    for (const node of conn.nodes('master')) if (node.status === 'wait') node.connect().catch(() => undefined);
  };
  conn.on('ready', connectMasters);
  conn.on('+node', connectMasters);
  return conn;
}

/**
 * The options of a connection to the master of a Sentinel set. ioredis asks the sentinels for
 * the master's address on every (re)connection and checks its role, so the retries above
 * reach the new master after a failover: the sentinels end the old master's clients when they
 * demote it, and a write that still meets it as a replica (READONLY) reconnects and is sent
 * again. The sentinels' own connections retry forever, as the data connections do.
 */
function sentinelOptions(settings: RedisSettings, options: RedisOptions): RedisOptions {
  return {
    ...options,
    sentinels: settings.sentinels,
    name: settings.name,
    role: 'master',
    sentinelUsername: settings.sentinelUsername,
    sentinelPassword: settings.sentinelPassword,
    sentinelRetryStrategy: backoff,
    // TLS to the master and replicas (the sentinels are reached in plain TCP).
    enableTLSForSentinelMode: settings.tls,
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}
