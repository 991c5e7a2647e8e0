// One queue stored as several sub-queues (shards), each under its own hash tag so they spread
// over a Cluster's masters. Which shard holds a job follows from its id alone, in any process:
// an auto id ("ms-seq") carries its shard in its sequence number (a shard hands out only
// sequence numbers equal to its index modulo the shard count, see lib.lua), and a custom id
// maps to a shard by a hash of the id (so deduplication stays exact). Each shard's keys share a
// hash tag whose Cluster slot lies in the shard's own N-th of the slot range (redis/keys.ts), so
// shards spread over masters that own equal ranges (as `redis-cli --cluster create` makes them).

import { AUTO_ID } from '../envelope.js';
import type { QueueRef, QueueShape } from '../broker/types.js';

/** Between a queue's name and a shard index in the shard's storage name; never in a queue name. */
export const SHARD_MARK = '#';

/** How many shards the queue is stored as. */
export function shardCount(ref: QueueRef): number {
  return ref.shards ?? 1;
}

/** Whether the ref names a sharded queue as a whole (not one of its shards): it needs routing. */
export function needsRouting(ref: QueueRef): boolean {
  return ref.shard === undefined && shardCount(ref) > 1;
}

/** The name a queue's (or a shard's) keys are built from: "hot", or "hot#3/6" for shard 3 of 6. */
export function storageName(ref: QueueRef): string {
  return ref.shard === undefined ? ref.name : `${ref.name}${SHARD_MARK}${ref.shard}/${shardCount(ref)}`;
}

/** The queue a storage name belongs to, and which shard of how many (undefined for a queue that is not sharded). */
export function parseStorageName(storage: string): { name: string; shard: number | undefined; shards: number } {
  const m = /^(.*)#(\d+)\/(\d+)$/.exec(storage);
  if (!m) return { name: storage, shard: undefined, shards: 1 };
  return { name: m[1]!, shard: Number(m[2]), shards: Number(m[3]) };
}

/** The shard of a sharded queue that holds (or will hold) the job of this id. */
export function shardOfId(id: string, shards: number): number {
  if (shards <= 1) return 0;
  if (AUTO_ID.test(id)) return Number(id.slice(id.indexOf('-') + 1)) % shards;
  // FNV-1a over the id's UTF-16 code units: stable across processes and versions.
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

const views = new WeakMap<QueueRef, QueueRef[]>();

/**
 * The refs of the queue's shards, made once per queue ref (brokers key their per-queue state
 * by ref). Each inherits everything from the queue's own ref (a defined queue's tasks and
 * options too) and adds its `shard`.
 */
export function shardRefs<R extends QueueRef>(ref: R): R[] {
  let refs = views.get(ref);
  if (!refs) {
    refs = Array.from({ length: shardCount(ref) }, (_, shard) => Object.create(ref, { shard: { value: shard, enumerable: true } }) as R);
    views.set(ref, refs);
  }
  return refs as R[];
}

/** The ref of the shard holding the job of this id (the ref itself for a queue that is not sharded). */
export function shardFor<R extends QueueRef>(ref: R, id: string): R {
  return needsRouting(ref) ? shardRefs(ref)[shardOfId(id, shardCount(ref))]! : ref;
}

/** The refs a call about the whole queue goes to: its shards, or the ref itself. */
export function expand<R extends QueueRef>(ref: R): R[] {
  return needsRouting(ref) ? shardRefs(ref) : [ref];
}

/** A queue's shape as its registry entry holds it: "low,normal,high", then ";<shards>" when sharded. */
export function shapeText(ref: QueueRef): string {
  const levels = ref.levels.join(',');
  return shardCount(ref) > 1 ? `${levels};${shardCount(ref)}` : levels;
}

export function parseShape(raw: string | null | undefined): QueueShape | undefined {
  if (!raw) return undefined;
  const [levels, shards] = raw.split(';') as [string, string | undefined];
  return { levels: levels.split(','), shards: shards === undefined ? 1 : Number(shards) };
}
