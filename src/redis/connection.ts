// Creates ioredis connections from the app's Redis settings.

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from '../settings.js';
import { tlsOptions } from './tls.js';
import { endWaitsOnSentinelErrors, refusedCredentials, sentinelsCause, sentinelsLastError } from './sentinels.js';

export type { Redis };
export type { Conn } from './topology.js';
import type { Conn } from './topology.js';

/** Reconnection delays: 100 ms doubling up to 2 s, forever. */
const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

const ignore = (): void => undefined;

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
  // Made lazy to be covered by absorbLateSocketErrors before it connects, then connected at once.
  const options: RedisOptions = { ...nodeOptions(settings, role, blocking), db: settings.db, retryStrategy: backoff, lazyConnect: true };
  const conn = settings.sentinels ? new Redis(sentinelOptions(settings, options)) : new Redis(settings.url, options);
  absorbLateSocketErrors(conn);
  conn.connect().catch(ignore);
  warnOnErrors(conn, role, log, settings);
  if (settings.sentinels) endWaitsOnSentinelErrors(conn, settings, blocking, (cause) => settingsToCheck(cause, settings));
  return conn;
}

/**
 * What to check when a connection error will not heal by waiting: a certificate Node refused, or
 * credentials Redis refused. Undefined for an outage (refused, reset, timed out), which retrying
 * outlasts. Under Sentinel (`settings` with sentinels) the TLS settings named are those of the
 * sentinels and the master, and an error of the sentinels themselves (ioredis' "All sentinels
 * are unreachable ... Last error: ...", or a cause marked `sentinel`) names their credentials.
 */
export function settingsToCheck(err: Error & { code?: string; sentinel?: boolean }, settings?: RedisSettings): string | undefined {
  const ofSentinels = err.sentinel === true ? err : sentinelsLastError(err);
  const cause: Error & { code?: string } = ofSentinels ?? err;
  const code = cause.code ?? '';
  const underSentinel = settings?.sentinels !== undefined || ofSentinels !== undefined;
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/.test(code) || /certificate|altnames/i.test(ofSentinels?.message ?? '')) {
    return underSentinel
      ? 'the TLS settings: REDIS_TLS_CA_FILE (the CA that signed the certificates of the sentinels and the master), REDIS_TLS_SERVERNAME (a name they carry), REDIS_SENTINEL_TLS (false: the sentinels in plain TCP)'
      : 'the TLS settings: REDIS_TLS_CA_FILE (the CA that signed the server certificate), REDIS_TLS_SERVERNAME (a name the certificate carries), the host in REDIS_URL';
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST/.test(code)) {
    return underSentinel
      ? 'whether the sentinels and the master speak TLS: REDIS_SENTINEL_TLS, REDIS_SSL (a TLS client met a plain-TCP server)'
      : 'whether Redis speaks TLS: REDIS_SSL, rediss:// in REDIS_URL (a TLS client met a plain-TCP server)';
  }
  if (refusedCredentials(cause.message)) {
    return ofSentinels
      ? "the sentinels' credentials: REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD, and the user's rule on the sentinels (docs/topologies.md#acl-users)"
      : "the credentials: REDIS_USERNAME / REDIS_PASSWORD (or the URL's), and the user's ACL rule (docs/topologies.md#acl-users)";
  }
  return undefined;
}

/**
 * ioredis listens for only the first 'error' of each socket it opens (`once`, see ioredis#961): a
 * socket that emits a second one as it dies (a TLS socket failing its handshake can emit the
 * verification error and then the alert the peer answers with, ERR_SSL_TLSV1_ALERT_DECODE_ERROR)
 * would throw it as an unhandled 'error' event and end the process. Every socket the connection
 * opens gets a lasting listener of its own: the first error still reaches ioredis (which
 * reconnects) and warnOnErrors; later ones of the same dying socket are absorbed.
 */
export function absorbLateSocketErrors(conn: Redis): void {
  const connector = (conn as unknown as { connector: { connect: (...args: unknown[]) => Promise<NodeJS.EventEmitter> } }).connector;
  const open = connector.connect.bind(connector);
  connector.connect = async (...args) => {
    const stream = await open(...args);
    stream.on('error', ignore);
    return stream;
  };
}

/**
 * Connection errors are retried by ioredis; says so once in a while rather than per attempt. An
 * error that retrying will not mend (a refused certificate or password) is logged as an error,
 * naming the settings to check. Under Sentinel, the cause of "All sentinels are unreachable" is
 * logged (see sentinelsCause).
 */
function warnOnErrors(conn: Conn, role: string, log: Logger | undefined, settings: RedisSettings): void {
  let lastWarned = 0;
  const warn = async (err: Error) => {
    if (Date.now() - lastWarned < 5000) return;
    lastWarned = Date.now();
    const cause = (settings.sentinels && (await sentinelsCause(err, settings))) || err;
    const check = settingsToCheck(cause, settings);
    const fields = { err: cause.message, connection: role, ...(cause !== err && { sentinels: true }) };
    if (check) log?.error({ ...fields, check }, `Redis connection refused: check ${check}; reconnecting`);
    else log?.warn(fields, 'Redis connection error; reconnecting');
  };
  const onError = (err: Error) => void warn(err);
  conn.on('error', onError);
  if (conn instanceof Cluster) conn.on('node error', onError);
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
  // Before connectMasters below: a node must be covered before its first connect.
  conn.on('+node', absorbLateSocketErrors);
  warnOnErrors(conn, role, log, settings);
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
 * again. The sentinels' own connections retry forever, as the data connections do. TLS to the
 * sentinels (`sentinelTls`, by default as to the master) uses the master's TLS options.
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
    // TLS to the master (the `tls` options) and to the sentinels, each on its own.
    enableTLSForSentinelMode: settings.tls,
    sentinelTLS: tlsOptions(settings, settings.sentinelTls ?? settings.tls),
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}
