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

