// Removes every key under a key prefix (never a flush: the server may be shared): what a test
// app's Redis broker wrote, and what our own tests wrote.

import type { Redis } from 'ioredis';
import { connect } from '../redis/connection.js';
import { prefixPatterns } from '../redis/keys.js';
import type { RedisSettings } from '../settings.js';

/** Deletes the keys of a prefix (`{prefix:queue}:...`, `{prefix}:...`, `prefix:...`) over a connection. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  let removed = 0;
  for (const pattern of prefixPatterns(prefix)) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) removed += await redis.del(...keys);
    } while (cursor !== '0');
  }
  return removed;
}

/** The same on a connection of its own, closed after. */
export async function removePrefix(settings: RedisSettings, prefix: string): Promise<number> {
  const redis = connect(settings, 'test-cleanup');
  try {
    return await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
