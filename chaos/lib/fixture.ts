// The app every chaos worker runs (in a child process or in the harness), and that the
// harness enqueues into: one queue, 'work', whose tasks write each start, completion and
// abort to the scenario's ledger (and, when asked, the queues 'capped' and 'fanin').

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
  /** Execution middleware that throws: before the handler for task 'mw_before', after it for 'mw_after'. */
  misbehave?: boolean;
  /** Defines the queue 'capped' (task 'capped_hold', as hold) under this global concurrency cap. */
  cap?: number;
  /**
   * Defines the queue 'grouped' (task 'grouped_hold', as hold) of fair groups capped at this many
   * jobs per group, a job's group the part of its key before the first '-'.
   */
  groupCap?: number;
  /** Defines the queue 'fanin': a chord's children ('fanin_child') and its callback ('fanin_sum', scenario 22). */
  fanIn?: boolean;
}

export function fixtureApp(s: FixtureSettings) {
  const app = new Millrace({
    redis: s.redis, prefix: s.prefix, logLevel: s.logLevel ?? 'silent', logger: s.logger, signingSecret: s.signingSecret, events: false,
  });
  if (s.misbehave) {
    app.use({
      execute: async (ctx, next) => {
        if (ctx.task === 'mw_before') throw new Error('middleware failed before the handler');
        const out = await next();
        if (ctx.task === 'mw_after') throw new TypeError('middleware failed after the handler');
        return out;
      },
    });
  }
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

  /** hold(), at most once: never run twice; dead-lettered ('interrupted') when its worker dies. */
  const once = work.task('once', async (ctx, key: string, ms: number) => {
    note('start', key, ctx.attempt);
    if (ms > 0) await sleep(Math.min(ms, maxHold), undefined, { signal: ctx.signal });
    note('done', key, ctx.attempt);
    return key;
  }, { atMostOnce: true });

  /** Returns its key; `pad` only takes room (a full Redis is filled with these). */
  const pad = work.task('pad', async (ctx, key: string, _pad: string) => {
    note('start', key, ctx.attempt);
    note('done', key, ctx.attempt);
    return key;
  });

  /** User code that misbehaves in the way `how` says (see MISBEHAVIOURS); 'ok' completes. */
  const misbehave = work.task('misbehave', async (ctx, key: string, how: Misbehaviour) => {
    note('start', key, ctx.attempt);
    const out = await misbehaviour(how, idleOf(s));
    note('done', key, ctx.attempt);
    return out as string;
  }, { maxTries: 2, timeout: 400, backoff: { type: 'fixed', base: 50 } });

  /** Jobs the throwing middleware (misbehave: true) fails before or after their handler runs. */
  const mwBefore = work.task('mw_before', async (ctx, key: string) => {
    note('start', key, ctx.attempt);
    return key;
  }, { maxTries: 1 });
  const mwAfter = work.task('mw_after', async (ctx, key: string) => {
    note('start', key, ctx.attempt);
    return key;
  }, { maxTries: 1 });

  /** hold() on the queue 'capped', at most `cap` of its jobs held over every worker (scenario 21). */
  const cappedHold = s.cap === undefined ? undefined : app.queue('capped', { globalConcurrency: s.cap, idleTimeout: s.idleTimeout ?? 2000 })
    .task('capped_hold', async (ctx, key: string, ms: number) => {
      note('start', key, ctx.attempt);
      await sleep(ms, undefined, { signal: ctx.signal });
      note('done', key, ctx.attempt);
      return key;
    });

  /** hold() on the queue 'grouped', at most `groupCap` jobs of a group held over every worker (scenario 21). */
  const groupedHold = s.groupCap === undefined ? undefined : app.queue('grouped', {
    groups: { key: (args) => String(args[0]).split('-')[0], concurrency: s.groupCap }, idleTimeout: s.idleTimeout ?? 2000,
  }).task('grouped_hold', async (ctx, key: string, ms: number) => {
    note('start', key, ctx.attempt);
    await sleep(ms, undefined, { signal: ctx.signal });
    note('done', key, ctx.attempt);
    return key;
  });

  /** The queue 'fanin' (scenario 22): a chord's children and its callback, whose every run is in the ledger. */
  const fanin = s.fanIn ? app.queue('fanin', { idleTimeout: s.idleTimeout ?? 2000, maxRecoveries: s.maxRecoveries ?? 3 }) : undefined;
  /** A child: sleeps `ms` (stopping early when its signal aborts) and gives `value`. */
  const faninChild = fanin?.task('fanin_child', async (ctx, key: string, value: number, ms: number) => {
    note('start', key, ctx.attempt);
    try {
      await sleep(ms, undefined, { signal: ctx.signal });
    } catch (err) {
      note('abort', key, ctx.attempt, (ctx.signal.reason as Error | undefined)?.name ?? 'unknown');
      throw err;
    }
    note('done', key, ctx.attempt);
    return value;
  });
  /** The callback: the sum of the children's values; each run writes a start and a done (with how many values it got). */
  const faninSum = fanin?.task('fanin_sum', async (ctx, values: number[], key: string) => {
    note('start', key, ctx.attempt, `n=${values.length}`);
    const sum = values.reduce((a, b) => a + b, 0);
    note('done', key, ctx.attempt, `n=${values.length} sum=${sum}`);
    return sum;
  });

  return { app, work, hold, fail, poison, once, pad, misbehave, mwBefore, mwAfter, cappedHold, groupedHold, fanin, faninChild, faninSum };
}

/** The ways user code misbehaves in the user-code scenario; each but 'ok' and 'block' fails every attempt. */
export const MISBEHAVIOURS = ['symbol', 'null', 'undefined', 'cyclic', 'hostile', 'bigint', 'cyclic-result', 'hang', 'block', 'ok'] as const;
export type Misbehaviour = (typeof MISBEHAVIOURS)[number];

function idleOf(s: FixtureSettings): number {
  return s.idleTimeout ?? 2000;
}

async function misbehaviour(how: Misbehaviour, idleMs: number): Promise<unknown> {
  switch (how) {
    case 'symbol':
      throw Symbol('thrown symbol');
    case 'null':
      throw null;
    case 'undefined':
      throw undefined;
    case 'cyclic': {
      const o: Record<string, unknown> = { what: 'cyclic' };
      o.self = o;
      throw o;
    }
    case 'hostile':
      throw new Proxy({}, { getPrototypeOf: () => { throw new Error('trap'); }, get: () => { throw new Error('trap'); }, has: () => { throw new Error('trap'); } });
    case 'bigint':
      return 1n;
    case 'cyclic-result': {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    }
    case 'hang':
      // Never settles, ignores its signal: the timeout frees the slot.
      return new Promise(() => undefined);
    case 'block': {
      // Blocks the whole process past the idle timeout, then returns: it must complete, once.
      const until = Date.now() + idleMs * 1.5;
      while (Date.now() < until) { /* blocked */ }
      return 'unblocked';
    }
    case 'ok':
      return 'fine';
  }
}

export type Fixture = ReturnType<typeof fixtureApp>;
