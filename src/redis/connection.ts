// Creates ioredis connections from the app's Redis settings.

import { Redis, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../settings.js';

export type { Redis };

/**
 * A new connection. `blocking` connections wait for Redis forever instead of failing
 * commands after a few retries (a worker's blocking read must survive a Redis restart).
 */
export function connect(settings: RedisSettings, role: string, blocking = false): Redis {
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
  return new Redis(settings.url, options);
}
