// Reads the queues' capped event streams. Each entry holds a batch of events written
// together (a JSON array); an event's cursor is "<entry id>:<index>", so reading can resume
// in the middle of a batch, and a bare entry id means "after that whole entry".

import { isCluster, type Conn } from './topology.js';

/** On a Cluster, how long a blocking read of several queues' events waits between looks. */
const CLUSTER_POLL_MS = 200;
import type { RedisContext } from './context.js';
import type { EventReader, StoredEvent } from '../broker/types.js';
import { unpackEvents } from '../events.js';

type Entry = [id: string, fields: string[]];

export class RedisEventReader implements EventReader {
  private closed = false;
  /** Blocking reads in flight: close() drops the connection under them rather than queue QUIT behind them. */
  private blocked = 0;

  constructor(
    private readonly conn: Conn,
    private readonly ctx: RedisContext,
  ) {}

  async read(cursors: Record<string, string>, count: number, blockMs?: number): Promise<StoredEvent[]> {
    const queues = Object.keys(cursors);
    if (queues.length === 0) return [];
    // On a Cluster with several queues, "$" (from when the read began) is fixed now, its
    // commands sent before anything else this call awaits (see readEach).
    const fixed = isCluster(this.conn) && queues.length > 1 ? this.fixDollars(queues, cursors) : undefined;
    fixed?.catch(() => undefined); // awaited below, unless a read before it failed
    const out: StoredEvent[] = [];
    const after: string[] = [];
    for (const queue of queues) {
      const [entryId, index] = cursors[queue]!.split(':') as [string, string | undefined];
      if (index !== undefined) {
        const [entry] = (await this.conn.xrange(this.ctx.eventsKey(queue), entryId, entryId)) as Entry[];
        if (entry) out.push(...unpack(queue, entry, Number(index) + 1));
      }
      after.push(entryId);
    }
    // The rest of a batch first, without waiting.
    const wait = out.length > 0 ? undefined : blockMs;
    const args: (string | number)[] = ['COUNT', count];
    if (wait !== undefined) args.push('BLOCK', wait);
    args.push('STREAMS', ...queues.map((q) => this.ctx.eventsKey(q)), ...after);
    if (wait !== undefined) this.blocked++;
    let reply: [string, Entry[]][] | null;
    try {
      reply = isCluster(this.conn) && queues.length > 1
        ? await this.readEach(queues.map((q) => this.ctx.eventsKey(q)), await fixed!, count, wait)
        : (await (this.conn.xread as (...a: unknown[]) => Promise<unknown>)(...args)) as [string, Entry[]][] | null;
    } catch (err) {
      // Closed while it waited: the read ends empty, as a memory broker's does.
      if (this.closed) return out;
      throw err;
    } finally {
      if (wait !== undefined) this.blocked--;
    }
    for (const [stream, entries] of reply ?? []) {
      const queue = queues.find((q) => this.ctx.eventsKey(q) === stream)!;
      for (const entry of entries) out.push(...unpack(queue, entry, 0));
    }
    return out;
  }

  /**
   * The cursors' entry ids with each "$" replaced by its stream's last entry id now: the
   * XREVRANGEs are sent in this very call, before the caller's next command (as a blocking
   * XREAD with "$" would be), so an event added after the read began is never skipped.
   */
  private fixDollars(queues: string[], cursors: Record<string, string>): Promise<string[]> {
    return Promise.all(queues.map(async (queue) => {
      const entryId = cursors[queue]!.split(':')[0]!;
      if (entryId !== '$') return entryId;
      const [last] = await this.conn.xrevrange(this.ctx.eventsKey(queue), '+', '-', 'COUNT', 1);
      return last ? last[0] : '0-0';
    }));
  }

  /**
   * On a Cluster, queues live in different slots and one XREAD cannot name streams of two:
   * each stream is read on its own (from cursors with "$" already fixed), and a blocking read
   * looks again every CLUSTER_POLL_MS until something came, the block time ran out or the
   * reader was closed.
   */
  private async readEach(streams: string[], from: string[], count: number, wait: number | undefined): Promise<[string, Entry[]][] | null> {
    const deadline = wait === undefined ? 0 : wait === 0 ? Infinity : Date.now() + wait;
    for (;;) {
      // Closed while it slept: a read now would go to a disconnected client and never settle.
      if (this.closed) return null;
      const replies = await Promise.all(streams.map((key, i) => (this.conn.xread as (...a: unknown[]) => Promise<unknown>)('COUNT', count, 'STREAMS', key, from[i]!) as Promise<[string, Entry[]][] | null>));
      const out = replies.flatMap((r) => r ?? []);
      const left = deadline - Date.now();
      if (out.length > 0 || this.closed || left <= 0) return out.length > 0 ? out : null;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, CLUSTER_POLL_MS)));
    }
  }

  async latest(queues: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of queues) {
      const [last] = await this.conn.xrevrange(this.ctx.eventsKey(name), '+', '-', 'COUNT', 1);
      out[name] = last ? last[0] : '0-0';
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    // QUIT would wait for a blocked XREAD to time out first (up to its block time).
    if (this.blocked > 0) this.conn.disconnect();
    else await this.conn.quit().catch(() => this.conn.disconnect());
  }
}

function unpack(queue: string, [id, fields]: Entry, from: number): StoredEvent[] {
  const i = fields.indexOf('e');
  if (i < 0) return [];
  const w = fields.indexOf('w');
  const events = unpackEvents(fields[i + 1]!, queue, w < 0 ? undefined : fields[w + 1]);
  if (!events) return []; // not an entry millrace wrote
  const out: StoredEvent[] = [];
  for (let k = from; k < events.length; k++) out.push({ queue, cursor: `${id}:${k}`, event: events[k]! });
  return out;
}
