// The narrow interfaces between the runtime and Redis: the Broker (what clients and workers
// need to move jobs) and the Inspector (what the CLI and dashboard need to look at queues).
// Nothing above this layer sees a Redis client or a key name.

/** A queue as the broker sees it: its name and its priority levels, lowest first. */
export interface QueueRef {
  readonly name: string;
  readonly levels: readonly string[];
}

export interface EnqueueItem {
  /** Index into the queue's levels, lowest priority = 0. */
  level: number;
  /** Custom id, or '' for an auto id. */
  id: string;
  /** Header without id: "task|attempt|sig|opts". */
  tail: string;
  data: string | Buffer;
  /** Due time: undefined now, { delay } ms after server time, or { at } epoch ms. */
  due?: { delay: number } | { at: number };
}

export interface EnqueueOutcome {
  id: string;
  created: boolean;
}

/** One job delivered to a worker. `entry` and `token` are its lease (fencing token). */
export interface Delivery {
  /** Index into the queue's levels, lowest priority = 0. */
  level: number;
  entry: string;
  token: string;
  header: string | Buffer | undefined;
  data: string | Buffer | undefined;
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

export interface BlockingReader {
  read(count: number, blockMs: number): Promise<Delivery[]>;
  /** Makes a read in progress return at once. */
  interrupt(): Promise<void>;
  close(): Promise<void>;
}

export interface Broker {
  registerQueue(queue: QueueRef): Promise<void>;
  ensureGroups(queue: QueueRef): Promise<void>;
  enqueue(queue: QueueRef, items: EnqueueItem[]): Promise<EnqueueOutcome[]>;
  fetch(queue: QueueRef, consumer: string, count: number): Promise<Delivery[]>;
  blockingReader(queue: QueueRef, consumer: string): BlockingReader;
  complete(queue: QueueRef, consumer: string, items: Completion[]): Promise<boolean[]>;
  retry(queue: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string): Promise<boolean>;
  deadLetter(queue: QueueRef, consumer: string, item: DeadLetter): Promise<boolean>;
  take(queue: QueueRef, consumer: string, lease: HeldLease): Promise<boolean>;
  requeue(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<number>;
  touch(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<{ lost: string[]; abort: string[] }>;
  reclaim(queue: QueueRef, consumer: string, opts: { minIdleMs: number; count: number; maxRecoveries: number; ttl: number }): Promise<{ claimed: Delivery[]; dead: string[] }>;
  promote(queue: QueueRef, count: number): Promise<{ moved: number; nextDueMs: number }>;
  abort(queue: QueueRef, id: string, record: string | Buffer, ttl: number): Promise<AbortOutcome>;
  unschedule(queue: QueueRef, id: string): Promise<boolean>;
  locate(queue: QueueRef, id: string): Promise<Location>;
  getResult(queue: QueueRef, id: string): Promise<string | Buffer | null>;
  /** Resolves with the result record when it lands, or null after timeoutMs; no polling. */
  waitForResult(queue: QueueRef, id: string, timeoutMs: number): Promise<string | Buffer | null>;
  /** Calls onAbort with the id of every job whose abort is requested in these queues. */
  onAbort(queues: QueueRef[], onAbort: (queue: string, id: string) => void): Promise<() => Promise<void>>;
  /** Server time in epoch ms. */
  time(): Promise<number>;
  close(): Promise<void>;
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
  delayed: number;
  active: number;
  dlq: number;
  consumers: number;
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

export interface Inspector {
  queueNames(): Promise<string[]>;
  counts(queue: QueueRef): Promise<QueueCounts>;
  listJobs(queue: QueueRef, state: JobSummary['state'], limit: number): Promise<JobSummary[]>;
  dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]>;
  dlqGet(queue: QueueRef, dlqId: string): Promise<DeadLetterEntry | null>;
  dlqCount(queue: QueueRef): Promise<number>;
  dlqReplay(queue: QueueRef, dlqIds: string[] | 'all', resetAttempts: boolean): Promise<string[]>;
  dlqDelete(queue: QueueRef, dlqIds: string[]): Promise<number>;
  dlqPurge(queue: QueueRef): Promise<number>;
}
