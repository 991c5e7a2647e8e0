// Small helpers shared by the chaos scenarios: waiting on conditions, percentiles,
// and the result shape every scenario returns.

import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export type Size = 'short' | 'full';

/** What a scenario reports: its figures, and every check that failed (none when it passed). */
export interface ScenarioResult {
  scenario: string;
  size: Size;
  passed: boolean;
  durationMs: number;
  figures: Record<string, number | string>;
  failures: string[];
}

/** Collects the checks of one scenario and builds its result. */
export class Report {
  readonly figures: Record<string, number | string> = {};
  readonly failures: string[] = [];
  private readonly started = Date.now();

  constructor(
    private readonly scenario: string,
    private readonly size: Size,
  ) {}

  /** Records a failed check when `ok` is false. */
  check(ok: boolean, message: string): boolean {
    if (!ok) this.failures.push(message);
    return ok;
  }

  set(figures: Record<string, number | string>): void {
    Object.assign(this.figures, figures);
  }

  fail(err: unknown): void {
    this.failures.push(`error: ${(err as Error)?.stack ?? String(err)}`);
  }

  result(): ScenarioResult {
    return {
      scenario: this.scenario, size: this.size, passed: this.failures.length === 0,
      durationMs: Date.now() - this.started, figures: this.figures, failures: this.failures,
    };
  }
}

/** Resolves with `check`'s first truthy value (polled); rejects after `timeout` ms. */
export async function waitFor<T>(check: () => T | Promise<T>, { timeout = 10_000, interval = 25, what = 'condition' } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** Like waitFor, but false instead of an error on timeout. */
export async function eventually(check: () => boolean | Promise<boolean>, timeout: number, interval = 25): Promise<boolean> {
  try {
    await waitFor(check, { timeout, interval });
    return true;
  } catch {
    return false;
  }
}

/** The p-th percentile (0-100) of the values, nearest rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Epoch ms from the monotonic clock: unaffected by a test overriding Date.now. */
export function realNow(): number {
  return Math.round(performance.timeOrigin + performance.now());
}
