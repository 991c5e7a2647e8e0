// What differs between one Redis (standalone or under Sentinel) and a Redis Cluster, for the
// few commands that name no key: which node they go to.
//
// On a Cluster, ioredis sends a command with keys to the node owning their slot and follows
// MOVED/ASK; a command without a key (TIME, WAIT, SCAN, CLIENT UNBLOCK) would go to a random
// node. Those are sent here to the master owning a given key's slot instead.

import { Cluster, type Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';

export type Conn = Redis | Cluster;

export function isCluster(conn: Conn): conn is Cluster {
  return conn instanceof Cluster;
}

/** The slot of a key (its hash tag's, when it has one). */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/**
 * The connection to the master that owns `key`'s slot: the connection itself on one Redis,
 * and on a Cluster that master's node connection (after the slot map is known).
 */
export async function nodeFor(conn: Conn, key: string): Promise<Redis> {
  if (!isCluster(conn)) return conn;
  if (conn.status !== 'ready') await readyOf(conn);
  const owner = conn.slots[slotOf(key)]?.[0];
  const node = owner === undefined ? undefined : conn.nodes('master').find((n) => nodeKeyOf(n) === owner);
  if (node) return node;
  // The slot map is being refreshed (a failover or migration): ask again once it settles.
  await new Promise<void>((resolve) => conn.refreshSlotsCache(() => resolve()));
  const again = conn.slots[slotOf(key)]?.[0];
  const found = conn.nodes('master').find((n) => nodeKeyOf(n) === again);
  if (!found) throw new Error(`no Cluster master owns slot ${slotOf(key)} (of key '${key}')`);
  return found;
}

/** Every master of a Cluster, or the one Redis. */
export async function masters(conn: Conn): Promise<Redis[]> {
  if (!isCluster(conn)) return [conn];
  if (conn.status !== 'ready') await readyOf(conn);
  return conn.nodes('master');
}

function nodeKeyOf(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

function readyOf(conn: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = () => {
      conn.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      conn.off('ready', onReady);
      reject(new Error('the Redis Cluster connection was closed'));
    };
    conn.once('ready', onReady);
    conn.once('end', onEnd);
  });
}
