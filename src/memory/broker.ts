// The Broker in memory: the same operations and semantics as the Redis broker, as plain state
// transitions over the structures of ./state.ts (./transitions.ts, ./reclaim.ts). For tests
// and local tinkering in one process: nothing is persisted or shared with other processes.
// Durability (`durability: { replicas, ... }`) is accepted and trivially met: there is no
// replica to wait for, so no enqueue or outcome here waits or fails for it.

import type {
  GroupOverride, AbortOutcome, BlockingReader, Broker, Completion, DeadLetter, EnqueueItem, EnqueueOutcome, EventReader,
  Fetched, HeldLease, Location, NodeNote, QueueRef, QueueShape, ReclaimOptions, ReclaimOutcome, RetryOutcome, StoredDocument, WorkerEntry,
} from '../broker/types.js';
import type { MillraceEvent } from '../events.js';
import { realClock, type Clock } from './clock.js';
import { MemoryEventReader } from './events.js';
import { MemoryWorkflows } from './workflows.js';
import { MemoryStreamReader } from './reader.js';
import { reclaim } from './reclaim.js';
import { holdGroup, setGroupLimits, setGroupPaused } from './groups.js';
import { lrange, type Bytes } from './records.js';
import { MemoryState, type QueueState } from './state.js';
import { parseShape, shapeText, shardCount, storageName } from '../shards/index.js';
import * as t from './transitions.js';
import { DAY_BYTES, dayOf, endedDelta, HISTORY_TTL_S, minuteOfDay, SEEN_TTL_MS, type EndedTotals } from '../broker/history.js';

export interface MemoryBrokerOptions {
  /** The clock of every broker-side time (default: the host's). Pass a ManualClock to drive time in tests. */
  clock?: Clock;
  /** Events each queue's stream keeps (default: the app's `events` option, else 10,000; 0: none). */
  eventsMaxLen?: number;
}

export class MemoryBroker implements Broker {
  readonly clock: Clock;
  readonly workflows: MemoryWorkflows;
  /** @internal the broker's data, shared with its inspector */
  readonly state: MemoryState;
  private eventsMaxLen: number;
  private readonly eventsMaxLenGiven: boolean;
  private readonly readers = new Set<{ close(): Promise<void> }>();
  private readonly waits = new Set<() => void>();
  private readonly scheduleListeners = new Set<() => void>();

  constructor(options: MemoryBrokerOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.state = new MemoryState(this.clock);
    this.workflows = new MemoryWorkflows(this.clock);
    this.eventsMaxLenGiven = options.eventsMaxLen !== undefined;
    this.eventsMaxLen = options.eventsMaxLen ?? 10_000;
    // A clock moved forward makes delayed jobs due now: promoted at once, blocked readers woken.
    this.clock.onAdvance?.(
      () => {
        for (const q of this.state.queues.values()) t.promote(q, Number.MAX_SAFE_INTEGER);
      },
      // An advance stops at each delayed job's due time, so jobs run in the order they come due.
      () => {
        let next: number | undefined;
        for (const q of this.state.queues.values()) {
          const at = q.delayed.first(1)[0]?.at;
          if (at !== undefined && (next === undefined || at < next)) next = at;
        }
        return next;
      },
    );
  }

  /** @internal the app's events cap, unless the broker was given its own */
  adopt(settings: { eventsMaxLen: number }): void {
    if (!this.eventsMaxLenGiven) this.eventsMaxLen = settings.eventsMaxLen;
  }

  private q(queue: QueueRef | string): QueueState {
    if (typeof queue === 'string') return this.state.queue(queue);
    const q = this.state.queue(storageName(queue));
    if (queue.shard !== undefined) q.ids.shard(queue.shard, shardCount(queue));
    q.levels = queue.levels;
    return q;
  }

  async registerQueue(queue: QueueRef, defines: boolean): Promise<void> {
    this.state.queueNames.add(queue.name);
    if (defines) this.state.levels.set(queue.name, shapeText(queue));
  }

  async queueShape(queue: string): Promise<QueueShape | undefined> {
    return parseShape(this.state.levels.get(queue));
  }

  async ensureGroups(queue: QueueRef): Promise<void> {
    for (const level of queue.levels) this.q(queue).stream(level);
  }

  async enqueue(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }): Promise<EnqueueOutcome[]> {
    return t.enqueue(this.q(queue), queue, items, cron, this.eventsMaxLen);
  }

  async enqueueOne(queue: QueueRef, item: EnqueueItem): Promise<EnqueueOutcome> {
    return t.enqueue(this.q(queue), queue, [item], undefined, this.eventsMaxLen)[0]!;
  }

  async fetch(queue: QueueRef, consumer: string, count: number): Promise<Fetched> {
    const q = this.q(queue);
    if (q.paused) return Object.assign([], { paused: true as const });
    return t.fetch(q, queue, consumer, count);
  }

  async setPaused(queue: QueueRef, paused: boolean): Promise<void> {
    this.q(queue).paused = paused;
    this.q(queue).publishAbort(paused ? '|pause' : '|resume');
  }

  async setGroupPaused(queue: QueueRef, group: string, paused: boolean): Promise<void> {
    setGroupPaused(this.q(queue), group, paused);
  }

  async holdGroup(queue: QueueRef, group: string, ms: number): Promise<void> {
    holdGroup(this.q(queue), group, ms);
  }

  async setGroupLimits(queue: QueueRef, group: string, limits: GroupOverride | undefined): Promise<void> {
    setGroupLimits(this.q(queue), group, limits);
  }

  async hold(queue: QueueRef, ms: number): Promise<void> {
    const q = this.q(queue);
    q.heldUntil = Math.max(q.heldUntil, q.clock.now() + Math.max(1, Math.ceil(ms)));
    q.publishAbort('|hold');
  }

  /** How long until a fetch of the queue could deliver: held or rate limited (0: now). The test kit's drain advances a manual clock by it. */
  limitedFor(queue: QueueRef): number {
    return t.limitedFor(this.q(queue), queue);
  }

  async heldFor(queue: QueueRef): Promise<number> {
    const q = this.q(queue);
    return Math.max(0, q.heldUntil - q.clock.now());
  }

  async isPaused(queue: QueueRef): Promise<boolean> {
    return this.q(queue).paused;
  }

  blockingReader(queue: QueueRef, consumer: string): BlockingReader {
    const reader = new MemoryStreamReader(this.q(queue), queue, consumer, (r) => this.readers.delete(r));
    this.readers.add(reader);
    return reader;
  }

  async complete(queue: QueueRef, consumer: string, items: Completion[]): Promise<boolean[]> {
    return t.complete(this.q(queue), queue, consumer, items);
  }

  async retry(queue: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string, ifAborted: { record: string | Buffer; ttl: number }): Promise<RetryOutcome> {
    return t.retry(this.q(queue), queue, consumer, lease, attempt, delayMs, error, ifAborted);
  }

  async deadLetter(queue: QueueRef, consumer: string, item: DeadLetter): Promise<boolean> {
    return t.deadLetter(this.q(queue), queue, consumer, item);
  }

  async take(queue: QueueRef, consumer: string, lease: HeldLease): Promise<boolean> {
    return t.take(this.q(queue), queue, consumer, lease);
  }

  async requeue(queue: QueueRef, consumer: string, leases: HeldLease[], ttl: number): Promise<number> {
    return t.requeue(this.q(queue), queue, consumer, leases, ttl);
  }

  async touch(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<{ lost: string[]; abort: string[] }> {
    return t.touch(this.q(queue), queue, consumer, leases);
  }

  async reclaim(queue: QueueRef, consumer: string, opts: ReclaimOptions): Promise<ReclaimOutcome> {
    return reclaim(this.q(queue), queue, consumer, opts);
  }

  async serverNow(): Promise<number> {
    return this.clock.now();
  }

  async time(): Promise<number> {
    return this.clock.now();
  }

  async nodeNotes(queue: QueueRef, count: number): Promise<NodeNote[]> {
    return [...this.q(queue).wfNotes].slice(0, count).map(([id, meta]) => ({ id, meta }));
  }

  async watchJob(queue: QueueRef, id: string, place: readonly [string, number, number]): Promise<string | Buffer | null> {
    const q = this.q(queue);
    const rec = q.results.get(id);
    if (rec !== undefined && String(typeof rec === 'string' ? rec : rec.subarray(0, 10)).startsWith('completed|')) return rec;
    // Not completed: watched on (a failed one replayed from the dead-letter queue ends again).
    const list = q.watch.get(id) ?? [];
    if (!list.some((p) => p[0] === place[0] && p[1] === place[1] && p[2] === place[2])) list.push(place);
    q.watch.set(id, list);
    return rec ?? null;
  }

  async dropNodeNotes(queue: QueueRef, notes: NodeNote[]): Promise<void> {
    const q = this.q(queue);
    for (const n of notes) if (String(q.wfNotes.get(n.id)) === String(n.meta)) q.wfNotes.delete(n.id);
  }

  async promote(queue: QueueRef, count: number): Promise<{ moved: number; nextDueMs: number }> {
    return t.promote(this.q(queue), count);
  }

  async abort(queue: QueueRef, id: string, record: string | Buffer, ttl: number): Promise<AbortOutcome> {
    return t.abort(this.q(queue), id, record, ttl);
  }

  async promoteJob(queue: QueueRef, id: string): Promise<boolean> {
    const q = this.q(queue);
    if (q.delayed.dueAt(id) === undefined) return false;
    q.delay(id, 0);
    return true;
  }

  async unschedule(queue: QueueRef, id: string): Promise<boolean> {
    return t.unschedule(this.q(queue), id);
  }

  async locate(queue: QueueRef, id: string): Promise<Location> {
    return t.locate(this.q(queue), queue, id);
  }

  async getResult(queue: QueueRef, id: string): Promise<string | Buffer | null> {
    return this.q(queue).results.get(id) ?? null;
  }

  /** Resolves when the result is stored (no polling), null after timeoutMs (a real timer), 'not_found' at once. */
  waitForResult(queue: QueueRef, id: string, timeoutMs: number): Promise<string | Buffer | null | 'not_found'> {
    const q = this.q(queue);
    const existing = q.results.get(id);
    if (existing !== undefined) return Promise.resolve(existing);
    if (t.locate(q, queue, id).state === 'unknown') return Promise.resolve('not_found');
    return new Promise((resolve) => {
      let set = q.waiters.get(id);
      if (!set) q.waiters.set(id, (set = new Set()));
      const waiters = set;
      const finish = (v: Bytes | null) => {
        clearTimeout(timer);
        waiters.delete(onResult);
        if (waiters.size === 0 && q.waiters.get(id) === waiters) q.waiters.delete(id);
        this.waits.delete(stop);
        resolve(v);
      };
      const onResult = (record: Bytes) => finish(record);
      const stop = () => finish(q.results.get(id) ?? null);
      const timer = setTimeout(stop, timeoutMs);
      waiters.add(onResult);
      this.waits.add(stop);
    });
  }

  async onAbort(
    queues: QueueRef[], onAbort: (queue: string, id: string) => void, _onResync?: () => void, onPause?: (queue: QueueRef, paused: boolean) => void,
    onHold?: (queue: QueueRef) => void, onDue?: (queue: QueueRef) => void,
  ): Promise<() => Promise<void>> {
    const subs = queues.map((q) => {
      let set = this.state.abortListeners.get(storageName(q));
      if (!set) this.state.abortListeners.set(storageName(q), (set = new Set()));
      const fn = (message: string) => {
        if (message === '|pause' || message === '|resume') onPause?.(q, message === '|pause');
        else if (message === '|hold') onHold?.(q);
        else if (message === '|due') onDue?.(q);
        else onAbort(q.name, message);
      };
      set.add(fn);
      return () => set.delete(fn);
    });
    return async () => {
      for (const off of subs) off();
    };
  }

  async publishEvents(queue: QueueRef, events: MillraceEvent[], worker: string): Promise<void> {
    if (this.eventsMaxLen <= 0 || events.length === 0) return;
    this.q(queue).events.append(events, worker, Math.max(1, Math.ceil(this.eventsMaxLen / events.length)));
  }

  eventReader(): EventReader {
    const reader = new MemoryEventReader(this.state, (r) => this.readers.delete(r));
    this.readers.add(reader);
    return reader;
  }

  async saveSchedule(name: string, definition: string): Promise<void> {
    this.state.schedules.set(name, definition);
    for (const fn of [...this.scheduleListeners]) fn();
  }

  async deleteSchedule(name: string, queue: QueueRef): Promise<boolean> {
    this.q(queue).cronTicks.delete(name);
    const deleted = this.state.schedules.delete(name);
    for (const fn of [...this.scheduleListeners]) fn();
    return deleted;
  }

  onSchedulesChanged(fn: () => void): () => void {
    this.scheduleListeners.add(fn);
    return () => this.scheduleListeners.delete(fn);
  }

  async schedules(): Promise<Record<string, string>> {
    return Object.fromEntries(this.state.schedules);
  }

  async setProgress(queue: QueueRef, id: string, progress: string, ttlMs: number): Promise<void> {
    this.q(queue).progress.set(id, progress, Math.round(ttlMs));
  }

  async getProgress(queue: QueueRef, id: string): Promise<string | null> {
    return this.q(queue).progress.get(id) ?? null;
  }

  async appendLog(queue: QueueRef, id: string, line: string, maxLines: number, ttlMs: number): Promise<void> {
    const logs = this.q(queue).logs;
    const lines = [...(logs.get(id) ?? []), line];
    logs.set(id, lines.slice(Math.max(0, lines.length - maxLines)), Math.round(ttlMs));
  }

  async getLogs(queue: QueueRef, id: string, start: number, end: number): Promise<string[]> {
    return lrange(this.q(queue).logs.get(id) ?? [], start, end);
  }

  async heartbeat(entry: WorkerEntry, ttlMs: number, health: { queue: QueueRef; record: string; ended?: EndedTotals }[]): Promise<void> {
    const now = this.clock.now();
    this.state.beats.set(entry.id, now);
    this.state.workerEntries.set(entry.id, JSON.stringify(entry), Math.round(ttlMs));
    for (const h of health) {
      const q = this.q(h.queue);
      q.health.set(entry.id, h.record, Math.round(ttlMs));
      if (h.ended) addEnded(q, entry.id, h.ended, now);
    }
  }

  async removeWorker(workerId: string, queues: QueueRef[]): Promise<void> {
    this.state.beats.delete(workerId);
    this.state.workerEntries.delete(workerId);
    for (const q of queues) {
      this.q(q).health.delete(workerId);
      this.q(q).throughputSeen.delete(workerId);
    }
  }

  async ping(): Promise<number> {
    return 0;
  }

  async saveDocument(kind: string, id: string, json: string, ttlMs: number): Promise<void> {
    // Deleted first, so the documents' order is the order they were last saved in.
    this.state.documents.delete(`${kind}:${id}`);
    this.state.documents.set(`${kind}:${id}`, json, Math.max(1, Math.round(ttlMs)));
  }

  async listDocuments(kind: string, limit: number): Promise<StoredDocument[]> {
    const out: StoredDocument[] = [];
    for (const [key, json] of this.state.documents.entries()) {
      if (key.startsWith(`${kind}:`)) out.push({ id: key.slice(kind.length + 1), json });
    }
    return out.reverse().slice(0, Math.max(0, limit));
  }

  async loadDocument(kind: string, id: string): Promise<string | null> {
    return this.state.documents.get(`${kind}:${id}`) ?? null;
  }

  /**
   * Ends blocking reads, event reads and result waits (a wait answers the result if there is one,
   * else null). The data stays: the broker can be used again.
   */
  async close(): Promise<void> {
    for (const r of [...this.readers]) await r.close();
    for (const stop of [...this.waits]) stop();
  }
}

/** health.lua's history part: the growth of a worker's totals since its last beat, into the minute of `now`. */
function addEnded(q: QueueState, worker: string, ended: EndedTotals, now: number): void {
  const d = endedDelta(ended, q.throughputSeen.get(worker));
  if (d.completed > 0 || d.failed > 0) {
    const day = dayOf(now);
    const bytes = q.throughput.get(day) ?? new Uint8Array(DAY_BYTES);
    const view = new DataView(bytes.buffer);
    const o = minuteOfDay(now) * 8;
    view.setUint32(o, Math.min(0xffffffff, view.getUint32(o) + d.completed));
    view.setUint32(o + 4, Math.min(0xffffffff, view.getUint32(o + 4) + d.failed));
    q.throughput.set(day, bytes, HISTORY_TTL_S * 1000);
  }
  q.throughputSeen.set(worker, { completed: ended.completed, failed: ended.failed }, SEEN_TTL_MS);
}
