// What a running job gets: its context object and its abort state. Both are built per job,
// so they are kept cheap: one class instance each, and the AbortController (costly to make)
// only created when the task reads ctx.signal.

import type { Logger } from 'pino';
import type { Broker, QueueRef } from '../broker/types.js';
import { parseDuration } from '../duration.js';
import { ConfigError, RateLimited } from '../errors.js';
import type { JobContext } from '../types.js';
import type { ThreadPool } from './threads.js';

/** Why and whether a running job was aborted; the AbortSignal is made on first use. */
export class AbortState {
  reason: unknown;
  aborted = false;
  private controller: AbortController | undefined;
  private onAbort: ((reason: unknown) => void) | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /** Settles like the promise, or rejects with the abort reason when aborted first. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      // Rejecting after the promise settled does nothing, so no clean-up is needed (one job, one race).
      this.onAbort = reject;
      promise.then(resolve, reject);
    });
  }
}

export interface ContextShared {
  broker: Broker;
  queue: QueueRef;
  log: Logger;
  workerId: string;
  deps: unknown;
  /** The worker's pool for thread tasks. */
  threads?: ThreadPool;
}

export class Context implements JobContext<unknown> {
  private logger: Logger | undefined;

  constructor(
    private readonly shared: ContextShared,
    private readonly abortState: AbortState,
    readonly id: string,
    readonly task: string,
    readonly attempt: number,
    readonly maxTries: number,
    readonly enqueuedAt: number | undefined,
    /** Seconds the job's side records (progress, logs) are kept. */
    private readonly keepSeconds: number,
    /** The job's group (fair groups), if it has one. */
    readonly group: string | undefined = undefined,
  ) {}

  get queue(): string {
    return this.shared.queue.name;
  }

  get signal(): AbortSignal {
    return this.abortState.signal;
  }

  get log(): Logger {
    return (this.logger ??= this.shared.log.child({ job: this.id, task: this.task, attempt: this.attempt }));
  }

  get deps(): unknown {
    return this.shared.deps;
  }

  get workerId(): string {
    return this.shared.workerId;
  }

  /** @internal the worker's thread pool, for thread tasks */
  get threads(): ThreadPool | undefined {
    return this.shared.threads;
  }

  progress(value: unknown): Promise<void> {
    return this.shared.broker.setProgress(this.shared.queue, this.id, JSON.stringify(value ?? null), this.keepMs());
  }

  addLog(line: string): Promise<void> {
    return this.shared.broker.appendLog(this.shared.queue, this.id, `${new Date().toISOString()} ${line}`, 1000, this.keepMs());
  }

  async rateLimit(wait: number | string, options?: { group?: boolean }): Promise<RateLimited> {
    const ms = parseDuration(wait, 'ctx.rateLimit wait');
    if (options?.group) {
      if (this.group === undefined) throw new ConfigError('ctx.rateLimit group', 'a job of a group (this job has none: hold the queue instead)', true);
      await this.shared.broker.holdGroup(this.shared.queue, this.group, ms);
    } else {
      await this.shared.broker.hold(this.shared.queue, ms);
    }
    return new RateLimited(ms);
  }

  /** Progress and logs outlive the job by its result retention (at least a day when results are not kept). */
  private keepMs(): number {
    if (this.keepSeconds < 0) return 365 * 86_400_000;
    return Math.max(this.keepSeconds, 86_400) * 1000;
  }
}
