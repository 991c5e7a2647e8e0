// Public types shared by the client, the worker and task code.

import type { Logger } from 'pino';
import type { RateLimited } from './errors.js';

export type { Logger };

/** What a task receives as its first argument. */
export interface JobContext<D = unknown> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxTries: number;
  /** Aborted at the timeout, on job.abort() from any process, when the lease is lost, or at shutdown. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** The lifespan's dependencies. */
  readonly deps: D;
  /** Epoch ms the job was enqueued, when known. */
  readonly enqueuedAt: number | undefined;
  readonly workerId: string;
  /** Records the job's progress (a number like 0-100, or any JSON value); readable by id. */
  progress(value: unknown): Promise<void>;
  /** Appends a line to the job's log (the last 1,000 are kept); readable by id. */
  addLog(line: string): Promise<void>;
  /**
   * An upstream said "too many requests": holds this queue for every worker for `wait` (ms or a
   * duration like '30s'; a longer hold already set stands), and answers the error to throw, so
   * this job runs again after the wait without spending an attempt:
   * `if (res.status === 429) throw await ctx.rateLimit('30s')`. With `{ group: true }` it holds
   * only this job's group (fair groups): the queue's other groups go on. See docs/flow-control.md.
   */
  rateLimit(wait: number | string, options?: { group?: boolean }): Promise<RateLimited>;
  /** The job's group (fair groups: docs/flow-control.md#fair-groups), if it has one. */
  readonly group: string | undefined;
}

export type Handler<D, A extends unknown[], R> = (ctx: JobContext<D>, ...args: A) => R | Promise<R>;

export type JobStatus = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'aborted' | 'expired' | 'unknown';

export interface JobError {
  name: string;
  message: string;
  stack?: string;
  reason?: string;
}

export interface JobInfo {
  id: string;
  queue: string;
  status: JobStatus;
  task: string | undefined;
  args: unknown[] | undefined;
  priority: string | undefined;
  /** Attempts spent so far (finished ones). */
  attempts: number;
  enqueuedAt: number | undefined;
  /** When a delayed job or a retry becomes ready. */
  dueAt: number | undefined;
  /** The worker holding an active job. */
  worker: string | undefined;
  /** Times an active job was delivered (more than 1 after recoveries). */
  deliveries: number;
  abortRequested: boolean;
  /** The last failed attempt's error, while the job is being retried. */
  lastError: string | undefined;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  result: unknown;
  error: JobError | undefined;
}

/** A job about to be enqueued, as enqueue middleware sees it (and may change it). */
export interface OutgoingJob {
  queue: string;
  task: string;
  args: unknown[];
  options: import('./options.js').EnqueueOptions;
  /** @internal A workflow node's place ([workflow, stage, node]): set by src/workflow only. */
  workflow?: readonly [string, number, number];
}

export interface Middleware<D = unknown> {
  /** Runs around each job's execution; call next() to run the task. */
  execute?(ctx: JobContext<D>, next: () => Promise<unknown>): Promise<unknown>;
  /** Runs around each enqueue call (single or bulk); call next(jobs) to send them. */
  enqueue?(jobs: OutgoingJob[], next: (jobs: OutgoingJob[]) => Promise<string[]>): Promise<string[]>;
}
