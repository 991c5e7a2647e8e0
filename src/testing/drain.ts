// drain(): lets the kit's worker run jobs until its queues are idle, judged after every job
// event the worker emits (no polling): nothing waiting, nothing held or running, nothing due.

import type { QueueRef } from '../broker/types.js';
import type { Worker } from '../worker/worker.js';
import type { AnyApp, TestClock } from './kit.js';

export interface DrainOptions {
  /** Most jobs drain may start before it gives up with a DrainLimitError (default 1,000). */
  maxJobs?: number;
  /** Reject with the error of the first job that fails for good (default true). */
  failFast?: boolean;
  /** Move the manual clock to each next due job (delays, retries) until none is left (default false). */
  advance?: boolean;
}

export interface DrainReport {
  /** Attempts started. */
  started: number;
  completed: number;
  /** Jobs that failed for good (in the DLQ or not). */
  failed: number;
  retried: number;
  aborted: number;
  /** Jobs still delayed after the drain (due later on the clock). */
  delayed: number;
  /** Jobs still waiting after the drain in a queue held (ctx.rateLimit) or rate limited until later on the clock. */
  limited: number;
}

/** drain() started more jobs than its limit and the queues were still not idle. */
export class DrainLimitError extends Error {
  override name = 'DrainLimitError';
  constructor(readonly limit: number) {
    super(`drain started ${limit} jobs and the queues are still not idle (a job that enqueues itself, or a cron on an advancing clock?); raise drain({ maxJobs })`);
  }
}

export class Drain {
  private readonly report: DrainReport = { started: 0, completed: 0, failed: 0, retried: 0, aborted: 0, delayed: 0, limited: 0 };
  private checking = false;
  private again = false;
  private settled = false;

  constructor(
    private readonly app: AnyApp,
    private readonly worker: Worker,
    private readonly queues: QueueRef[],
    private readonly clock: TestClock,
    private readonly options: DrainOptions,
    /** The error a job that failed for good threw, when the kit saw it. */
    private readonly thrown: (id: string) => unknown,
  ) {}

  run(): Promise<DrainReport> {
    const limit = this.options.maxJobs ?? 1000;
    const failFast = this.options.failFast ?? true;
    return new Promise<DrainReport>((resolve, reject) => {
      const offs: (() => void)[] = [];
      const finish = (err?: unknown) => {
        if (this.settled) return;
        this.settled = true;
        for (const off of offs) off();
        if (err === undefined) resolve(this.report);
        else reject(err instanceof Error ? err : new Error(String(err)));
      };
      const check = () => void this.check(finish);
      offs.push(
        this.worker.on('job.started', () => {
          if (++this.report.started > limit) finish(new DrainLimitError(limit));
        }),
        this.worker.on('job.completed', () => {
          this.report.completed++;
          check();
        }),
        this.worker.on('job.retried', () => {
          this.report.retried++;
          check();
        }),
        this.worker.on('job.aborted', () => {
          this.report.aborted++;
          check();
        }),
        this.worker.on('job.failed', (e) => {
          if (e.willRetry) return;
          this.report.failed++;
          if (failFast) void this.failure(e.queue, e.id).then(finish);
          else check();
        }),
        this.worker.on('job.dead', () => check()),
        // The outcome's events come before the job leaves the worker's hands: look again then.
        this.worker.onRelease(check),
      );
      check();
    });
  }

  /** Checks for idleness, once at a time; an event during a check makes it check again after. */
  private async check(finish: (err?: unknown) => void): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.again = false;
        if (this.settled) return;
        const nextDue = await this.idle();
        if (nextDue === undefined) continue;
        if (this.options.advance && nextDue !== Infinity) {
          // Nothing to run now but a job due later: move the clock there (it promotes and wakes).
          await this.clock.advance(Math.max(0, nextDue - this.clock.now()));
          this.again = true;
          continue;
        }
        this.report.delayed = await this.countDelayed();
        this.report.limited = await this.countLimited();
        finish();
        return;
      } while (this.again);
    } catch (err) {
      finish(err);
    } finally {
      this.checking = false;
    }
  }

  /**
   * undefined while something waits, runs or is due now; else when the next delayed job is due
   * (Infinity: none).
   */
  private async idle(): Promise<number | undefined> {
    const stats = this.worker.stats().queues;
    if (Object.values(stats).some((s) => s.held > 0 || s.running > 0)) return undefined;
    let nextDue = Infinity;
    const now = this.clock.now();
    for (const q of this.queues) {
      const counts = await this.app.inspector.counts(q);
      if (counts.active > 0) return undefined;
      if (Object.values(counts.waiting).some((n) => n > 0) || (counts.grouped ?? 0) > 0) {
        // Waiting (in groups too), and held or rate limited: due when the queue (or its first
        // resting group) may deliver again (on the manual clock, which only moves when told);
        // else something to run now.
        const wait = this.limitedFor(q);
        if (wait === 0) return undefined;
        nextDue = Math.min(nextDue, now + wait);
        continue;
      }
      if (counts.delayed === 0) continue;
      for (const d of await this.app.inspector.listJobs(q, 'delayed', 1000)) {
        if (d.dueAt !== undefined && d.dueAt <= now) return undefined;
        if (d.dueAt !== undefined) nextDue = Math.min(nextDue, d.dueAt);
      }
    }
    return nextDue;
  }

  /** The memory broker's wait before the queue may deliver (held, rate limited); 0 elsewhere. */
  private limitedFor(q: QueueRef): number {
    return this.app.broker.limitedFor?.(q) ?? 0;
  }

  private async countLimited(): Promise<number> {
    let n = 0;
    for (const q of this.queues) {
      if (this.limitedFor(q) === 0) continue;
      const counts = await this.app.inspector.counts(q);
      n += Object.values(counts.waiting).reduce((a, b) => a + b, 0) + (counts.grouped ?? 0);
    }
    return n;
  }

  private async countDelayed(): Promise<number> {
    let n = 0;
    for (const q of this.queues) n += (await this.app.inspector.counts(q)).delayed;
    return n;
  }

  /** The error of a job that failed for good: the one its handler threw, else its recorded one. */
  private async failure(queue: string, id: string): Promise<unknown> {
    const thrown = this.thrown(id);
    if (thrown !== undefined) return thrown;
    try {
      await this.app.job(queue, id).result({ timeout: 5000 });
      return new Error(`job ${id} failed`);
    } catch (err) {
      return err;
    }
  }
}
