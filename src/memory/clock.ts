// The clock a memory broker reads for every broker-side time: due times of delayed jobs and
// retries, result / progress / log / document TTLs, lease idleness, heartbeat TTLs, cron ticks
// and entry ids. The Redis broker reads the server's TIME; the memory broker reads this.

import { parseDuration, type Duration } from '../duration.js';

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls fn after the clock moved forward (never for a real clock); returns the unsubscribe. */
  onAdvance?(fn: () => void): () => void;
}

/** The host's clock (Date.now()). */
export const realClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told: `advance('10m')` makes jobs due within those ten minutes
 * due at once (the broker promotes them and wakes blocked readers), and makes results, progress
 * and leases ten minutes older. For deterministic tests.
 */
export class ManualClock implements Clock {
  private ms: number;
  private readonly listeners = new Set<() => void>();

  /** Starts at `start` (epoch ms or a Date; default: the host's now). */
  constructor(start: number | Date = Date.now()) {
    this.ms = typeof start === 'number' ? start : start.getTime();
    if (!Number.isFinite(this.ms)) throw new TypeError(`ManualClock: ${String(start)} is not a time`);
  }

  now(): number {
    return this.ms;
  }

  /** Moves the clock forward by a duration (ms or '30s'); returns the new now. */
  advance(by: Duration): number {
    this.ms += parseDuration(by, 'ManualClock.advance');
    for (const fn of [...this.listeners]) fn();
    return this.ms;
  }

  onAdvance(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
