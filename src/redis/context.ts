// What the Redis broker and inspector share: the command connection, the key prefix, and
// the translation between a queue's level index (lowest priority = 0) and its streams.

import type { Conn } from './topology.js';
import { queueKeys, type QueueKeys } from './keys.js';
import type { QueueRef, Delivery } from '../broker/types.js';
import { needsRouting, storageName } from '../shards/index.js';

export class RedisContext {
  /** Keys per queue, with the levels array they were built from. */
  private readonly keyCache = new Map<string, { levels: readonly string[]; keys: QueueKeys }>();

  constructor(
    readonly conn: Conn,
    readonly prefix: string,
    readonly binary: boolean,
  ) {}

  keys(queue: QueueRef): QueueKeys {
    // Levels arrays are stable per queue definition; a different array (a queue whose levels
    // became known from Redis after a guess) builds the keys anew.
    const name = storageName(queue);
    const cached = this.keyCache.get(name);
    if (cached && cached.levels === queue.levels) return cached.keys;
    if (needsRouting(queue)) throw new Error(`internal: sharded queue '${queue.name}' addressed as a whole; its calls go to a shard (src/shards)`);
    const keys = queueKeys(this.prefix, name, queue.levels);
    this.keyCache.set(name, { levels: queue.levels, keys });
    return keys;
  }

  /** The event stream of a queue (or a shard, "hot#3/6"), by name alone (events do not depend on priority levels). */
  eventsKey(queue: string): string {
    return queueKeys(this.prefix, queue, []).events;
  }

  /** Scripts index streams highest priority first, from 1. */
  luaLevel(queue: QueueRef, level: number): number {
    return queue.levels.length - level;
  }

  levelOf(queue: QueueRef, luaLevel: number): number {
    return queue.levels.length - luaLevel;
  }

  /** A delivery from an entry's field list (h, d, and r: deaths carried over a hand-back). */
  delivery(queue: QueueRef, luaLevel: number, entry: unknown, fields: unknown, token = '1'): Delivery {
    let header: unknown;
    let data: unknown;
    let deaths: unknown;
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = String(fields[i]);
        if (name === 'h') header = fields[i + 1];
        else if (name === 'd') data = fields[i + 1];
        else if (name === 'r') deaths = fields[i + 1];
      }
    }
    return this.deliveryOf(queue, luaLevel, entry, header, data, deaths, token);
  }

  /** A delivery from its parts as a script returns them (nil header or data: missing; deaths '' or nil: none). */
  deliveryOf(queue: QueueRef, luaLevel: number, entry: unknown, header: unknown, data: unknown, deaths: unknown, token = '1'): Delivery {
    const d: Delivery = {
      level: this.levelOf(queue, Number(luaLevel)), entry: String(entry), token,
      header: (header ?? undefined) as string | Buffer | undefined, data: (data ?? undefined) as string | Buffer | undefined,
    };
    const n = deaths === undefined || deaths === null ? 0 : Number(String(deaths));
    if (n > 0) d.deaths = n;
    return d;
  }
}
