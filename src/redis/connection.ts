// Creates ioredis connections from the app's Redis settings.

import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from '../settings.js';

export type { Redis };

/** Reconnection delays: 100 ms doubling up to 2 s, forever. */
const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/**
 * A new connection: to the URL's server, or under Sentinel to the master the sentinels name.
 * `blocking` connections wait for Redis forever instead of failing commands after a few
 * retries (a worker's blocking read must survive a Redis restart or a failover).
 */
export function connect(settings: RedisSettings, role: string, blocking = false, log?: Logger): Redis {
  const options: RedisOptions = {
    connectionName: `millrace:${role}`,
    db: settings.db,
    username: settings.username,
    password: settings.password,
    connectTimeout: settings.connectTimeout,
    keepAlive: settings.keepAlive,
    tls: settings.tls ? {} : undefined,
    maxRetriesPerRequest: blocking ? null : settings.maxRetriesPerRequest,
    enableAutoPipelining: false,
    retryStrategy: backoff,
    lazyConnect: false,
  };
  const conn = settings.sentinels ? new Redis(sentinelOptions(settings, options)) : new Redis(settings.url, options);
  // Connection errors are retried by ioredis; say so once in a while rather than per attempt.
  let lastWarned = 0;
  conn.on('error', (err: Error) => {
    if (Date.now() - lastWarned < 5000) return;
    lastWarned = Date.now();
    log?.warn({ err: err.message, connection: role }, 'Redis connection error; reconnecting');
  });
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
