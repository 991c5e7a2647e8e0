// The shapes the dashboard's API and live stream send: shared by the server and the front end
// (web/overseer/ imports them as types only).

import type { DeadLetterEntry, JobSummary, WorkerEntry } from '../broker/types.js';
import type { JobInfo } from '../types.js';

export interface QueueView {
  name: string;
  /** Priority levels, highest first. */
  levels: string[];
  /** Jobs ready to run per level. */
  ready: Record<string, number>;
  /** Jobs waiting in fair groups (not in `ready`), at any level. */
  grouped: number;
  /** Every job waiting to run: ready and in groups. */
  readyTotal: number;
  delayed: number;
  running: number;
  dlq: number;
  consumers: number;
  /** Live workers serving the queue. */
  workers: number;
  /** Paused: workers fetch none of its jobs (running ones finish) until it is resumed. */
  paused: boolean;
}

export interface WorkerView extends WorkerEntry {
  /** Ms since the last heartbeat, by the dashboard's clock. */
  heartbeatAgeMs: number;
  /** The heartbeat is older than the dashboard's `staleAfter`. */
  stale: boolean;
}

export interface JobRow {
  id: string;
  state: JobSummary['state'];
  priority: string | undefined;
  task: string | undefined;
  attempt: number | undefined;
  dueAt: number | undefined;
  worker: string | undefined;
  finishedAt: number | undefined;
}

export interface JobPage {
  jobs: JobRow[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  next?: string;
}

export interface JobDetail extends Omit<JobInfo, 'args'> {
  args: unknown;
  progress: unknown;
  logs: string[];
}

/** A dead letter as shown: its arguments decoded (and redacted), its priority by name. */
export interface DeadLetterView extends Omit<DeadLetterEntry, 'level' | 'header' | 'data'> {
  priority: string | undefined;
  args: unknown;
  /** The payload could not be decoded. */
  undecodable?: boolean;
}

export interface Series {
  /** Epoch seconds of the first point; one point per second after it. */
  start: number;
  completed: number[];
  failed: number[];
}

export interface QueueLive extends QueueView {
  completedPerMin: number;
  failedPerMin: number;
  /** Median pickup latency over the last minute, when jobs started in it. */
  pickupP50Ms: number | undefined;
}

export interface Snapshot {
  at: number;
  /** Counts the snapshots this process computed. */
  seq: number;
  queues: QueueLive[];
  workers: WorkerView[];
  throughput: Series;
}


/** What a search can ask for: a job's state, or 'dead' for the dead-letter queue. */
export type SearchStatus = JobSummary['state'] | 'dead';

export interface SearchHit {
  queue: string;
  id: string;
  state: SearchStatus;
  task?: string;
  attempt?: number;
  /** Enqueued (waiting, running), due (delayed), failed (dead) or finished (ended), epoch ms. */
  at?: number;
  /** Dead letters: the entry's id, for its page and actions. */
  dlqId?: string;
  reason?: string;
  /** The text around the match in the arguments or error. */
  snippet?: string;
}

/** One line of a search's NDJSON stream. */
export type SearchMessage =
  | { type: 'start'; /** About how many entries it will read (ended jobs not counted). */ total: number }
  | { type: 'match'; hit: SearchHit }
  | { type: 'progress'; scanned: number; matched: number; queue: string; place: string; ms: number }
  | { type: 'done'; scanned: number; matched: number; ms: number; ended: 'complete' | 'cancelled' | 'limit' }
  | { type: 'error'; message: string };
