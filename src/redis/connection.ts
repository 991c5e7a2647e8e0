// Creates ioredis connections from the app's Redis settings.

import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from '../settings.js';

export type { Redis };

/**
 * A new connection. `blocking` connections wait for Redis forever instead of failing
 * commands after a few retries (a worker's blocking read must survive a Redis restart).
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
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
  };
  const conn = new Redis(settings.url, options);
  // Connection errors are retried by ioredis; say so once in a while rather than per attempt.
  let lastWarned = 0;
  conn.on('error', (err: Error) => {
    if (Date.now() - lastWarned < 5000) return;
    lastWarned = Date.now();
    log?.warn({ err: err.message, connection: role }, 'Redis connection error; reconnecting');
  });
  return conn;
}
