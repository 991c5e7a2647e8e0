// The in-memory data of a memory broker, shaped as the Redis data model (docs/architecture.md):
// per queue one ordered list of entries per priority level with the consumer group's pending
// entries (owner, delivery count, last delivery), job records, the due-time ordered set of
// delayed jobs and retries, results with TTLs, the DLQ, and what the registry keeps.

import type { Clock } from './clock.js';
import { parseStorageName } from '../shards/index.js';
import { Expiring, IdCounter, type Bytes } from './records.js';
import { EventLog } from './events.js';
import { GroupState } from './groups.js';

/** A stream entry's fields: header, data, and deaths carried over a hand-back (field r). */
export interface Entry {
  h: Bytes | undefined;
  d: Bytes | undefined;
  r?: number;
}

/** A pending entry of the consumer group: the lease. `count` is the fencing token. */
export interface Pending {
  owner: string;
  count: number;
  /** Clock ms of its last delivery, claim or renewal (idle time is measured from it). */
  at: number;
}

/** One priority level's stream and its consumer group. */
export class Stream {
  /** Every entry on the stream (waiting or pending), in id order. */
  readonly entries = new Map<string, Entry>();
  readonly pending = new Map<string, Pending>();
  /** Ids not yet delivered, in order (deleted ones are skipped when read). */
  private unread: string[] = [];
  private head = 0;

  add(id: string, entry: Entry): void {
    this.entries.set(id, entry);
    this.unread.push(id);
  }

  /** XREADGROUP '>': up to `count` new entries, now pending for `consumer`. */
  deliver(consumer: string, count: number, now: number): [string, Entry][] {
    const out: [string, Entry][] = [];
    while (out.length < count && this.head < this.unread.length) {
      const id = this.unread[this.head++]!;
      const entry = this.entries.get(id);
      if (!entry || this.pending.has(id)) continue;
      this.pending.set(id, { owner: consumer, count: 1, at: now });
      out.push([id, entry]);
    }
    if (this.head > 1024 && this.head * 2 > this.unread.length) {
      this.unread = this.unread.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** XREADGROUP of one new entry (a job a group served): now pending for `consumer`; undefined when it is gone or pending already. */
  deliverEntry(id: string, consumer: string, now: number): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry || this.pending.has(id)) return undefined;
    this.pending.set(id, { owner: consumer, count: 1, at: now });
    return entry;
  }

  /** XACK + XDEL. */
  remove(id: string): void {
    this.entries.delete(id);
    this.pending.delete(id);
  }

  /**
   * Entries not delivered yet, counted as the Redis inspector does (every entry is waiting or
   * pending: length less pending, at least 0; a pending entry deleted from the stream counts
   * as pending only).
   */
  get waiting(): number {
    return Math.max(0, this.entries.size - this.pending.size);
  }
}

/**
 * The job record `{q}:j:<id>`; `level` is the level's name. A job waiting in its group (fair
 * groups) is 'grouped' and holds its envelope; `g` names the group of a grouped job, kept for
 * its whole life (a retry later or a promotion brings it back to the group).
 */
export interface JobRecord {
  st?: 'queued' | 'delayed' | 'running' | 'grouped';
  level?: string;
  g?: string;
  e?: string;
  h?: Bytes;
  d?: Bytes;
  w?: string;
  err?: string;
}

/** Ids ordered by due time (the delayed sorted set). */
export class DelayedSet {
  private readonly due = new Map<string, number>();
  private sorted: { id: string; at: number }[] = [];

  get size(): number {
    return this.due.size;
  }

  dueAt(id: string): number | undefined {
    return this.due.get(id);
  }

  add(id: string, at: number): void {
    this.remove(id);
    this.due.set(id, at);
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    this.sorted.splice(lo, 0, { id, at });
  }

  remove(id: string): boolean {
    if (!this.due.delete(id)) return false;
    this.sorted.splice(this.sorted.findIndex((e) => e.id === id), 1);
    return true;
  }

  /** `count` members from rank `start` on, earliest first. */
  range(start: number, count: number): { id: string; at: number }[] {
    return this.sorted.slice(start, start + count);
  }

  /** The first `limit` members, earliest first. */
  first(limit: number): { id: string; at: number }[] {
    return this.sorted.slice(0, limit);
  }
}

/** A dead-letter stream entry; `level` is the level's name. */
export interface DlqRecord {
  h: Bytes;
  d: Bytes;
  level: string;
  reason: string;
  error: string;
  stack: string;
  attempts: number;
  queue: string;
  worker: string;
  failedAt: number;
}

/** Everything of one queue. */
export class QueueState {
  readonly streams = new Map<string, Stream>();
  readonly records = new Map<string, JobRecord>();
  readonly delayed = new DelayedSet();
  readonly results: Expiring<Bytes>;
  /** Held jobs whose abort was requested. */
  readonly aborting = new Set<string>();
  /** Workflow nodes' jobs ended here, not by a worker: id -> outcome meta line (wf_notes in lib.lua). */
  readonly wfNotes = new Map<string, Bytes>();
  /** Jobs workflows wait on (after()): id -> the places waiting (the watch hash). */
  readonly watch = new Map<string, (readonly [string, number, number])[]>();
  /** At-most-once jobs running off their stream: id -> worker and when. */
  readonly taken = new Map<string, { worker: string; at: number }>();
  /** Consumers of the group, with when each last read or claimed (clock ms). */
  readonly consumers = new Map<string, number>();
  readonly dlq = new Map<string, DlqRecord>();
  /** In-process result waiters by job id. */
  readonly waiters = new Map<string, Set<(record: Bytes) => void>>();
  /** The last tick each cron schedule enqueued. */
  readonly cronTicks = new Map<string, number>();
  readonly health: Expiring<string>;
  /** Throughput history by UTC day ("yyyymmdd"): 1440 x 2 u32 big-endian, as the Redis key (src/broker/history.ts). */
  readonly throughput: Expiring<Uint8Array>;
  /** The job totals each worker's last heartbeat brought, by worker id. */
  readonly throughputSeen: Expiring<{ completed: number; failed: number }>;
  readonly progress: Expiring<string>;
  readonly logs: Expiring<string[]>;
  readonly events: EventLog;
  /** Entry ids across all the queue's streams, so an auto job id names one entry. */
  readonly ids = new IdCounter();
  readonly dlqIds = new IdCounter();
  /** Blocked readers to wake when entries are added. */
  readonly readers = new Set<() => void>();
  /** Blocked capped reads (given `after`), woken by the groups bell too: jobs joined a group. */
  readonly bellReaders = new Set<() => void>();
  /** Fair groups: each group's waiting jobs, the ring of turns, rests, caps, pauses (./groups.ts). */
  readonly groups = new GroupState();
  /** Paused: fetches deliver nothing (Broker.setPaused). */
  paused = false;
  /** Held until this clock ms (Broker.hold: ctx.rateLimit): fetches deliver nothing before. */
  heldUntil = 0;
  /** The rate limit's token bucket (as fetch.lua's `rate` hash): tokens at clock ms. */
  bucket: { tokens: number; at: number } | undefined;
  /** The queue's levels, lowest first, as the last call naming the queue gave them. */
  levels: readonly string[] | undefined;

  /** The queue's name (a shard's too: "hot" for "hot#3/6"). */
  readonly name: string;

  constructor(
    /** The name its keys would be built from: the queue's, or a shard's "hot#3/6". */
    readonly storage: string,
    readonly clock: Clock,
    private readonly abortListeners: Map<string, Set<(id: string) => void>>,
  ) {
    this.name = parseStorageName(storage).name;
    this.results = new Expiring(clock);
    this.health = new Expiring(clock);
    this.throughput = new Expiring(clock);
    this.throughputSeen = new Expiring(clock);
    this.progress = new Expiring(clock);
    this.logs = new Expiring(clock);
    this.events = new EventLog(clock);
  }

  stream(level: string): Stream {
    let s = this.streams.get(level);
    if (!s) this.streams.set(level, (s = new Stream()));
    return s;
  }

  /** The stream that holds an entry id, with its level name. */
  findEntry(entry: string): { level: string; stream: Stream } | undefined {
    for (const [level, stream] of this.streams) if (stream.entries.has(entry)) return { level, stream };
    return undefined;
  }

  /** Adds a ready entry with the next id and wakes blocked readers; returns the id. */
  append(level: string, entry: Entry): string {
    const id = this.ids.next(this.clock.now());
    this.stream(level).add(id, entry);
    this.wakeReaders();
    return id;
  }

  private wakeScheduled = false;
  /** What woke: entries added (every blocked reader), the groups bell (the capped reads). */
  private rung = { entries: false, bell: false };

  /** Wakes blocked readers once the current transition is over (a script is atomic). */
  wakeReaders(): void {
    this.wake('entries');
  }

  /** Rings the groups bell (jobs joined a group): its position moves on and the capped reads waiting on it wake. */
  ringBell(): void {
    this.groups.bell++;
    this.wake('bell');
  }

  private wake(what: 'entries' | 'bell'): void {
    if ((what === 'entries' ? this.readers : this.bellReaders).size === 0) return;
    this.rung[what] = true;
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      const { entries, bell } = this.rung;
      this.wakeScheduled = false;
      this.rung = { entries: false, bell: false };
      const woken = new Set(entries ? this.readers : []);
      if (bell) for (const wake of this.bellReaders) woken.add(wake);
      for (const wake of woken) wake();
    });
  }

  /** Fencing: the pending entry when `consumer` still holds it with delivery count `token` ('' for any). */
  holds(level: string, entry: string, consumer: string, token: string): Pending | undefined {
    const p = this.streams.get(level)?.pending.get(entry);
    return p && p.owner === consumer && (token === '' || String(p.count) === token) ? p : undefined;
  }

  /** Merges fields into a job record (HSET), creating it. */
  /** As complete/retry/dead.lua: a job of a fair group at its cap gives its permit back; the bell rings. */
  permitFreed(id: string): void {
    const g = this.records.get(id)?.g;
    if (g !== undefined && this.groups.full.has(g)) this.ringBell();
  }

  setRecord(id: string, fields: JobRecord): JobRecord {
    const rec = this.records.get(id);
    if (rec) return Object.assign(rec, fields);
    this.records.set(id, fields);
    return fields;
  }

  seen(consumer: string): void {
    this.consumers.set(consumer, this.clock.now());
  }

  /**
   * Stores a job's outcome record for `ttl` seconds (-1 forever, 0 not kept) and resolves whoever
   * waits for it; a result nobody keeps is still kept a minute for a waiter (store_result).
   */
  storeResult(id: string, record: Bytes, ttl: number): void {
    // A record that tells a workflow place was built here for a job no worker settled (withJob): noted.
    const buf = typeof record === 'string' ? record : record.toString('latin1');
    const nl = buf.indexOf('\n');
    const head = nl < 0 ? buf : buf.slice(0, nl);
    if (head.includes(',"w":[')) this.wfNotes.set(id, typeof record === 'string' ? head : Buffer.from(head, 'latin1').toString('utf8'));
    const places = this.watch.get(id);
    if (places) {
      const list = JSON.stringify(places);
      this.wfNotes.set(`@${id}`, typeof record === 'string' ? `${list}\n${record}` : Buffer.concat([Buffer.from(`${list}\n`), record]));
      if (buf.startsWith('completed|')) this.watch.delete(id);
    }
    const waiters = this.waiters.get(id);
    const waiting = waiters !== undefined && waiters.size > 0;
    const seconds = ttl === 0 && waiting ? 60 : ttl;
    if (seconds > 0) this.results.set(id, record, seconds * 1000);
    else if (seconds < 0) this.results.set(id, record, Infinity);
    if (waiting) for (const resolve of [...waiters]) resolve(record);
  }

  addDlq(rec: Omit<DlqRecord, 'queue' | 'failedAt'>): string {
    const now = this.clock.now();
    const id = this.dlqIds.next(now);
    this.dlq.set(id, { ...rec, queue: this.name, failedAt: now });
    return id;
  }

  /** A trace in the DLQ of a pending entry whose fields are gone, so no job vanishes without one. */
  deadTrace(entry: string, level: string, consumer: string, recordId?: string): void {
    const h = (recordId !== undefined ? this.records.get(recordId)?.h : undefined) ?? `${entry}|||`;
    this.addDlq({
      h, d: '', level, reason: 'malformed', stack: '', attempts: 0, worker: consumer,
      error: `BadJobError: malformed: entry ${entry} was pending but its fields are gone from the stream`,
    });
  }

  /** promote.lua: a due delayed job whose record lost its envelope goes to the DLQ, its record with it. */
  malformedDelayed(id: string, rec: JobRecord | undefined): void {
    this.records.delete(id);
    this.addDlq({
      h: `${id}|||`, d: rec?.d ?? '', level: rec?.level ?? this.levels?.at(-1) ?? '', reason: 'malformed', stack: '', attempts: 0, worker: '',
      error: `BadJobError: malformed: delayed job ${id} came due but its record holds no envelope`,
    });
  }

  /** Tells abort listeners (the workers' pub/sub) that a held job's abort was requested (or, "|pause" / "|resume", that the queue was paused or resumed). */
  /**
   * Delays a job to `at`; one that became the earliest due is announced '|due' (enqueue.lua,
   * retry.lua), waking sleeping schedulers, unless `quiet` (a batch announces once): answers
   * whether it became the earliest.
   */
  delay(id: string, at: number, quiet = false): boolean {
    this.delayed.add(id, at);
    const earliest = this.delayed.first(1)[0]?.id === id;
    if (earliest && !quiet) this.publishAbort('|due');
    return earliest;
  }

  publishAbort(id: string): void {
    const listeners = this.abortListeners.get(this.storage);
    if (!listeners) return;
    // Pub/sub delivers after the script returned, never inside it.
    queueMicrotask(() => {
      for (const fn of [...listeners]) fn(id);
    });
  }
}

/** Everything a memory broker holds: its queues, and what is kept under the prefix. */
export class MemoryState {
  readonly queues = new Map<string, QueueState>();
  /** Queue names used (`<p>:queues`) and the levels registered by defining processes (`<p>:levels`). */
  readonly queueNames = new Set<string>();
  readonly levels = new Map<string, string>();
  readonly schedules = new Map<string, string>();
  /** Workers by their last heartbeat (clock ms), and their registry entries (expiring). */
  readonly beats = new Map<string, number>();
  readonly workerEntries: Expiring<string>;
  readonly documents: Expiring<string>;
  readonly abortListeners = new Map<string, Set<(id: string) => void>>();

  constructor(readonly clock: Clock) {
    this.workerEntries = new Expiring(clock);
    this.documents = new Expiring(clock);
  }

  /** A queue's state by its storage name (a shard's: "hot#3/6"). */
  queue(name: string): QueueState {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new QueueState(name, this.clock, this.abortListeners)));
    return q;
  }
}
