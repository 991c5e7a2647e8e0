// The clock a memory broker reads for every broker-side time (due times of delayed jobs and
// retries, result / progress / log / document TTLs, lease idleness, heartbeat TTLs, cron ticks
// and entry ids) and the worker reads for its timers (job timeouts, lease renewals, heartbeats,
// recovery, cron). The Redis broker reads the server's TIME and the worker the host's timers.

import { parseDuration, type Duration } from '../duration.js';

/**
 * What a timer is for, which decides how a jump of a manual clock fires it:
 * - 'due': something happens at that time (a job timeout, a cron tick): fired at its time, in
 *   order with the other due timers and the delayed jobs coming due, each step settled before
 *   the next;
 * - 'renew' and 'check': upkeep repeated on an interval (lease renewals and heartbeats; recovery,
 *   stale-worker cleanup, polls): fired once at the end of the jump, renewals before checks, as
 *   if the worker had kept them up all along (so a jump never makes a live worker look dead).
 */
export type TimerKind = 'due' | 'renew' | 'check';

export interface TimerOptions {
  kind?: TimerKind;
  /** Does not keep the process alive (real timers only). */
  unref?: boolean;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /**
   * Calls fn once, `ms` from now on this clock; returns what cancels it. A manual clock waits
   * for the promise fn returns, if any, before it moves on.
   */
  timer(ms: number, fn: () => unknown, options?: TimerOptions): () => void;
  /** True for a clock that only moves when told (timers never fire by themselves). */
  readonly driven?: boolean;
  /**
   * Calls fn after the clock moved forward (never for a real clock); `nextDue` tells when the
   * caller next has something due (a memory broker's earliest delayed job), so an advance stops
   * there on its way. Returns the unsubscribe.
   */
  onAdvance?(fn: () => void, nextDue?: () => number | undefined): () => void;
}

/** The clock of a broker: its own (a memory broker's), else the host's. */
export function clockOf(broker: { readonly clock?: Clock }): Clock {
  return broker.clock ?? realClock;
}

/** The host's clock (Date.now()) and timers (setTimeout). */
export const realClock: Clock = {
  now: () => Date.now(),
  timer(ms, fn, options) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (options?.unref) t.unref();
    return () => clearTimeout(t);
  },
};

interface PendingTimer {
  due: number;
  seq: number;
  kind: TimerKind;
  fn: () => unknown;
}

const RANK: Record<TimerKind, number> = { due: 0, renew: 1, check: 2 };

/**
 * Fires timers in order and waits for the work they started: the promises they return (a
 * worker's periodic step) and a few turns of the event loop (what an abort set off).
 */
async function fire(timers: PendingTimer[]): Promise<void> {
  for (const t of timers) {
    try {
      await t.fn();
    } catch {
      // a timer's failure is its owner's to report; the clock moves on
    }
  }
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A clock that only moves when told: `await advance('10m')` runs everything that comes due in
 * those ten minutes, in order (delayed jobs and retries, job timeouts, cron ticks), then the
 * upkeep (lease renewals, heartbeats, recovery), and makes results, progress and leases ten
 * minutes older. A timer due now (0 ms) fires by itself, as on a real clock. For
 * deterministic tests.
 */
export class ManualClock implements Clock {
  readonly driven = true;
  private ms: number;
  private seq = 0;
  private readonly listeners = new Set<() => void>();
  private readonly dueSources = new Set<() => number | undefined>();
  private readonly timers = new Set<PendingTimer>();
  /** The advance in progress, if any: the next one waits for it. */
  private advancing: Promise<unknown> | undefined;

  /** Starts at `start` (epoch ms or a Date; default: the host's now). */
  constructor(start: number | Date = Date.now()) {
    this.ms = typeof start === 'number' ? start : start.getTime();
    if (!Number.isFinite(this.ms)) throw new TypeError(`ManualClock: ${String(start)} is not a time`);
  }

  now(): number {
    return this.ms;
  }

  timer(ms: number, fn: () => unknown, options?: TimerOptions): () => void {
    if (!(ms > 0)) {
      // Due now: fires by itself on the next turn, or first thing in an advance begun before that.
      const now: PendingTimer = { due: this.ms, seq: this.seq++, kind: 'due', fn };
      this.timers.add(now);
      const immediate = setImmediate(() => {
        if (this.timers.delete(now)) void fn();
      });
      if (options?.unref) immediate.unref();
      return () => {
        this.timers.delete(now);
        clearImmediate(immediate);
      };
    }
    const t: PendingTimer = { due: this.ms + ms, seq: this.seq++, kind: options?.kind ?? 'due', fn };
    this.timers.add(t);
    return () => this.timers.delete(t);
  }

  /** Timers waiting for the clock to move (for tests of leaks: 0 once everything stopped). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /**
   * Moves the clock forward by a duration (ms or '30s') and runs what came due; resolves with
   * the new now once their work settled. Advances run one after another. When nothing but
   * delayed jobs come due, the move happens before this returns.
   */
  advance(by: Duration): Promise<number> {
    const ms = parseDuration(by, 'ManualClock.advance');
    // Not chained when idle: the first step (and the whole move, when no timer is due) happens now.
    const run = this.advancing ? this.advancing.then(() => this.run(this.ms + ms)) : this.run(this.ms + ms);
    const current = run.catch(() => undefined).finally(() => {
      if (this.advancing === current) this.advancing = undefined;
    });
    this.advancing = current;
    return run;
  }

  /** Runs fn after each move of the clock (a memory broker promotes due jobs there). */
  onAdvance(fn: () => void, nextDue?: () => number | undefined): () => void {
    this.listeners.add(fn);
    if (nextDue) this.dueSources.add(nextDue);
    return () => {
      this.listeners.delete(fn);
      if (nextDue) this.dueSources.delete(nextDue);
    };
  }

  private async run(target: number): Promise<number> {
    for (let at = this.nextStep(target); at !== undefined; at = this.nextStep(target)) {
      this.moveTo(at);
      await fire(this.take((x) => x.kind === 'due' && x.due <= this.ms));
    }
    this.moveTo(target);
    await fire(this.take((x) => x.due <= target));
    return target;
  }

  private moveTo(ms: number): void {
    if (ms > this.ms) this.ms = ms;
    for (const fn of [...this.listeners]) fn();
  }

  /** The next time up to `until` at which a due timer fires or a delayed job comes due. */
  private nextStep(until: number): number | undefined {
    let best: number | undefined;
    for (const t of this.timers) if (t.kind === 'due' && t.due <= until && (best === undefined || t.due < best)) best = t.due;
    for (const source of this.dueSources) {
      const at = source();
      // A job due now or earlier was promoted at the last step; one promoted later is the source's to tell.
      if (at !== undefined && at > this.ms && at <= until && (best === undefined || at < best)) best = at;
    }
    return best;
  }

  /** Removes and returns the matching timers, by rank, due time and creation order. */
  private take(match: (t: PendingTimer) => boolean): PendingTimer[] {
    const out = [...this.timers].filter(match);
    for (const t of out) this.timers.delete(t);
    return out.sort((a, b) => RANK[a.kind] - RANK[b.kind] || a.due - b.due || a.seq - b.seq);
  }
}
