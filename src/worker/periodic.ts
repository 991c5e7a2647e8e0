// Runs an async step again and again, one at a time, with a delay between runs that the
// step may choose; can be woken early and stopped (waiting for a run in progress).

import type { Logger } from 'pino';

/** How long stop() waits for a step in progress. */
const STOP_WAIT_MS = 2000;

export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private dueAt = 0;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    /** Returns the ms until the next run, or nothing for the interval. */
    private readonly step: () => Promise<number | void>,
    private readonly log: Logger,
  ) {}

  start(initialDelayMs = 0): void {
    this.stopped = false;
    this.schedule(initialDelayMs);
  }

  /** Runs the step within `inMs` if it was due later. */
  wake(inMs = 0): void {
    if (this.stopped || this.running) return;
    if (Date.now() + inMs < this.dueAt) this.schedule(inMs);
  }

  /**
   * Stops; waits for a run in progress, but at most `maxWaitMs`: a step waiting for an
   * unreachable Redis must not hold up a stop (it ends by itself later, and nothing follows it).
   */
  async stop(maxWaitMs = STOP_WAIT_MS): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.running) await withTimeout(this.running, maxWaitMs).catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.dueAt = Date.now() + delayMs;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let next: number | void = this.intervalMs;
    this.running = (async () => {
      try {
        next = await this.step();
      } catch (err) {
        this.log.warn({ err, component: this.name }, `${this.name} failed; retrying`);
        next = Math.min(this.intervalMs, 1000);
      }
    })();
    await this.running;
    this.running = undefined;
    if (!this.stopped) this.schedule(typeof next === 'number' ? Math.max(0, next) : this.intervalMs);
  }
}

/** A sleep that `wake()` cuts short. */
export class Sleeper {
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  wake(): void {
    clearTimeout(this.timer);
    this.wakeUp?.();
  }
}

/** The promise's outcome, or a rejection once `ms` passed without one. */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'no answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
