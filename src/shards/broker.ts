// The broker as clients and workers use it when queues may be sharded: a call about one job of
// a sharded queue goes to the shard its id names, an enqueue is split over the shards (round
// robin, a custom id to its hash's shard), a call about the whole queue goes to every shard.
// Calls on a shard's own ref (a worker's fetch loops) and on queues that are not sharded pass
// straight through, so an app without sharded queues pays one property check per call.

import type {
  AbortOutcome, BlockingReader, Broker, Completion, DeadLetter, Durability, DurableWrites, EnqueueItem, GroupOverride,
  EnqueueOutcome, EventReader, Fetched, HeldLease, Location, NodeNote, QueueRef, QueueShape, ReclaimOptions, ReclaimOutcome,
  RetryOutcome, StoredDocument, StoredEvent, WorkerEntry, EndedTotals,
} from '../broker/types.js';
import type { MillraceEvent } from '../events.js';
import { throwFirst } from '../errors.js';
import { expand, needsRouting, parseStorageName, shardCount, shardFor, shardOfId, shardRefs, storageName } from './index.js';

export class ShardRouter implements Broker {
  /** Round-robin position of each sharded queue's next auto-id job. */
  private readonly turns = new Map<string, number>();
  /** Shard counts of queues by name, as refs and registrations told (for event cursors by name). */
  readonly shardsByName = new Map<string, number>();

  constructor(readonly inner: Broker) {}

  get clock(): Broker['clock'] {
    return this.inner.clock;
  }

  /** Workflow records are not a queue's: the inner broker keeps them. */
  get workflows(): Broker['workflows'] {
    return this.inner.workflows;
  }

  /** A shard's own ref, or a queue that is not sharded: what calls about deliveries take. */
  private one(queue: QueueRef, call: string): QueueRef {
    if (needsRouting(queue)) throw new Error(`internal: ${call} on sharded queue '${queue.name}' needs one of its shards`);
    return queue;
  }

  private note(queue: QueueRef): void {
    if (queue.shard === undefined && queue.shards !== undefined) this.know(queue);
  }

  /** The shard a sharded queue's next auto-id job goes to (round robin). */
  private nextTurn(queue: QueueRef, shards: number): number {
    const turn = this.turns.get(queue.name) ?? 0;
    this.turns.set(queue.name, (turn + 1) % shards);
    return turn;
  }

  async registerQueue(queue: QueueRef, defines: boolean): Promise<void> {
    this.note(queue);
    // A shard registers its queue (the registry knows queues, not shards).
    await this.inner.registerQueue(queue.shard === undefined ? queue : Object.getPrototypeOf(queue) as QueueRef, defines);
  }

  /** Learns the shard counts of queues not seen yet (from their registry entries), so reads by name find every shard. */
  async learn(queues: string[]): Promise<void> {
    // A queue not registered yet counts as not sharded, and is asked about again next time.
    await Promise.all(queues.filter((q) => !this.shardsByName.has(q) && parseStorageName(q).shard === undefined).map((q) => this.queueShape(q)));
  }

  /** Tells the router a queue's shard count (a queue this process defines). */
  know(queue: QueueRef): void {
    this.shardsByName.set(queue.name, shardCount(queue));
  }

  async queueShape(queue: string): Promise<QueueShape | undefined> {
    const shape = await this.inner.queueShape(queue);
    if (shape) this.shardsByName.set(queue, shape.shards);
    return shape;
  }

  async ensureGroups(queue: QueueRef): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.ensureGroups(q)));
  }

  enqueue(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }, durability?: Durability): Promise<EnqueueOutcome[]> {
    if (!needsRouting(queue)) return this.inner.enqueue(queue, items, cron, durability);
    this.note(queue);
    const shards = shardRefs(queue);
    const parts = shards.map(() => ({ items: [] as EnqueueItem[], at: [] as number[] }));
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      const s = it.id === '' ? this.nextTurn(queue, shards.length) : shardOfId(it.id, shards.length);
      parts[s]!.items.push(it);
      parts[s]!.at.push(i);
    }
    const out: EnqueueOutcome[] = new Array(items.length);
    const sends = parts.map(async (part, s) => {
      if (part.items.length === 0) return;
      const got = await this.inner.enqueue(shards[s]!, part.items, cron, durability);
      got.forEach((o, k) => (out[part.at[k]!] = o));
    });
    return Promise.allSettled(sends).then((settled) => {
      throwFirst(settled);
      return out;
    });
  }

  enqueueOne(queue: QueueRef, item: EnqueueItem, durability?: Durability): Promise<EnqueueOutcome> {
    if (!needsRouting(queue)) return this.inner.enqueueOne(queue, item, durability);
    const shards = shardRefs(queue);
    const s = item.id === '' ? this.nextTurn(queue, shards.length) : shardOfId(item.id, shards.length);
    return this.inner.enqueueOne(shards[s]!, item, durability);
  }

  fetch(queue: QueueRef, consumer: string, count: number): Promise<Fetched> {
    return this.inner.fetch(this.one(queue, 'fetch'), consumer, count);
  }

  blockingReader(queue: QueueRef, consumer: string): BlockingReader {
    return this.inner.blockingReader(this.one(queue, 'blockingReader'), consumer);
  }

  complete(queue: QueueRef, consumer: string, items: Completion[], durable?: DurableWrites): Promise<boolean[]> {
    return this.inner.complete(this.one(queue, 'complete'), consumer, items, durable);
  }

  retry(queue: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string, ifAborted: { record: string | Buffer; ttl: number }, durable?: DurableWrites): Promise<RetryOutcome> {
    return this.inner.retry(this.one(queue, 'retry'), consumer, lease, attempt, delayMs, error, ifAborted, durable);
  }

  deadLetter(queue: QueueRef, consumer: string, item: DeadLetter, durable?: DurableWrites): Promise<boolean> {
    return this.inner.deadLetter(this.one(queue, 'deadLetter'), consumer, item, durable);
  }

  take(queue: QueueRef, consumer: string, lease: HeldLease): Promise<boolean> {
    return this.inner.take(this.one(queue, 'take'), consumer, lease);
  }

  requeue(queue: QueueRef, consumer: string, leases: HeldLease[], ttl: number): Promise<number> {
    return this.inner.requeue(this.one(queue, 'requeue'), consumer, leases, ttl);
  }

  touch(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<{ lost: string[]; abort: string[] }> {
    return this.inner.touch(this.one(queue, 'touch'), consumer, leases);
  }

  reclaim(queue: QueueRef, consumer: string, opts: ReclaimOptions): Promise<ReclaimOutcome> {
    return this.inner.reclaim(this.one(queue, 'reclaim'), consumer, opts);
  }

  nodeNotes(queue: QueueRef, count: number): Promise<NodeNote[]> {
    return this.inner.nodeNotes(this.one(queue, 'nodeNotes'), count);
  }

  watchJob(queue: QueueRef, id: string, place: readonly [string, number, number]): Promise<string | Buffer | null> {
    return this.inner.watchJob(shardFor(queue, id), id, place);
  }

  dropNodeNotes(queue: QueueRef, notes: NodeNote[]): Promise<void> {
    return this.inner.dropNodeNotes(this.one(queue, 'dropNodeNotes'), notes);
  }

  promote(queue: QueueRef, count: number): Promise<{ moved: number; nextDueMs: number }> {
    return this.inner.promote(this.one(queue, 'promote'), count);
  }

  serverNow(): Promise<number> {
    return this.inner.serverNow();
  }

  abort(queue: QueueRef, id: string, record: string | Buffer, ttl: number): Promise<AbortOutcome> {
    return this.inner.abort(shardFor(queue, id), id, record, ttl);
  }

  promoteJob(queue: QueueRef, id: string): Promise<boolean> {
    return this.inner.promoteJob(shardFor(queue, id), id);
  }

  unschedule(queue: QueueRef, id: string): Promise<boolean> {
    return this.inner.unschedule(shardFor(queue, id), id);
  }

  locate(queue: QueueRef, id: string): Promise<Location> {
    return this.inner.locate(shardFor(queue, id), id);
  }

  getResult(queue: QueueRef, id: string): Promise<string | Buffer | null> {
    return this.inner.getResult(shardFor(queue, id), id);
  }

  waitForResult(queue: QueueRef, id: string, timeoutMs: number): Promise<string | Buffer | null | 'not_found'> {
    return this.inner.waitForResult(shardFor(queue, id), id, timeoutMs);
  }

  onAbort(
    queues: QueueRef[], onAbort: (queue: string, id: string) => void, onResync?: () => void, onPause?: (queue: QueueRef, paused: boolean) => void,
    onHold?: (queue: QueueRef) => void, onDue?: (queue: QueueRef) => void,
  ): Promise<() => Promise<void>> {
    return this.inner.onAbort(queues.flatMap(expand), onAbort, onResync, onPause, onHold, onDue);
  }

  async hold(queue: QueueRef, ms: number): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.hold(q, ms)));
  }

  limitedFor(queue: QueueRef): number {
    const inner = this.inner.limitedFor?.bind(this.inner);
    return inner ? Math.max(0, ...expand(queue).map((q) => inner(q))) : 0;
  }

  async heldFor(queue: QueueRef): Promise<number> {
    return Math.max(0, ...(await Promise.all(expand(queue).map((q) => this.inner.heldFor(q)))));
  }

  async setPaused(queue: QueueRef, paused: boolean): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.setPaused(q, paused)));
  }

  async setGroupPaused(queue: QueueRef, group: string, paused: boolean): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.setGroupPaused(q, group, paused)));
  }

  async holdGroup(queue: QueueRef, group: string, ms: number): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.holdGroup(q, group, ms)));
  }

  async setGroupLimits(queue: QueueRef, group: string, limits: GroupOverride | undefined): Promise<void> {
    await Promise.all(expand(queue).map((q) => this.inner.setGroupLimits(q, group, limits)));
  }

  async isPaused(queue: QueueRef): Promise<boolean> {
    return (await Promise.all(expand(queue).map((q) => this.inner.isPaused(q)))).some(Boolean);
  }

  time(): Promise<number> {
    return this.inner.time();
  }

  async publishEvents(queue: QueueRef, events: MillraceEvent[], worker: string): Promise<void> {
    if (!needsRouting(queue)) return this.inner.publishEvents(queue, events, worker);
    // Each job's events go to its shard's stream, after the enqueue event its shard wrote.
    const n = shardCount(queue);
    const parts = new Map<number, MillraceEvent[]>();
    for (const e of events) {
      const s = 'id' in e && typeof e.id === 'string' ? shardOfId(e.id, n) : 0;
      const part = parts.get(s);
      if (part) part.push(e);
      else parts.set(s, [e]);
    }
    const shards = shardRefs(queue);
    await Promise.all([...parts].map(([s, part]) => this.inner.publishEvents(shards[s]!, part, worker)));
  }

  eventReader(): EventReader {
    return new ShardedEventReader(this.inner.eventReader(), this);
  }

  saveSchedule(name: string, definition: string): Promise<void> {
    return this.inner.saveSchedule(name, definition);
  }

  async deleteSchedule(name: string, queue: QueueRef): Promise<boolean> {
    // The schedule's tick record may be in any shard (a tick's job id names its shard).
    const removed = await Promise.all(expand(queue).map((q) => this.inner.deleteSchedule(name, q)));
    return removed.some(Boolean);
  }

  get onSchedulesChanged(): Broker['onSchedulesChanged'] {
    return this.inner.onSchedulesChanged?.bind(this.inner);
  }

  schedules(): Promise<Record<string, string>> {
    return this.inner.schedules();
  }

  setProgress(queue: QueueRef, id: string, progress: string, ttlMs: number): Promise<void> {
    return this.inner.setProgress(shardFor(queue, id), id, progress, ttlMs);
  }

  getProgress(queue: QueueRef, id: string): Promise<string | null> {
    return this.inner.getProgress(shardFor(queue, id), id);
  }

  appendLog(queue: QueueRef, id: string, line: string, maxLines: number, ttlMs: number): Promise<void> {
    return this.inner.appendLog(shardFor(queue, id), id, line, maxLines, ttlMs);
  }

  getLogs(queue: QueueRef, id: string, start: number, end: number): Promise<string[]> {
    return this.inner.getLogs(shardFor(queue, id), id, start, end);
  }

  heartbeat(entry: WorkerEntry, ttlMs: number, health: { queue: QueueRef; record: string; ended?: EndedTotals }[]): Promise<void> {
    // Workers beat per shard; a whole sharded queue's totals go to its first shard only (counted once).
    return this.inner.heartbeat(entry, ttlMs, health.flatMap((h) => expand(h.queue).map((queue, i) => (h.ended && i === 0 ? { queue, record: h.record, ended: h.ended } : { queue, record: h.record }))));
  }

  removeWorker(workerId: string, queues: QueueRef[]): Promise<void> {
    return this.inner.removeWorker(workerId, queues.flatMap(expand));
  }

  ping(): Promise<number> {
    return this.inner.ping();
  }

  get evictionPolicy(): Broker['evictionPolicy'] {
    return this.inner.evictionPolicy?.bind(this.inner);
  }

  saveDocument(kind: string, id: string, json: string, ttlMs: number): Promise<void> {
    return this.inner.saveDocument(kind, id, json, ttlMs);
  }

  loadDocument(kind: string, id: string): Promise<string | null> {
    return this.inner.loadDocument(kind, id);
  }

  listDocuments(kind: string, limit: number): Promise<StoredDocument[]> {
    return this.inner.listDocuments(kind, limit);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The broker a router routes to (a Redis or memory broker), or the broker itself. */
export function baseBroker(broker: Broker): Broker {
  return broker instanceof ShardRouter ? broker.inner : broker;
}

/**
 * Event streams by queue name, a sharded queue's read as its shards' streams: a cursor given
 * for the queue ('0-0', '$') starts each of its shards there, and the events read carry the
 * shard's storage name ("hot#3/6") as their cursor's key.
 */
class ShardedEventReader implements EventReader {
  constructor(
    private readonly inner: EventReader,
    private readonly router: ShardRouter,
  ) {}

  /**
   * The streams behind a name: a sharded queue's shards, else the name itself. Known at once
   * (no command before the read, so "$" is when the read began) for queues the router has seen;
   * learn() others first.
   */
  private streams(name: string): string[] {
    if (parseStorageName(name).shard !== undefined) return [name];
    const n = this.router.shardsByName.get(name) ?? 1;
    return n > 1 ? shardRefs({ name, levels: [], shards: n }).map(storageName) : [name];
  }

  read(cursors: Record<string, string>, count: number, blockMs?: number): Promise<StoredEvent[]> {
    const expanded: Record<string, string> = {};
    for (const [name, cursor] of Object.entries(cursors)) {
      for (const stream of this.streams(name)) expanded[stream] = cursors[stream] ?? cursor;
    }
    return this.inner.read(expanded, count, blockMs);
  }

  async latest(queues: string[]): Promise<Record<string, string>> {
    await this.router.learn(queues);
    return this.inner.latest(queues.flatMap((q) => this.streams(q)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
