// The writes a job's life depends on (taking it, recording its outcome, handing it back) are
// retried until Redis takes them: a failover's READONLY, a restart's LOADING, a full Redis or a
// connection down for longer than the client's own retries must neither lose the outcome nor
// kill the worker. A write is given up only when the job is no longer this worker's (its lease
// was lost) or when a stopping worker's time for writes is over; the job then stays pending in
// Redis and runs again after the idle timeout, as after a crash.

import type { Logger } from 'pino';

/** What `write()` answers when it gave up. */
export const GAVE_UP: unique symbol = Symbol('gave up');

/** A failed write is tried again after this long at first, doubling up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2000;
/** Failing writes are logged at most this often (each kind), not once per try. */
const WARN_EVERY_MS = 5000;

export class Persistence {
  private deadline = Infinity;
  private overTimer: NodeJS.Timeout | undefined;
  /** Called when the time for writes is over. */
  private readonly onOver = new Set<() => void>();
  private readonly warnedAt = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  /** Writes are retried until `at` (epoch ms) at most: a stopping worker's time for them. */
  giveUpAt(at: number): void {
    if (at >= this.deadline) return;
    this.deadline = at;
    clearTimeout(this.overTimer);
    this.overTimer = setTimeout(() => {
      for (const fire of [...this.onOver]) fire();
    }, Math.max(0, at - Date.now()));
    // It only ends writes still being retried, which keep the process alive themselves: a
    // stopped worker must not hold its process for the rest of the grace period.
    this.overTimer.unref();
  }

  /** Whether the time for writes is over. */
  get over(): boolean {
    return Date.now() >= this.deadline;
  }

  /**
   * Runs `fn` until it resolves; after a failure, waits and tries again while `stillMine()`
   * and the time for writes lasts. Never rejects: answers GAVE_UP instead.
   */
  async write<T>(what: string, stillMine: () => boolean, fn: () => Promise<T>): Promise<T | typeof GAVE_UP> {
    for (let failures = 0; ; failures++) {
      let err: unknown;
      try {
        const out = await this.race(fn());
        if (out !== GAVE_UP) {
          if (failures > 0) this.log.info({ what, failures }, `${what}: written after ${failures} failed tries`);
          return out;
        }
      } catch (e) {
        err = e;
      }
      if (!stillMine() || this.over) {
        if (this.over) this.log.warn({ err, what }, `${what}: giving up at the end of the stop's time for writes; the job stays pending in Redis and runs again after the idle timeout`);
        return GAVE_UP;
      }
      this.warn(what, err, failures);
      await this.sleep(Math.min(FIRST_BACKOFF_MS * 2 ** failures, MAX_BACKOFF_MS));
    }
  }

  /** Waits up to `ms`, or less when the time for writes ends meanwhile. */
  async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await this.race(new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))));
    clearTimeout(timer);
  }

  /** p's outcome, or GAVE_UP once the time for writes is over first (a write may still land later). */
  race<T>(p: Promise<T>): Promise<T | typeof GAVE_UP> {
    if (this.over) {
      p.catch(() => undefined);
      return Promise.resolve(GAVE_UP);
    }
    return new Promise((resolve, reject) => {
      const fire = () => {
        this.onOver.delete(fire);
        resolve(GAVE_UP);
      };
      this.onOver.add(fire);
      p.then(
        (v) => {
          this.onOver.delete(fire);
          resolve(v);
        },
        (e: unknown) => {
          this.onOver.delete(fire);
          reject(e);
        },
      );
    });
  }

  private warn(what: string, err: unknown, failures: number): void {
    const now = Date.now();
    if (now - (this.warnedAt.get(what) ?? 0) < WARN_EVERY_MS) return;
    this.warnedAt.set(what, now);
    this.log.warn({ err, what, failures: failures + 1 }, `${what} failed; retrying until Redis takes it`);
  }
}
