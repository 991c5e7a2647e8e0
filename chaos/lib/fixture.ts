// The app every chaos worker runs (in a child process or in the harness), and that the
// harness enqueues into: one queue, 'work', whose tasks write each start, completion and
// abort to the scenario's ledger.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Millrace } from '../../src/index.js';
import { record } from './ledger.js';

/** The always-failing task's retry policy (scenario 10 checks the spacing against it). */
export const FAIL_TRIES = 4;
export const FAIL_BACKOFF = { type: 'exponential', base: 300, max: 5000, jitter: false } as const;

export interface FixtureSettings {
  redis: string;
  prefix: string;
  /** Ledger file; tasks write nothing when absent (an enqueue-only app). */
  ledger?: string;
  /** Names this worker in the ledger. */
  tag?: string;
  idleTimeout?: number;
  maxRecoveries?: number;
  /** Caps how long `hold` holds a job (a "fast" worker finishes reclaimed jobs at once). */
  maxHoldMs?: number;
  /** Whether the poison task may kill this process (only in a child). */
  mayDie?: boolean;
  logLevel?: string;
  logger?: Logger;
  signingSecret?: string;
}

export function fixtureApp(s: FixtureSettings) {
  const app = new Millrace({
    redis: s.redis, prefix: s.prefix, logLevel: s.logLevel ?? 'silent', logger: s.logger, signingSecret: s.signingSecret, events: false,
  });
  const tag = s.tag ?? String(process.pid);
  const note = (event: 'start' | 'done' | 'abort', key: string, attempt: number, extra = '') => {
    if (s.ledger) record(s.ledger, event, key, attempt, tag, extra);
  };
  const work = app.queue('work', { idleTimeout: s.idleTimeout ?? 2000, maxRecoveries: s.maxRecoveries ?? 3 });
  const maxHold = s.maxHoldMs ?? Infinity;

  /** Holds the job `ms` (capped by maxHoldMs), stopping early when its signal aborts. */
  const hold = work.task('hold', async (ctx, key: string, ms: number) => {
    note('start', key, ctx.attempt);
    const wait = Math.min(ms, maxHold);
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: ctx.signal });
      } catch (err) {
        note('abort', key, ctx.attempt, (ctx.signal.reason as Error | undefined)?.name ?? 'unknown');
        throw err;
      }
    }
    note('done', key, ctx.attempt);
    return key;
  });

  /** Fails every attempt. */
  const fail = work.task('fail', async (ctx, key: string) => {
    note('start', key, ctx.attempt);
    throw new Error(`always fails (attempt ${ctx.attempt})`);
  }, { maxTries: FAIL_TRIES, backoff: FAIL_BACKOFF });

  /** Kills the worker process running it, every time. */
  const poison = work.task('poison', async (ctx, key: string) => {
    note('start', key, ctx.attempt);
    if (!s.mayDie) throw new Error('poison ran outside a child process');
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => undefined);
  });

  return { app, work, hold, fail, poison };
}

export type Fixture = ReturnType<typeof fixtureApp>;
