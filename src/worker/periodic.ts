// Runs an async step again and again, one at a time, with a delay between runs that the
// step may choose; can be woken early and stopped (waiting for a run in progress).

import type { Logger } from 'pino';
import { realClock, type Clock, type TimerKind } from '../memory/clock.js';

/** How long stop() waits for a step in progress. */
const STOP_WAIT_MS = 2000;

export class Periodic {
  private cancel: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private dueAt = 0;
  private again = false;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    /** Returns the ms until the next run, or nothing for the interval. */
    private readonly step: () => Promise<number | void>,
    private readonly log: Logger,
    /** The clock whose timers pace the runs (a memory broker's), and what the runs are for. */
    private readonly timing: { clock?: Clock; kind: TimerKind } = { kind: 'check' },
  ) {}

  private get clock(): Clock {
    return this.timing.clock ?? realClock;
  }

  start(initialDelayMs = 0): void {
    this.stopped = false;
    this.schedule(initialDelayMs);
  }

  /** Runs the step within `inMs` if it was due later. */
  wake(inMs = 0): void {
    if (this.stopped) return;
    // Woken during a run: the run may have read the state before what woke it; run again after.
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.clock.now() + inMs < this.dueAt) this.schedule(inMs);
  }

  /**
   * Stops; waits for a run in progress, but at most `maxWaitMs`: a step waiting for an
   * unreachable Redis must not hold up a stop (it ends by itself later, and nothing follows it).
   */
  async stop(maxWaitMs = STOP_WAIT_MS): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    if (this.running) await withTimeout(this.running, maxWaitMs).catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    this.cancel?.();
    this.dueAt = this.clock.now() + delayMs;
    // A run due never (Infinity, on a manual clock) waits for wake().
    this.cancel = delayMs === Infinity ? undefined : this.clock.timer(delayMs, () => this.tick(), { kind: this.timing.kind, unref: true });
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
    const again = this.again;
    this.again = false;
    if (!this.stopped) this.schedule(again ? 0 : typeof next === 'number' ? Math.max(0, next) : this.intervalMs);
  }
}

/**
 * A sleep that `wake()` cuts short. A sleep `onClock` waits on the clock given (a manual clock's
 * advance ends it: for waits the clock's own time decides, such as a rate limit's); the others
 * on the host's timers (polls).
 */
export class Sleeper {
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cancel: (() => void) | undefined;

  constructor(private readonly clock?: Clock) {}

  sleep(ms: number, onClock = false): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      if (onClock && this.clock) this.cancel = this.clock.timer(ms, resolve, { kind: 'check' });
      else this.timer = setTimeout(resolve, ms);
    });
  }

  wake(): void {
    clearTimeout(this.timer);
    this.cancel?.();
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
