// A worker's blocking read of one queue: XREADGROUP over all of its priority streams, on a
// connection of its own, that another connection can interrupt (CLIENT UNBLOCK) and that
// close() ends even while Redis is unreachable.

import type { Redis } from 'ioredis';
import type { RedisBroker } from './broker.js';
import { connect } from './connection.js';
import { nodeFor, type Conn } from './topology.js';
import type { RedisSettings } from '../settings.js';
import type { BlockingReader, Delivery, QueueRef } from '../broker/types.js';

/** A blocking XREADGROUP over all of a queue's streams, on its own connection. */
export class StreamReader implements BlockingReader {
  private readonly conn: Conn;
  private clientId: number | undefined;
  private closed = false;
  /**
   * Rejects when the reader is closed: a read waiting for an unreachable Redis must end then,
   * and ioredis never settles commands queued while it waits to reconnect when the connection
   * is dropped in that state.
   */
  private readonly closing: Promise<never>;
  private rejectClosing!: (err: Error) => void;

  constructor(
    private readonly broker: RedisBroker,
    settings: RedisSettings,
    private readonly queue: QueueRef,
    private readonly consumer: string,
  ) {
    this.conn = connect(settings, `reader:${queue.name}`, true, broker.log);
    this.closing = new Promise<never>((_, reject) => (this.rejectClosing = reject));
    this.closing.catch(() => undefined);
  }

  /**
   * The connection the read blocks on (on a Cluster, that of the master owning the queue's
   * slot) and its client id, asked again after it reconnected or the slot moved: interrupt()
   * unblocks that client on that master.
   */
  private async track(key: string): Promise<void> {
    const node = await nodeFor(this.conn, key);
    if (node !== this.node) {
      this.node = node;
      this.clientId = undefined;
      if (!this.watched.has(node)) {
        this.watched.add(node);
        node.on('ready', () => {
          if (this.node === node) this.clientId = undefined;
        });
      }
    }
    if (this.clientId === undefined) this.clientId = Number(await node.client('ID'));
  }

  private node: Redis | undefined;
  private readonly watched = new WeakSet<Redis>();

  async read(count: number, blockMs: number, after?: string[]): Promise<Delivery[]> {
    const ctx = this.broker.ctx;
    const k = ctx.keys(this.queue);
    await Promise.race([this.track(k.streams[0]!), this.closing]).catch((err: unknown) => {
      if (this.closed) return;
      throw err;
    });
    if (after !== undefined) return this.readCapped(count, blockMs, after);
    const args = ['GROUP', 'millrace', this.consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', ...k.streams, ...k.streams.map(() => '>')] as const;
    if (this.closed) return [];
    const reading = ctx.binary
      ? (this.conn.xreadgroupBuffer as (...a: unknown[]) => Promise<unknown>)(...args)
      : (this.conn.xreadgroup as (...a: unknown[]) => Promise<unknown>)(...args);
    const reply = (await Promise.race([reading, this.closing])) as [string | Buffer, [string | Buffer, unknown[]][]][] | null;
    if (!reply) return [];
    const out: Delivery[] = [];
    for (const [stream, entries] of reply) {
      const luaLevel = k.streams.indexOf(String(stream)) + 1;
      for (const [entry, fields] of entries) out.push(ctx.delivery(this.queue, luaLevel, entry, fields));
    }
    return out;
  }

  /**
   * A capped queue's blocking read: a plain XREAD (it delivers nothing) waits for an entry past
   * where the fetch saw each stream (and the groups bell) end, then the fetch script delivers within the cap. Two
   * workers woken by one entry: one gets it, the other nothing (its fetcher asks again).
   */
  private async readCapped(count: number, blockMs: number, after: string[]): Promise<Delivery[]> {
    const k = this.broker.ctx.keys(this.queue);
    // `after` ends with the groups bell's position (jobs joining a group ring it).
    if (this.closed || after.length !== k.streams.length + 1) return [];
    const waiting = this.conn.xread('COUNT', 1, 'BLOCK', blockMs, 'STREAMS', ...k.streams, k.bell, ...after);
    const reply = await Promise.race([waiting, this.closing]);
    if (!reply || this.closed) return [];
    const got = await this.broker.fetch(this.queue, this.consumer, count);
    return got.paused || got.capped || got.after ? [] : got;
  }

  async interrupt(): Promise<void> {
    if (!this.closed) await this.unblock();
  }

  private async unblock(): Promise<void> {
    if (this.clientId === undefined) return;
    const key = this.broker.ctx.keys(this.queue).streams[0]!;
    await nodeFor(this.broker.ctx.conn, key).then((n) => n.client('UNBLOCK', this.clientId!)).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectClosing(new Error('the blocking reader was closed'));
    this.broker.forgetReader(this);
    // A read still blocked is unblocked, so QUIT need not wait for it (interrupt() is a no-op
    // once closed). Neither may wait for an unreachable Redis: past a moment, the connection is
    // dropped (which also ends a read still blocked on it).
    await settleWithin(this.unblock(), 1000);
    if (!(await settleWithin(this.conn.quit(), 1000))) this.conn.disconnect();
  }
}

/** Whether the promise settled (either way) within ms. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([p.then(() => true, () => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return settled;
}
