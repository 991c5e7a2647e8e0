// The narrow interfaces between the runtime and Redis: the Broker (what clients and workers
// need to move jobs) and the Inspector (what the CLI and dashboard need to look at queues).
// Nothing above this layer sees a Redis client or a key name.

import type { MillraceEvent } from '../events.js';
import type { Clock } from '../memory/clock.js';
import type { EndedTotals, ThroughputHistory } from './history.js';
import type { WorkflowStore } from './workflows.js';

export type { EndedTotals, ThroughputHistory } from './history.js';

/**
 * A queue as the broker sees it: its name and its priority levels, lowest first. A sharded
 * queue (`shards` > 1) is stored as that many sub-queues; a ref with `shard` addresses one of
 * them (its keys), under the queue's own name (which its jobs, events and records carry).
 * Brokers take shard refs; src/shards/ routes the queue's own ref to its shards.
 */
export interface QueueRef {
  readonly name: string;
  readonly levels: readonly string[];
  /** Seconds the queue keeps results (for records written on its jobs' behalf), when known. */
  readonly resultTtl?: number;
  /** How many shards the queue is stored as (absent: 1, not sharded). */
  readonly shards?: number;
  /** Which shard this ref addresses, 0 to shards - 1 (absent: the queue itself). */
  readonly shard?: number;
  /** Jobs of the queue held at once by all workers together, at most (absent or 0: no cap). */
  readonly globalConcurrency?: number;
  /** Jobs of the queue delivered at most `max` per `perMs` over all workers (absent: no limit). */
  readonly rateLimit?: { readonly max: number; readonly perMs: number };
  /**
   * A grouped queue (fair groups): jobs enqueued with a group wait in it, and a fetch serves the
   * groups with jobs round robin, one job per group per turn, each group within these limits
   * (docs/flow-control.md#fair-groups). Absent: a fetch still serves groups, without limits,
   * but waits for jobs only on the ready streams.
   */
  readonly groups?: GroupLimits;
}

/** What bounds each group of a grouped queue, over all workers together. */
export interface GroupLimits {
  /** Jobs of one group held at once (fetched, running), at most; absent or 0: no cap. */
  readonly concurrency?: number;
  /** Jobs of one group delivered at most `max` per `perMs`; absent: no limit. */
  readonly rateLimit?: { readonly max: number; readonly perMs: number };
}

/**
 * A group's own limits over the queue's `groups` ones: a field absent keeps the queue's, null
 * means none for this group.
 */
export interface GroupOverride {
  concurrency?: number | null;
  rateLimit?: { readonly max: number; readonly perMs: number } | null;
  /** Jobs of the group served per turn of the ring (default 1): a weight-3 group gets 3 of 4 beside one of weight 1. */
  weight?: number;
}

/** A group of a grouped queue, as the inspector lists it. */
export interface GroupSummary {
  key: string;
  /** Its jobs waiting in the group (not yet served). */
  waiting: number;
  paused: boolean;
  /** Its own limits, when it has some (Broker.setGroupLimits). */
  limits?: GroupOverride;
}

/** What a queue's defining process registered: its levels (lowest first) and shard count. */
export interface QueueShape {
  levels: string[];
  shards: number;
}

export interface EnqueueItem {
  /** Index into the queue's levels, lowest priority = 0. */
  level: number;
  /** Custom id, or '' for an auto id. */
  id: string;
  task: string;
  /** Header "id|task|attempt|sig|opts", its id and task parts the same as `id` and `task`. */
  header: string;
  data: string | Buffer;
  /** Due time: undefined now, { delay } ms after server time, or { at } epoch ms. */
  due?: { delay: number } | { at: number };
  /**
   * Its group (fair groups): the job waits in the group until a fetch serves the group's turn.
   * The header's options carry it too (`g`), so a retry or a replay goes back to the group.
   */
  group?: string;
}

export interface EnqueueOutcome {
  id: string;
  created: boolean;
}

/**
 * What a write waits for before it counts as done (see docs/topologies.md#durable-enqueue):
 * `replicas` replicas acknowledging it (WAIT), or with `aof` its fsync to the append-only file
 * (WAITAOF, Redis 7.2+), within `timeoutMs`.
 */
export interface Durability {
  readonly replicas: number;
  readonly timeoutMs: number;
  /** false: WAIT; true: WAITAOF 1 replicas (the master's and the replicas' files); 'local': WAITAOF 1 0 (the master's), and WAIT when replicas > 0. */
  readonly aof: boolean | 'local';
  /** The worker's outcome writes (completion, retry, dead letter) wait too (a queue's or app's option). */
  readonly outcomes: boolean;
  /** The same settings give the same key: writes that wait alike share one WAIT. */
  readonly key: string;
}

/** Why writes could not be confirmed durable (they were made). */
export interface DurabilityShortfall {
  /** Replicas that acknowledged; undefined when no answer came (an error, a lost connection). */
  acknowledged: number | undefined;
  /** "0 of 1 replicas acknowledged within 100 ms", "the server does not know WAITAOF ...". */
  reason: string;
  cause?: unknown;
}

/** Durable outcome writes: what they wait for, and who hears of one that could not be confirmed (it stands). */
export interface DurableWrites {
  readonly durability: Durability;
  unconfirmed(jobIds: string[], shortfall: DurabilityShortfall): void;
}

/** One job delivered to a worker. `entry` and `token` are its lease (fencing token). */
export interface Delivery {
  /** Index into the queue's levels, lowest priority = 0. */
  level: number;
  entry: string;
  token: string;
  header: string | Buffer | undefined;
  data: string | Buffer | undefined;
  /** Worker deaths the job has seen (reclaims, and hand-backs' field r); absent means 0. */
  deaths?: number;
}

export interface Completion {
  delivery: Delivery;
  id: string;
  record: string | Buffer;
  /** Seconds to keep the record: -1 forever, 0 not kept. */
  ttl: number;
  hasRecord: boolean;
  abortRequested: boolean;
}

export interface DeadLetter {
  delivery: Delivery;
  id: string;
  reason: string;
  error: string;
  stack: string;
  attempts: number;
  worker: string;
  record: string | Buffer;
  ttl: number;
  useDlq: boolean;
}

export interface HeldLease {
  delivery: Delivery;
  id: string;
}

export type AbortOutcome = 'aborted' | 'aborting' | 'finished' | 'not_found';

export type RetryOutcome = 'scheduled' | 'refused' | 'aborted';

export interface ReclaimOptions {
  minIdleMs: number;
  count: number;
  maxRecoveries: number;
  /** Seconds to keep the records of jobs that end here (poison, aborted). */
  ttl: number;
  suspectAt?: number;
  suspectMinIdleMs?: number;
  /** The caller's own idle entries it does not hold: claim them like others'. */
  orphans?: { level: number; entry: string }[];
  /**
   * Server ms the caller's process started: an orphan delivered after it was never received
   * (a lost reply) and is claimed without counting a death; one delivered before is a former
   * process's (same id) and counts.
   */
  since?: number;
}

export interface ReclaimOutcome {
  claimed: Delivery[];
  /** Ids of poison jobs dead-lettered. */
  dead: string[];
  /** The caller's own entries idle for half the idle timeout or more (level, entry, idle), not claimed. */
  own: { level: number; entry: string; idleMs: number }[];
  /** Workflow nodes' jobs ended by the broker itself, waiting to be settled in their workflows (Broker.nodeNotes); absent: none. */
  notes?: number;
}

/**
 * A workflow node's job that ended where no worker settled it in its workflow (or, under '@' +
 * its id, a job a workflow watches, that ended) (aborted while
 * waiting, dead-lettered as poison by a reclaim, interrupted at most once, aborted on a hand-back):
 * its id and its outcome record's first line ("status|{meta}", the meta holding its place `w`).
 */
export interface NodeNote {
  id: string;
  /** The record's first line; for a watched job, the places, a newline and its whole record (bytes, with a binary serializer). */
  meta: string | Buffer;
}

export interface Location {
  state: 'delayed' | 'waiting' | 'active' | 'ended' | 'unknown';
  level: number;
  entry: string;
  owner: string;
  deliveries: number;
  idleMs: number;
  record: Record<string, string>;
  result: string | Buffer | null;
  dueAt: number | null;
  abortRequested: boolean;
  /** The job's envelope, when it is still waiting, active or delayed. */
  header: string | Buffer | undefined;
  data: string | Buffer | undefined;
}

/**
 * What a fetch got: the deliveries, and `paused` set when the queue is paused (nothing was
 * delivered; the fetcher stops until it is resumed).
 */
/**
 * What a fetch delivered; none, and why, when the queue is paused, held or rate limited
 * (`limitedMs`: ask again in that long), or has a global concurrency cap and no permit is left
 * (`capped`), or has a cap or a rate limit and nothing to deliver (`after`: where each of its
 * streams ends, for the blocking read).
 */
export type Fetched = Delivery[] & { paused?: true; capped?: true; after?: string[]; limitedMs?: number };

export interface BlockingReader {
  /**
   * Delivers up to `count` new entries, waiting up to `blockMs` for some. With `after` (a
   * capped queue: a fetch gave it), it waits for entries past those positions and then fetches
   * as `Broker.fetch` does, within the cap: it may then deliver nothing.
   */
  read(count: number, blockMs: number, after?: string[]): Promise<Delivery[]>;
  /** Makes a read in progress return at once. */
  interrupt(): Promise<void>;
  close(): Promise<void>;
}

/** An event as read back from a queue's event stream; `cursor` is its position there. */
export interface StoredEvent {
  /** The queue's name, or "<queue>#<shard>/<shards>" for a shard of a sharded queue (the key of its cursor). */
  queue: string;
  cursor: string;
  event: MillraceEvent;
}

export interface EventReader {
  /**
   * Events after each queue's cursor ('0-0' from the start, '$' from now), at most `count`
   * per queue; waits up to blockMs for the first when given.
   */
  read(cursors: Record<string, string>, count: number, blockMs?: number): Promise<StoredEvent[]>;
  /** The cursor of each queue's newest event ('0-0' when there is none). */
  latest(queues: string[]): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** What a worker counts for each queue it serves (and over all of them). */
export interface JobCounters {
  /** Jobs running now. */
  running: number;
  /** Jobs held: running, prefetched, or having their outcome recorded. */
  held: number;
  processed: number;
  completed: number;
  failed: number;
  retried: number;
  aborted: number;
  deadLettered: number;
  /** Outcomes written but not confirmed durable (a queue's `durability.outcomes`); they stand. */
  notDurable?: number;
}

/** A worker's registry entry, written with every heartbeat. */
export interface WorkerEntry extends JobCounters {
  id: string;
  hostname: string;
  pid: number;
  queues: string[];
  /** Jobs the worker may run at once, over all its queues. */
  concurrency: number;
  startedAt: number;
  heartbeatAt: number;
  uptimeMs: number;
  version: string;
  /** ENVIRONMENT of the worker's process, when set. */
  environment?: string;
}

export interface Broker {
  /** Where workflows keep their records (src/workflow/). */
  readonly workflows: WorkflowStore;
  /** The clock of the broker's times, which the worker's timers then read too (a memory broker's); absent: the host's. */
  readonly clock?: Clock;
  /** Records the queue's name, and its priority levels when this process defines it. */
  registerQueue(queue: QueueRef, defines: boolean): Promise<void>;
  /** The levels and shard count a defining process registered for a queue, if any. */
  queueShape(queue: string): Promise<QueueShape | undefined>;
  ensureGroups(queue: QueueRef): Promise<void>;
  /**
   * Adds jobs; with `cron`, only if that schedule has not enqueued this tick or a later one.
   * With `durability`, answers once it is confirmed, and rejects with a NotDurableError (the
   * jobs were written) when it cannot be.
   */
  enqueue(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }, durability?: Durability): Promise<EnqueueOutcome[]>;
  /** One job: the same as enqueue(queue, [item]), answered with its outcome. */
  enqueueOne(queue: QueueRef, item: EnqueueItem, durability?: Durability): Promise<EnqueueOutcome>;
  /** Delivers new entries, highest priority first; none, marked `paused`, while the queue is paused. */
  fetch(queue: QueueRef, consumer: string, count: number): Promise<Fetched>;
  blockingReader(queue: QueueRef, consumer: string): BlockingReader;
  /** Outcome writes with `durable` wait for its durability; one not confirmed is reported to it and stands (never a rejection). */
  complete(queue: QueueRef, consumer: string, items: Completion[], durable?: DurableWrites): Promise<boolean[]>;
  /**
   * Schedules a failed attempt's next one, unless the lease was lost ('refused') or an abort was
   * asked for meanwhile: then the job ends aborted with `ifAborted.record` ('aborted').
   */
  retry(queue: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string, ifAborted: { record: string | Buffer; ttl: number }, durable?: DurableWrites): Promise<RetryOutcome>;
  deadLetter(queue: QueueRef, consumer: string, item: DeadLetter, durable?: DurableWrites): Promise<boolean>;
  /** Takes an at-most-once job off its stream before it runs; true also when this consumer already took it (a call sent again). */
  take(queue: QueueRef, consumer: string, lease: HeldLease): Promise<boolean>;
  /** Hands jobs back as new entries (no attempt spent); one whose abort was asked for ends aborted, its record kept `ttl` seconds. */
  requeue(queue: QueueRef, consumer: string, leases: HeldLease[], ttl: number): Promise<number>;
  touch(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<{ lost: string[]; abort: string[] }>;
  /**
   * Claims expired leases of other consumers (poison ones go to the DLQ, aborted ones end). A
   * suspect (deaths >= suspectAt) is claimed alone, at most one per call, once idle for
   * suspectMinIdleMs. The caller's own entries idle for half minIdleMs are listed in `own`, not
   * claimed, unless named in `orphans` (entries the caller does not hold): those are claimed
   * whatever `count` says.
   */
  reclaim(queue: QueueRef, consumer: string, opts: ReclaimOptions): Promise<ReclaimOutcome>;
  /** Now on the Redis server's clock: the local clock corrected by an offset measured with TIME (and each heartbeat). */
  serverNow(): Promise<number>;
  promote(queue: QueueRef, count: number): Promise<{ moved: number; nextDueMs: number }>;
  /** Up to about `count` notes of workflow nodes' jobs the broker ended (ReclaimOutcome.notes says how many wait). */
  nodeNotes(queue: QueueRef, count: number): Promise<NodeNote[]>;
  /** Removes notes once their nodes are settled in their workflows, each only if it is still as it was read. */
  dropNodeNotes(queue: QueueRef, notes: NodeNote[]): Promise<void>;
  /**
   * A workflow waits on an existing job (after()): answers its outcome record when it ended,
   * and unless it completed watches it in the same step, so its ending (again, after a replay) is noted (a note '@' + id: the places
   * waiting, a newline, its record; Broker.nodeNotes).
   */
  watchJob(queue: QueueRef, id: string, place: readonly [string, number, number]): Promise<string | Buffer | null>;
  abort(queue: QueueRef, id: string, record: string | Buffer, ttl: number): Promise<AbortOutcome>;
  unschedule(queue: QueueRef, id: string): Promise<boolean>;
  /** Makes a delayed job (or a scheduled retry) due now: the next promotion makes it ready. false when it is not delayed. */
  promoteJob(queue: QueueRef, id: string): Promise<boolean>;
  locate(queue: QueueRef, id: string): Promise<Location>;
  getResult(queue: QueueRef, id: string): Promise<string | Buffer | null>;
  /**
   * Resolves with the result record when it lands, null after timeoutMs, or 'not_found' at once
   * when no such job exists (never enqueued, or its result expired); no polling.
   */
  waitForResult(queue: QueueRef, id: string, timeoutMs: number): Promise<string | Buffer | null | 'not_found'>;
  /**
   * Calls onAbort with the id of every job whose abort is requested in these queues, onPause
   * when one is paused or resumed (with the ref given, a shard's for a shard), onHold when one
   * is held (Broker.hold), onDue when a delayed job became its earliest due (enqueued, retried
   * later or promoted now), and onResync when notifications may have been missed (the subscriber
   * connection came back).
   */
  onAbort(
    queues: QueueRef[], onAbort: (queue: string, id: string) => void, onResync?: () => void, onPause?: (queue: QueueRef, paused: boolean) => void,
    onHold?: (queue: QueueRef) => void, onDue?: (queue: QueueRef) => void,
  ): Promise<() => Promise<void>>;
  /** Holds a queue for `ms` (a longer hold stands): fetches deliver nothing until then; tells its workers. Kept in Redis. */
  hold(queue: QueueRef, ms: number): Promise<void>;
  /** How long the queue is still held, in ms (0: not held). */
  heldFor(queue: QueueRef): Promise<number>;
  /**
   * On a broker of its own clock (the memory broker's manual clock): how long until a fetch of
   * the queue could deliver, held or rate limited (0: now). The test kit's drain advances the
   * clock by it. Absent on Redis.
   */
  limitedFor?(queue: QueueRef): number;
  /** Pauses (workers stop fetching; running jobs go on) or resumes a queue, and tells its workers. Kept in Redis. */
  setPaused(queue: QueueRef, paused: boolean): Promise<void>;
  /** Pauses or resumes one group of a queue: a paused group's jobs wait, the other groups are served. */
  setGroupPaused(queue: QueueRef, group: string, paused: boolean): Promise<void>;
  /**
   * Holds one group for `ms` (ctx.rateLimit for a group): no fetch serves it until then (a
   * longer hold already set stands).
   */
  holdGroup(queue: QueueRef, group: string, ms: number): Promise<void>;
  /**
   * Gives one group limits of its own over the queue's (a VIP tenant's larger cap), or takes
   * them away (undefined); every worker applies them from its next fetch.
   */
  setGroupLimits(queue: QueueRef, group: string, limits: GroupOverride | undefined): Promise<void>;
  isPaused(queue: QueueRef): Promise<boolean>;
  /** Server time in epoch ms. */
  time(): Promise<number>;
  /** Appends events to the queue's capped event stream (no-op when events are off). */
  /** Appends a batch of events; `worker` is the writing worker, named once for its job events. */
  publishEvents(queue: QueueRef, events: MillraceEvent[], worker: string): Promise<void>;
  /** A reader of event streams on its own connection (it may block). */
  eventReader(): EventReader;
  saveSchedule(name: string, definition: string): Promise<void>;
  /** Removes a cron schedule and its tick record; false when there was none. */
  deleteSchedule(name: string, queue: QueueRef): Promise<boolean>;
  /** Calls fn after a schedule was saved or deleted, where the broker can tell (the memory broker); returns the unsubscribe. */
  onSchedulesChanged?(fn: () => void): () => void;
  /** Cron schedules by name (definitions as JSON). */
  schedules(): Promise<Record<string, string>>;
  setProgress(queue: QueueRef, id: string, progress: string, ttlMs: number): Promise<void>;
  getProgress(queue: QueueRef, id: string): Promise<string | null>;
  /** Appends a job log line, keeping the last maxLines. */
  appendLog(queue: QueueRef, id: string, line: string, maxLines: number, ttlMs: number): Promise<void>;
  getLogs(queue: QueueRef, id: string, start: number, end: number): Promise<string[]>;
  /**
   * Writes a worker's registry entry and its per-queue health records, all expiring after ttlMs;
   * with `ended`, adds what the worker ended on the queue since its last beat to the queue's
   * throughput history (src/broker/history.ts).
   */
  heartbeat(entry: WorkerEntry, ttlMs: number, health: { queue: QueueRef; record: string; ended?: EndedTotals }[]): Promise<void>;
  /** Removes a stopped worker's registry entry and health records. */
  removeWorker(workerId: string, queues: QueueRef[]): Promise<void>;
  /** Round-trip time of a PING in ms; rejects when Redis does not answer. */
  ping(): Promise<number>;
  /** Redis' maxmemory-policy, or undefined when it cannot be read (CONFIG disabled). */
  evictionPolicy?(): Promise<string | undefined>;
  /** Stores a small JSON document (e.g. a load-test report) under `<prefix>:<kind>:<id>` for ttlMs. */
  saveDocument(kind: string, id: string, json: string, ttlMs: number): Promise<void>;
  /** A document saveDocument stored, or null when there is none (or it expired). */
  loadDocument(kind: string, id: string): Promise<string | null>;
  /**
   * The newest `limit` documents of a kind still kept, the last saved first (a document saved
   * again counts from then). Kept in an index per kind that each save prunes of the entries
   * older than its ttl: documents of one kind are meant to share their ttl.
   */
  listDocuments(kind: string, limit: number): Promise<StoredDocument[]>;
  close(): Promise<void>;
}

/** A document as listDocuments answers it. */
export interface StoredDocument {
  id: string;
  json: string;
}

export interface DeadLetterEntry {
  dlqId: string;
  id: string;
  task: string;
  queue: string;
  level: number;
  reason: string;
  error: string;
  stack: string;
  attempts: number;
  worker: string;
  failedAt: number;
  header: string;
  data: string | Buffer;
}

export interface QueueCounts {
  /** Waiting (not yet delivered) per priority level name. */
  waiting: Record<string, number>;
  /** Waiting in groups (fair groups), at any level; not in `waiting`. Absent when none. */
  grouped?: number;
  delayed: number;
  active: number;
  dlq: number;
  consumers: number;
  /** Paused: workers fetch none of its jobs (see Broker.setPaused). */
  paused?: boolean;
  /** Of a sharded queue: each shard's counts, in shard order (the fields above are their sums). */
  shards?: QueueCounts[];
}

export interface JobSummary {
  id: string;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'aborted' | 'expired';
  level: number;
  header?: string;
  owner?: string;
  dueAt?: number;
  result?: string | Buffer;
}

/** Where a scan walks a queue's jobs: its ready streams (waiting and running jobs), its delayed set, or the kept results of ended jobs. */
export type ScanPlace = 'ready' | 'delayed' | 'ended';

/** A job met by a scan: its summary and, where the place keeps them, its serialized arguments and a time. */
export interface ScannedJob extends JobSummary {
  /** Serialized arguments (ready and delayed jobs). */
  data?: string | Buffer;
  /** Enqueued (ready), due (delayed) or finished (ended), epoch ms, when known. */
  at?: number;
  /** A ready job's stream entry id. */
  entry?: string;
}

/** One chunk of a scan: the jobs met, how many entries were read, and the cursor to go on from (undefined: the end). */
export interface ScanChunk {
  jobs: ScannedJob[];
  scanned: number;
  cursor?: string;
}

export interface StaleCleanup {
  /** Workers removed (registry entries and consumers). */
  workers: string[];
  /** Jobs handed back to their queue. */
  jobs: number;
  /** At-most-once jobs those workers had taken, now dead-lettered with reason 'interrupted'. */
  interrupted: string[];
}

export interface Inspector {
  queueNames(): Promise<string[]>;
  /** Workers whose heartbeat has not expired. */
  workers(): Promise<WorkerEntry[]>;
  /**
   * Removes workers (and consumers of the queues) silent for longer than staleMs, handing
   * their pending jobs straight back to the queue.
   */
  cleanupStaleWorkers(staleMs: number, queues: QueueRef[]): Promise<StaleCleanup>;
  counts(queue: QueueRef): Promise<QueueCounts>;
  /** The queue's groups with jobs waiting, or paused, up to `limit`, by key. */
  groups(queue: QueueRef, limit: number): Promise<GroupSummary[]>;
  listJobs(queue: QueueRef, state: JobSummary['state'], limit: number): Promise<JobSummary[]>;
  dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]>;
  dlqGet(queue: QueueRef, dlqId: string): Promise<DeadLetterEntry | null>;
  dlqCount(queue: QueueRef): Promise<number>;
  dlqReplay(queue: QueueRef, dlqIds: string[] | 'all', resetAttempts: boolean): Promise<string[]>;
  dlqDelete(queue: QueueRef, dlqIds: string[]): Promise<number>;
  dlqPurge(queue: QueueRef): Promise<number>;
  /**
   * Jobs of the queue ended per minute (completed, failed for good) over [fromMs, toMs), whole
   * UTC minutes, as workers' heartbeats recorded them (kept 8 days; a range of 8 days at most):
   * one read per day, never per job. A sharded queue's shards are summed.
   */
  throughput(queue: QueueRef, fromMs: number, toMs: number): Promise<ThroughputHistory>;
  /**
   * About `count` entries of one place of a queue after `cursor` (undefined: from the start),
   * for scans that must never hold Redis long (search, bulk actions, newest-first pages): one
   * bounded read per call. Ready jobs come highest priority first, oldest first within a level,
   * or newest first with `newest`; ended jobs in no particular order. A cursor is opaque and
   * stays valid while jobs come and go (a job may then be met twice or not at all).
   */
  scanJobs(queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): Promise<ScanChunk>;
}
