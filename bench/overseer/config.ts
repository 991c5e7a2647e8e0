// The Overseer bench's parameters (command line), targets and small helpers.

import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    samples: { type: 'string' },
    waiting: { type: 'string' },
    dlq: { type: 'string' },
    'live-seconds': { type: 'string' },
    tabs: { type: 'string' },
    'no-scale-check': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const int = (name: string, raw: string | undefined, fallback: number, min = 1): number => {
  const n = Number(raw ?? fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got '${raw}')`);
  return n;
};

export const QUICK = values.quick;
export const WAITING = int('waiting', values.waiting, QUICK ? 100_000 : 1_000_000);
export const DLQ = int('dlq', values.dlq, QUICK ? 10_000 : 100_000);
export const RUNS = int('runs', values.runs, QUICK ? 1 : 3);
export const SAMPLES = int('samples', values.samples, 50);
export const LIVE_S = int('live-seconds', values['live-seconds'], QUICK ? 5 : 10);
export const TABS = int('tabs', values.tabs, 50);
export const SCALE_CHECK = !values['no-scale-check'];
export const OUT = values.out;
export const PREFIX = 'ovb';

/** Jobs per enqueueMany call. */
export const CHUNK = 10_000;
export const COMPLETED = 2_000;
export const DELAYED = 1_000;
export const CHILD_WORKERS = 2;
export const CHILD_CONCURRENCY = 40;
export const RUNNING = CHILD_WORKERS * CHILD_CONCURRENCY;
export const LOAD_TESTS = 3;
/** A payload substring no job has. */
export const NO_MATCH = 'no-such-text-7f3a';
/** The origin of the requests made to the handler directly. */
export const BASE = 'http://overseer.bench';

export const TARGETS = { p95Ms: 150, commands: 25, tabsAddedPerS: 50, searchPerS: 100_000, searchMaxCommandMs: 5 };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
