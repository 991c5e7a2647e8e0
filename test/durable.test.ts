// Durable enqueue and durable outcomes, against a master and a replica of the test's own:
// WAIT answered, a paused replica (SIGSTOP) giving a NotDurableError for jobs that are written,
// one WAIT per coalesced batch and per bulk script call, per-call over queue over app, the
// worker's outcome writes WAITed (a shortfall logged and counted, the job completed once),
// WAITAOF on a server that does not know it, and the options' validation.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { ConfigError, Millrace, NotDurableError, type MillraceOptions } from '../src/index.js';
import { queueKeys } from '../src/redis/keys.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { startReplicaSet, type ReplicaSet } from './support/replicas.js';

let set: ReplicaSet;
const apps: Millrace[] = [];
const pool = workers();

beforeAll(async () => {
  set = await startReplicaSet();
}, 60_000);

afterAll(async () => {
  await set?.stop();
});

afterEach(async () => {
  set.resume();
  await pool.stopAll();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function app(options: MillraceOptions<Record<string, never>> = {}): Millrace {
  const a = new Millrace({ redis: set.url, prefix: uniquePrefix('dur'), logLevel: 'silent', ...options });
  apps.push(a);
  return a;
}

interface LogLine { level: number; msg: string; jobs?: string[]; acknowledged?: number }

function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

/** WAIT calls the master counted while fn ran. */
async function waitsDuring(fn: () => Promise<unknown>): Promise<number> {
  const before = await set.calls('wait');
  await fn();
  return (await set.calls('wait')) - before;
}

/** The job's stream entry as the replica has it (auto ids are entry ids). */
async function onReplica(a: Millrace, queue: string, id: string): Promise<boolean> {
  const stream = queueKeys(a.prefix, queue, ['low', 'normal', 'high', 'critical']).streams[2]!; // 'normal'
  return (await set.replica().xrange(stream, id, id)).length === 1;
}

async function notDurable(p: Promise<unknown>): Promise<NotDurableError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NotDurableError);
  return err as NotDurableError;
}

describe('durable enqueue', () => {
  it('answers once the replica acknowledged: the job is on the replica then', async () => {
    const a = app();
    const task = a.queue('q', { durability: { replicas: 1, timeout: '5s' } }).task('t', async (_ctx, n: number) => n);
    let id = '';
    expect(await waitsDuring(async () => {
      id = (await task.enqueue(1)).id;
    })).toBe(1);
    // WAIT answered 1: the replica has the entry the moment the enqueue resolved.
    expect(await onReplica(a, 'q', id)).toBe(true);
    // A custom id that already exists: answered (created: false) after the same confirmation.
    const first = await task.with({ id: 'same' }).enqueue(2);
    const again = await task.with({ id: 'same' }).enqueue(3);
    expect([first.created, again.created]).toEqual([true, false]);
  });

  it('rejects with a NotDurableError carrying the id when the replica does not answer; the job is written', async () => {
    const a = app({ durability: { replicas: 1, timeout: '300ms' } });
    const task = a.queue('q').task('t', async () => 'ok');
    await task.enqueue(); // the connections are up before the replica stops
    set.pause();
    try {
      const err = await notDurable(task.enqueue());
      expect(err.jobIds).toHaveLength(1);
      expect(err).toMatchObject({ queue: 'q', replicas: 1, acknowledged: 0, timeoutMs: 300 });
      expect(err.message).toBe(`job ${err.jobIds[0]} was written but may not be durable: 0 of 1 replica acknowledged within 300 ms`);
      expect(await a.job('q', err.jobIds[0]!).status()).toBe('waiting');
      // A bulk call names every job it wrote.
      const bulk = await notDurable(task.enqueueMany([[], [], []]));
      expect(bulk.jobIds).toHaveLength(3);
      expect(bulk.message).toMatch(/^3 jobs \(.+\) were written but may not be durable/);
      for (const id of bulk.jobIds) expect(await a.job('q', id).status()).toBe('waiting');
    } finally {
      set.resume();
    }
  });

  it('waits on a connection of its own: the app\'s other commands go on while a WAIT is blocked', async () => {
    const a = app();
    const task = a.queue('q').task('t', async () => 'ok');
    const seed = await task.enqueue();
    set.pause();
    let settled = false;
    let pending: Promise<unknown> | undefined;
    try {
      pending = task.with({ durability: { replicas: 1, timeout: '20s' } }).enqueue().finally(() => (settled = true));
      await waitFor(async () => /blocked_clients:1/.test(await set.master.info('clients')), { what: 'the WAIT blocked on the master' });
      expect(await a.job('q', seed.id).status()).toBe('waiting');
      expect(settled).toBe(false);
    } finally {
      set.resume();
    }
    // Once the replica is back it acknowledges, and the enqueue succeeds.
    const job = (await pending) as { id: string };
    expect(await onReplica(a, 'q', job.id)).toBe(true);
  });

  it('shares one WAIT among the enqueues of one turn', async () => {
    const a = app({ durability: { replicas: 1, timeout: '5s' } });
    const task = a.queue('q').task('t', async (_ctx, n: number) => n);
    await task.enqueue(0); // registers the queue; later calls take the short path
    let ids: string[] = [];
    expect(await waitsDuring(async () => {
      ids = (await Promise.all(Array.from({ length: 20 }, (_, i) => task.enqueue(i)))).map((j) => j.id);
    })).toBe(1);
    expect(new Set(ids).size).toBe(20);
    for (const id of [ids[0]!, ids[19]!]) expect(await onReplica(a, 'q', id)).toBe(true);
  });

  it('sends one WAIT per bulk enqueue, after its script calls of 500 jobs', async () => {
    const a = app({ durability: { replicas: 1, timeout: '5s' } });
    const task = a.queue('q').task('t', async (_ctx, n: number) => n);
    await task.enqueue(0);
    const scripts = async () => (await set.calls('evalsha')) + (await set.calls('eval'));
    for (const [n, calls] of [[1000, 2], [2500, 5]] as const) {
      const before = await scripts();
      let jobs: { id: string; created: boolean }[] = [];
      expect(await waitsDuring(async () => {
        jobs = await task.enqueueMany(Array.from({ length: n }, (_, i) => (i === n - 1 ? { args: [i], options: { id: `last-${n}` } } : [i]) as [number]));
      })).toBe(1);
      expect((await scripts()) - before).toBe(calls);
      expect(jobs).toHaveLength(n);
      expect(new Set(jobs.map((j) => j.id)).size).toBe(n);
      expect(jobs.every((j) => j.created)).toBe(true);
      expect(jobs[n - 1]!.id).toBe(`last-${n}`);
      expect(await onReplica(a, 'q', jobs[n - 2]!.id)).toBe(true);
    }
  });

  it('takes the call\'s durability over the queue\'s, and the queue\'s over the app\'s', async () => {
    const a = app({ durability: { replicas: 1, timeout: '5s' } });
    const plain = a.queue('plain', { durability: false }).task('p', async () => 'ok');
    const two = a.queue('two', { durability: { replicas: 2, timeout: '1s' } }).task('t', async () => 'ok');
    const appLevel = a.queue('app').task('a', async () => 'ok');
    expect(await waitsDuring(() => appLevel.enqueue())).toBe(1);
    expect(await waitsDuring(() => plain.enqueue())).toBe(0);
    expect(await waitsDuring(() => plain.with({ durability: { replicas: 1, timeout: '5s' } }).enqueue())).toBe(1);
    // Only one replica exists: the queue's 2 cannot be met, the call's 1 can.
    const err = await notDurable(two.enqueue());
    expect(err).toMatchObject({ replicas: 2, acknowledged: 1, queue: 'two' });
    expect(err.message).toMatch(/1 of 2 replicas acknowledged within 1000 ms$/);
    await two.with({ durability: { replicas: 1, timeout: '5s' } }).enqueue();
    expect(await waitsDuring(() => two.with({ durability: false }).enqueue())).toBe(0);
    // By name, for a queue this process does not define: the app's.
    expect(await waitsDuring(() => a.enqueueByName('elsewhere', [], { queue: 'other' }))).toBe(1);
  });

  it('says clearly that WAITAOF needs Redis 7.2 when the server does not know it; the job is written', async () => {
    const version = /redis_version:(\d+)\.(\d+)/.exec(await set.master.info('server'))!;
    const knowsWaitaof = Number(version[1]) > 7 || (Number(version[1]) === 7 && Number(version[2]) >= 2);
    const a = app();
    const task = a.queue('q').task('t', async () => 'ok');
    const p = task.with({ durability: { aof: true, timeout: '200ms' } }).enqueue();
    if (knowsWaitaof) {
      // appendonly is off on the test master: WAITAOF refuses numlocal 1.
      const err = await notDurable(p);
      expect(err.message).toMatch(/WAITAOF failed/);
      return;
    }
    const err = await notDurable(p);
    expect(err.acknowledged).toBeUndefined();
    expect(err.message).toMatch(/written but may not be durable: this Redis does not know WAITAOF: durability.aof needs Redis 7.2 or later/);
    expect(await a.job('q', err.jobIds[0]!).status()).toBe('waiting');
    await notDurable(task.with({ durability: { aof: 'local' } }).enqueue());
  });
});

describe('durable outcomes', () => {
  /** An app whose queue 'q' WAITs for its outcomes; 'warm' does not (it brings the connections up). */
  function outcomeApp() {
    const { logger, lines } = capturingLogger();
    const a = app({ logger, durability: { replicas: 1, timeout: '300ms', outcomes: true } });
    const warm = a.queue('warm', { durability: { replicas: 1, timeout: '5s' } }).task('w', async () => 'up');
    const q = a.queue('q');
    const warnings = () => lines.filter((l) => l.msg.includes('recorded but maybe not durable'));
    return { a, q, warm, warnings };
  }

  /** A task that completes and one that fails twice (a retry, then the dead-letter queue). */
  function tasks(q: ReturnType<typeof outcomeApp>['q']) {
    const ok = q.task('ok', async () => 'done');
    const bad = q.task('bad', async () => {
      throw new Error('no');
    }, { maxTries: 2, backoff: { type: 'fixed', base: 0, jitter: false } });
    return { ok, bad };
  }

  it('WAITs for completions, retries and dead letters', async () => {
    const { a, q, warnings } = outcomeApp();
    const { ok, bad } = tasks(q);
    await pool.start(a);
    // The enqueues do not wait: every WAIT counted is an outcome's.
    expect(await waitsDuring(async () => {
      const done = await ok.with({ durability: false }).enqueue();
      await bad.with({ durability: false }).enqueue();
      expect(await done.result({ timeout: 10_000 })).toBe('done');
      await waitFor(async () => (await a.deadLetters('q').count()) === 1, { what: 'the failing job dead-lettered' });
      await waitFor(async () => (await set.calls('wait')) > 0, { what: 'a WAIT' });
    })).toBeGreaterThanOrEqual(1);
    expect(warnings()).toEqual([]);
  });

  it('reports each outcome write it cannot confirm: completion, retry and dead letter stand', async () => {
    const { a, q, warm, warnings } = outcomeApp();
    const { ok, bad } = tasks(q);
    const w = await pool.start(a);
    expect(await (await warm.enqueue()).result({ timeout: 10_000 })).toBe('up'); // every connection up
    set.pause();
    try {
      const done = await ok.with({ durability: false }).enqueue();
      const failing = await bad.with({ durability: false }).enqueue();
      expect(await done.result({ timeout: 10_000 })).toBe('done');
      await waitFor(async () => (await a.deadLetters('q').count()) === 1, { what: 'the failing job dead-lettered' });
      await waitFor(() => warnings().length === 3, { what: '3 warnings' });
      const named = warnings().flatMap((l) => l.jobs ?? []).sort();
      expect(named).toEqual([done.id, failing.id, failing.id].sort()); // its completion; a retry and a dead letter
      expect(await failing.status()).toBe('failed');
      expect(w.stats().queues.q!.notDurable).toBe(3);
    } finally {
      set.resume();
    }
  });

  it('logs and counts an outcome that cannot be confirmed: the job is completed once, the worker goes on', async () => {
    const { a, q, warm, warnings } = outcomeApp();
    const runs = new Map<string, number>();
    const task = q.task('t', async (ctx) => {
      runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
      return ctx.id;
    });
    const w = await pool.start(a, { metrics: true });
    expect(await (await warm.enqueue()).result({ timeout: 10_000 })).toBe('up'); // every connection up
    set.pause();
    let job: { id: string; result(o: { timeout: number }): Promise<unknown> };
    try {
      job = await task.with({ durability: false }).enqueue();
      expect(await job.result({ timeout: 10_000 })).toBe(job.id);
      await waitFor(() => warnings().length > 0, { what: 'the warning' });
    } finally {
      set.resume();
    }
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toBe('job outcome recorded but maybe not durable: 0 of 1 replica acknowledged within 300 ms');
    expect(warnings()[0]!.jobs).toEqual([job.id]);
    expect(w.stats().queues.q!.notDurable).toBe(1);
    expect(await w.metrics()).toMatch(/millrace_outcomes_not_durable_total\{queue="q"\} 1/);
    // The worker is alive and the job stays completed: it runs no second time.
    expect(w.status).toBe('running');
    const next = await task.with({ durability: { replicas: 1, timeout: '20s' } }).enqueue();
    expect(await next.result({ timeout: 10_000 })).toBe(next.id);
    expect(runs.get(job.id)).toBe(1);
    expect(await a.job('q', job.id).status()).toBe('completed');
    expect(w.stats().queues.q!.completed).toBe(2);
  });
});

describe('durability options', () => {
  const noop = async () => 'ok';

  function configError(fn: () => unknown, option: string, accepts: RegExp): void {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).option).toBe(option);
    expect((err as ConfigError).message).toMatch(accepts);
  }

  it('rejects bad values, naming the option and what it accepts', async () => {
    const opts = (durability: unknown) => ({ durability }) as never;
    const appWith = (durability: unknown) => new Millrace({ broker: 'memory', durability: durability as never });
    configError(() => appWith({ replicas: -1 }), 'durability.replicas', /an integer >= 0/);
    configError(() => appWith('yes'), 'durability', /false, or \{ replicas\?: integer >= 0, timeout\?: duration, aof\?: true \| false \| 'local', outcomes\?: boolean \}/);
    const m = new Millrace({ broker: 'memory' });
    configError(() => m.queue('a', opts({ replicas: 1.5 })), "queue 'a'.durability.replicas", /an integer >= 0/);
    configError(() => m.queue('b', opts({ timeout: 0 })), "queue 'b'.durability.timeout", /at least 1 ms/);
    configError(() => m.queue('c', opts({ timeout: 'soon' })), "queue 'c'.durability.timeout", /a duration/);
    configError(() => m.queue('d', opts({ aof: 'yes' })), "queue 'd'.durability.aof", /true .*'local'.* or false/);
    configError(() => m.queue('e', opts({ replica: 1 })), "queue 'e'.durability.replica", /one of the known options: replicas, timeout, aof, outcomes/);
    configError(() => m.queue('f', opts({ outcomes: 'yes' })), "queue 'f'.durability.outcomes", /true or false/);
    const task = m.queue('g').task('t', noop);
    for (const [durability, option, accepts] of [
      [{ outcomes: true }, 'enqueue.durability.outcomes', /a queue or app option/],
      [{ replicas: '1' }, 'enqueue.durability.replicas', /an integer >= 0/],
      [true, 'enqueue.durability', /false, or \{/],
    ] as const) {
      const err = await task.with({ durability } as never).enqueue().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).option).toBe(option);
      expect((err as ConfigError).message).toMatch(accepts);
    }
  });

  it('is met at once on the memory broker (one process, no replica)', async () => {
    const m = new Millrace({ broker: 'memory', logLevel: 'silent', durability: { replicas: 2, timeout: '10ms', outcomes: true } });
    apps.push(m);
    const task = m.queue('q').task('t', async (_ctx, n: number) => n * 2);
    const jobs = await task.enqueueMany([[1], [2]]);
    const one = await task.with({ durability: { replicas: 3 } }).enqueue(3);
    await pool.start(m);
    expect(await Promise.all([...jobs, one].map((j) => j.result({ timeout: 5000 })))).toEqual([2, 4, 6]);
  });
});
