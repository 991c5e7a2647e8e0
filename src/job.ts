// A handle on one job, usable from any process that knows its queue and id.

import { parseDuration, type Duration } from './duration.js';
import type { AbortOutcome } from './broker/types.js';
import type { JobInfo, JobStatus } from './types.js';

/** The operations a Job handle delegates to (the app's client). */
export interface JobOps {
  status(queue: string, id: string): Promise<JobStatus>;
  info(queue: string, id: string): Promise<JobInfo>;
  result(queue: string, id: string, timeoutMs: number): Promise<unknown>;
  abort(queue: string, id: string): Promise<AbortOutcome>;
  unschedule(queue: string, id: string): Promise<boolean>;
  promote(queue: string, id: string): Promise<boolean>;
  progress(queue: string, id: string): Promise<unknown>;
  logs(queue: string, id: string, start: number, end: number): Promise<string[]>;
}

export class Job<R = unknown> {
  constructor(
    private readonly ops: JobOps,
    readonly queue: string,
    readonly id: string,
    /** False when enqueueing found a job with the same id, which this handle now names. */
    readonly created = true,
  ) {}

  status(): Promise<JobStatus> {
    return this.ops.status(this.queue, this.id);
  }

  info(): Promise<JobInfo> {
    return this.ops.info(this.queue, this.id);
  }

  /**
   * Resolves with the task's return value when the job completes (woken by Redis, not
   * polling); rejects with JobFailedError, JobAbortedError, JobExpiredError, or
   * ResultTimeoutError when no result lands within `timeout` (default 30 s).
   */
  async result(options: { timeout?: Duration } = {}): Promise<R> {
    const timeout = parseDuration(options.timeout ?? 30_000, 'result timeout');
    return (await this.ops.result(this.queue, this.id, timeout)) as R;
  }

  /** Stops the job: removes it if it has not started; aborts its signal if it is running. */
  abort(): Promise<AbortOutcome> {
    return this.ops.abort(this.queue, this.id);
  }

  /** Removes a delayed job (or a scheduled retry) before it becomes ready. */
  unschedule(): Promise<boolean> {
    return this.ops.unschedule(this.queue, this.id);
  }

  /**
   * Makes a delayed job (or a scheduled retry) ready now, at the workers' next look for due jobs
   * (within 250 ms); false when the job is not delayed (ready, running, ended or unknown).
   */
  promote(): Promise<boolean> {
    return this.ops.promote(this.queue, this.id);
  }

  /** The last progress the task reported, or undefined. */
  progress(): Promise<unknown> {
    return this.ops.progress(this.queue, this.id);
  }

  /** The job's log lines (each prefixed with its ISO time), oldest first. */
  logs(options: { start?: number; end?: number } = {}): Promise<string[]> {
    return this.ops.logs(this.queue, this.id, options.start ?? 0, options.end ?? -1);
  }

  toJSON(): { queue: string; id: string } {
    return { queue: this.queue, id: this.id };
  }
}
