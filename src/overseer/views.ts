// The shapes of the load-test reports and attempts timeline answers (src/overseer/reports.ts,
// src/overseer/timeline.ts): shared by the server and the front end (web/overseer/ imports them
// as types only), so they import nothing heavier than types.

import type { EventType } from '../events.js';
import type { LoadTestReport, Rating } from '../cli/loadTestReport.js';
import type { JobInfo } from '../types.js';

export type { LoadTestReport } from '../cli/loadTestReport.js';

/** A run in short, as GET /api/load-tests lists it. */
export interface LoadTestSummary {
  id: string;
  startedAt: number;
  status: LoadTestReport['status'];
  type: LoadTestReport['config']['type'];
  queue: string;
  n: number;
  sent: number;
  completed: number;
  failed: number;
  pending: number;
  durationMs: number;
  /** Finished jobs per second (0 for a run not waited for). */
  throughput: number;
  workers: number;
  overall: Rating;
}

/** What one attempt came to. */
export type AttemptOutcome =
  | 'running'
  /** Failed, and a retry was scheduled (or is being scheduled). */
  | 'retried'
  | 'completed'
  /** Failed for good (not retried). */
  | 'failed'
  | 'dead'
  | 'aborted'
  /** Started again without an outcome of its own: its worker was lost and the job recovered. */
  | 'interrupted'
  /** No outcome among the events read (the read was partial, or its event was not written). */
  | 'unknown';

export interface AttemptView {
  /** The attempt's number (1 for the first run). */
  attempt: number;
  worker: string | undefined;
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  outcome: AttemptOutcome;
  error: string | undefined;
  /** The retry's delay, when one was scheduled. */
  retryDelayMs?: number;
  /** Why it was dead-lettered (max-tries, timeout, ...). */
  deadReason?: string;
}

/** One of the job's events, as the timeline read it. */
export interface TimelineEvent {
  cursor: string;
  type: EventType;
  at: number;
  attempt?: number;
  worker?: string;
}

export interface TimelineView {
  queue: string;
  id: string;
  status: JobInfo['status'];
  enqueuedAt: number | undefined;
  /** Seen in the events: when the job.enqueued event was read. */
  enqueuedEventAt: number | undefined;
  attempts: AttemptView[];
  events: TimelineEvent[];
  /** Some of the job's events may be missing; `reasons` says why. */
  partial: boolean;
  reasons: string[];
  /** What was read: the window (server ms), the reads made and the events they returned. */
  read: { fromMs: number | undefined; toMs: number; chunks: number; events: number };
}
