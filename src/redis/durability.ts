// Durable writes: after a write's reply, WAIT (or WAITAOF) until enough replicas acknowledged
// it, on the connection that made it (WAIT counts the replication offset of its own client's
// writes). See docs/topologies.md#durable-enqueue.
//
// Durable writes have a connection of their own: WAIT blocks its client until it answers, so
// on the shared command connection a slow or paused replica would hold every fetch, ack and
// heartbeat of the process behind it for the whole timeout.
//
// A WAIT is only believed when it went out on the socket that carried the write: a reconnection
// in between (ioredis sends commands again on the new socket, where a WAIT counts nothing) or,
// on a Cluster, a slot that moved to another master reports the write as unconfirmed, never as
// durable. Writes confirmed alike (same node, same settings) in the same turn share one WAIT.

import type { Redis } from 'ioredis';
import { NotDurableError } from '../errors.js';
import type { Durability, DurabilityShortfall, DurableWrites, EnqueueItem, EnqueueOutcome } from '../broker/types.js';
import { nodeFor, type Conn } from './topology.js';

/** Where a write went before it was sent: the node's connection and how often it had closed. */
interface Mark {
  node: Redis;
  closes: number;
}

/** A caller of a coalesced enqueue (see RedisBroker.join): `count` jobs from `from`. */
export interface DurableCaller {
  from: number;
  count: number;
  resolve: ((out: EnqueueOutcome[]) => void) | undefined;
  one: ((out: EnqueueOutcome) => void) | undefined;
  reject: (err: unknown) => void;
  durability: Durability | undefined;
}

/**
 * Jobs a durable bulk enqueue (a call of 1,000 jobs or more) sends per script call, two calls in
 * flight: the replica applies one call's writes while the master runs the next, so the WAIT
 * after the last waits for one call's worth of replication instead of the whole bulk's.
 * Measured (bench/durable.ts): one script call of 10,000 jobs and a WAIT ran at 79 % of a plain
 * bulk's rate (the WAIT waited ~20 ms for the replica to apply it); calls of 1,000 pipelined
 * all at once, 80 % (the master ran them all before passing any on); two in flight, 105-158 %,
 * but calls of 1,000 jobs each awaited 69-95 %; calls of 500, 105-114 % and 93-94 %; of 250,
 * 96-118 % and 86-87 %.
 */
const DURABLE_CHUNK = 500;

/** A durable bulk enqueue as script calls of DURABLE_CHUNK jobs, two in flight; their outcomes in call order. A failed call rejects it (the calls before stay written). */
export async function inChunks(items: EnqueueItem[], send: (part: EnqueueItem[]) => Promise<EnqueueOutcome[]>): Promise<EnqueueOutcome[]> {
  if (items.length <= DURABLE_CHUNK) return send(items);
  const parts: EnqueueOutcome[][] = [];
  let next = 0;
  let failed = false;
  // Two calls in flight: one runs while the next travels, and the master passes each call's
  // writes to the replica before it reads the one after (pipelined all at once, it ran them all
  // first, and the replica started only then).
  const lane = async () => {
    while (!failed && next * DURABLE_CHUNK < items.length) {
      const i = next++;
      try {
        parts[i] = await send(items.slice(i * DURABLE_CHUNK, (i + 1) * DURABLE_CHUNK));
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all([lane(), lane()]);
  return parts.flat();
}

export class Confirmer {
  private conn: Conn | undefined;
  private readonly closes = new WeakMap<Redis, number>();
  /** WAITs of this turn not sent yet, per node and durability key. */
  private readonly due = new Map<Redis, Map<string, Promise<DurabilityShortfall | undefined>>>();

  constructor(private readonly open: () => Conn) {}

  /** The connection durable writes go through (opened on first use). */
  get connection(): Conn {
    this.conn ??= this.open();
    return this.conn;
  }

  /**
   * Runs a coalesced enqueue on the durable connection, then answers each caller once its
   * durability is confirmed (callers without one at once), or rejects it with a NotDurableError
   * naming its own jobs. A failed write rejects every caller with its error.
   */
  async enqueue(queue: string, key: string, callers: DurableCaller[], send: (conn: Conn) => Promise<EnqueueOutcome[]>): Promise<void> {
    let mark: Mark;
    let out: EnqueueOutcome[];
    try {
      mark = await this.mark(key);
      out = await send(this.connection);
    } catch (err) {
      for (const c of callers) c.reject(err);
      return;
    }
    const answer = (c: DurableCaller) => {
      if (c.one) c.one(out[c.from]!);
      else c.resolve!(c.count === out.length ? out : out.slice(c.from, c.from + c.count));
    };
    const waits = new Map<string, { d: Durability; callers: DurableCaller[] }>();
    for (const c of callers) {
      // Nothing written (a cron tick another worker enqueued): nothing to confirm.
      if (!c.durability || out.length === 0) answer(c);
      else {
        const w = waits.get(c.durability.key);
        if (w) w.callers.push(c);
        else waits.set(c.durability.key, { d: c.durability, callers: [c] });
      }
    }
    await Promise.all([...waits.values()].map(async ({ d, callers: group }) => {
      const short = await this.confirm(key, mark, d);
      for (const c of group) {
        if (!short) answer(c);
        else {
          const ids = out.slice(c.from, c.from + c.count).map((o) => o.id);
          c.reject(new NotDurableError(ids, queue, d.replicas, short.acknowledged, d.timeoutMs, short.reason, { cause: short.cause }));
        }
      }
    }));
  }

  /**
   * An outcome write on the durable connection, then its confirmation; one not confirmed is
   * reported to `durable` and the write's reply is answered all the same (the write stands).
   */
  async write<T>(key: string, durable: DurableWrites, ids: (out: T) => string[], send: (conn: Conn) => Promise<T>): Promise<T> {
    const mark = await this.mark(key);
    const out = await send(this.connection);
    const short = await this.confirm(key, mark, durable.durability);
    if (short) {
      try {
        const which = ids(out);
        if (which.length > 0) durable.unconfirmed(which, short);
      } catch {
        // A failing report must not turn a recorded outcome into a failed write (sent again).
      }
    }
    return out;
  }

  /** Closes the durable connection, if one was opened. */
  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (!c) return;
    let timer: NodeJS.Timeout | undefined;
    const quit = c.quit().then(() => true, () => true);
    const quitted = await Promise.race([quit, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 1000)))]);
    clearTimeout(timer);
    if (!quitted) c.disconnect();
  }

  private async mark(key: string): Promise<Mark> {
    const node = await nodeFor(this.connection, key);
    let closes = this.closes.get(node);
    if (closes === undefined) {
      closes = 0;
      this.closes.set(node, 0);
      node.on('close', () => this.closes.set(node, (this.closes.get(node) ?? 0) + 1));
    }
    return { node, closes };
  }

  /** Undefined when the durability is confirmed; else what fell short. */
  private async confirm(key: string, mark: Mark, d: Durability): Promise<DurabilityShortfall | undefined> {
    let node: Redis;
    try {
      node = await nodeFor(this.connection, key);
    } catch (err) {
      return { acknowledged: undefined, reason: `the master of its slot could not be found: ${(err as Error).message}`, cause: err };
    }
    if (node !== mark.node) return { acknowledged: undefined, reason: 'its slot moved to another master before the acknowledgement could be asked for' };
    if (this.closes.get(node) !== mark.closes) return LOST;
    let forNode = this.due.get(node);
    if (!forNode) this.due.set(node, (forNode = new Map()));
    let p = forNode.get(d.key);
    if (!p) {
      // Sent once this turn's other writes had their replies: one WAIT answers for all of them.
      p = new Promise<void>((resolve) => process.nextTick(resolve)).then(() => {
        this.due.get(node)?.delete(d.key);
        return ask(node, d, () => this.closes.get(node) !== mark.closes);
      });
      forNode.set(d.key, p);
    }
    return p;
  }
}

const LOST: DurabilityShortfall = { acknowledged: undefined, reason: 'the connection to Redis was lost before the acknowledgement came back' };

/** Sends WAIT / WAITAOF and judges the answer; `reconnected()` tells whether the socket changed meanwhile. */
async function ask(node: Redis, d: Durability, reconnected: () => boolean): Promise<DurabilityShortfall | undefined> {
  const within = `within ${d.timeoutMs} ms`;
  const replicas = (n: number, what: string) => `${n} of ${d.replicas} replica${d.replicas === 1 ? '' : 's'} ${what} ${within}`;
  try {
    const waitaof = d.aof === false ? undefined : (node.call('WAITAOF', 1, d.aof === true ? d.replicas : 0, d.timeoutMs) as Promise<[number, number]>);
    const wait = d.aof === true || d.replicas === 0 ? undefined : node.wait(d.replicas, d.timeoutMs);
    // Both are sent before either is awaited: a rejection of the first must not leave the second unhandled.
    const [aofReply, acked] = await Promise.all([waitaof, wait]);
    if (reconnected()) return LOST;
    if (aofReply) {
      const [local, fsynced] = aofReply;
      if (local < 1) return { acknowledged: d.aof === true ? fsynced : acked, reason: `the master did not fsync its append-only file ${within}` };
      if (d.aof === true && fsynced < d.replicas) return { acknowledged: fsynced, reason: replicas(fsynced, 'fsynced their append-only file') };
    }
    if (acked !== undefined && acked < d.replicas) return { acknowledged: acked, reason: replicas(acked, 'acknowledged') };
    return undefined;
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/unknown command/i.test(message) && /WAITAOF/i.test(message)) {
      return { acknowledged: undefined, reason: `this Redis does not know WAITAOF: durability.aof needs Redis 7.2 or later (${message})`, cause: err };
    }
    return { acknowledged: undefined, reason: `${d.aof === false ? 'WAIT' : 'WAITAOF'} failed: ${message}`, cause: err };
  }
}
