// Removes every key under a key prefix (never a flush: the server may be shared): what a test
// app's Redis broker wrote, and what our own tests wrote.

import { connect } from '../redis/connection.js';
import { prefixPatterns } from '../redis/keys.js';
import { isCluster, masters, type Conn } from '../redis/topology.js';
import type { RedisSettings } from '../settings.js';

/**
 * Deletes the keys of a prefix (`{prefix:queue}:...`, `{prefix}:...`, `prefix:...`) over a
 * connection: on a Cluster, on every master, one key per command (keys of different slots
 * cannot go in one DEL there).
 */
export async function deleteKeysUnder(conn: Conn, prefix: string): Promise<number> {
  let removed = 0;
  const cluster = isCluster(conn);
  for (const node of await masters(conn)) {
    for (const pattern of prefixPatterns(prefix)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        if (!cluster) removed += await node.del(...keys);
        else for (const [, n] of (await keys.reduce((p, k) => p.del(k), node.pipeline()).exec()) ?? []) removed += Number(n ?? 0);
      } while (cursor !== '0');
    }
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
