// millrace/testing: an app under test on a memory broker (or an isolated Redis prefix), fake
// and live modes, drain, run, waitFor and the manual clock, and a close that leaves nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { chain, group, JobFailedError, JobTimeoutError, Millrace, type MillraceOptions } from '../src/index.js';
import { createTestApp, DrainLimitError, type AnyApp, type TestApp } from '../src/testing/index.js';
import { REDIS_URL, uniquePrefix } from './helpers.js';
import { Redis } from 'ioredis';

const START = Date.UTC(2030, 0, 1);
const open: TestApp[] = [];

afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

class PaymentDeclined extends Error {
  override name = 'PaymentDeclined';
  constructor(readonly code: string) {
    super(`declined: ${code}`);
  }
}

/** A user's app as a module would define it: tasks, middleware, a lifespan, a Redis it never reaches here. */
function shopApp(options: MillraceOptions<{ rate: number }> = {}) {
  const seen: string[] = [];
  const app = new Millrace<{ rate: number }>({
    redis: 'redis://127.0.0.1:1', // nothing listens: a test that reached Redis would fail
    logLevel: 'silent',
    signingSecret: 'test-secret',
    lifespan: async function* () {
      yield { rate: 2 };
    },
    ...options,
  });
  app.use({
    execute: async (ctx, next) => {
      seen.push(`run ${ctx.task}`);
      return next();
    },
  });
  const q = app.queue('orders', { priorities: ['low', 'normal', 'high'] });
  const charge = q.task('charge', async (ctx, cents: number, card: string) => {
    if (card === 'bad') throw new PaymentDeclined('insufficient');
    return { charged: cents * ctx.deps.rate, card, at: new Date(START) };
  });
  const ship = q.task('ship', async (_ctx, orderId: string) => `shipped ${orderId}`);
  const order = q.task('order', async (_ctx, orderId: string) => {
    await ship.enqueue(orderId);
    return orderId;
  });
  return { app, charge, ship, order, seen };
}

/** How many of each kind of resource keeps the process alive now. */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (r !== 'TTYWrap') out[r] = (out[r] ?? 0) + 1;
  return out;
}

async function kit(app: AnyApp, options: Parameters<typeof createTestApp>[1] = {}): Promise<TestApp> {
  const t = await createTestApp(app, { now: START, ...options });
  open.push(t);
  return t;
}

describe('millrace/testing: fake mode', () => {
  it('records enqueued jobs with their arguments, and runs nothing until drain()', async () => {
    const { app, charge, order, seen } = shopApp();
    const t = await kit(app);
    const job = await charge.enqueue(500, 'visa');
    await order.enqueue('o-1');
    const [rec] = t.enqueued(charge);
    expect(rec).toMatchObject({ id: job.id, queue: 'orders', task: 'charge', args: [500, 'visa'] });
    expect(t.enqueued().map((j) => j.task)).toEqual(['charge', 'order']);
    expect(await job.status()).toBe('waiting');
    await t.startWorker();
    expect(await job.status()).toBe('waiting');
    const report = await t.drain();
    expect(report).toMatchObject({ completed: 3, failed: 0, delayed: 0 });
    // The job a job enqueued ran in the same drain.
    expect(t.enqueued().map((j) => j.task)).toEqual(['charge', 'order', 'ship']);
    expect(await t.enqueued()[2]!.job.result()).toBe('shipped o-1');
    expect(seen.sort()).toEqual(['run charge', 'run order', 'run ship']);
    // Jobs enqueued after a drain wait for the next one.
    const later = await charge.enqueue(1, 'visa');
    await new Promise((r) => setTimeout(r, 20));
    expect(await later.status()).toBe('waiting');
  });

  it('rejects drain() with the error a job threw for good, fail-fast, and counts it otherwise', async () => {
    const { app, charge } = shopApp();
    const t = await kit(app);
    await charge.with({ maxTries: 1 }).enqueue(100, 'bad');
    const err = await t.drain().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentDeclined);
    expect((err as PaymentDeclined).code).toBe('insufficient');
    await charge.with({ maxTries: 1 }).enqueue(100, 'bad');
    await charge.enqueue(100, 'visa');
    expect(await t.drain({ failFast: false })).toMatchObject({ completed: 1, failed: 1 });
    expect((await app.deadLetters('orders').list()).map((e) => e.reason)).toEqual(['max-tries', 'max-tries']);
  });

  it('gives up past maxJobs on a job that enqueues itself, with a DrainLimitError', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const q = app.queue('q');
    const forever: { enqueue(): Promise<unknown> } = q.task('forever', async () => {
      await forever.enqueue();
    });
    const t = await kit(app);
    await forever.enqueue();
    await expect(t.drain({ maxJobs: 25 })).rejects.toThrow(DrainLimitError);
  });

  it('run() sends one job through the whole path and answers its typed result, or throws its error', async () => {
    const { app, charge, ship, seen } = shopApp();
    const t = await kit(app);
    await ship.enqueue('waits');
    const out = await t.run(charge, 250, 'visa');
    expect(out).toEqual({ charged: 500, card: 'visa', at: new Date(START).toISOString() });
    expect(seen).toEqual(['run charge']);
    // Only that job ran: the one waiting before it still waits.
    expect(t.enqueued(ship)[0]!.job.id).toBeDefined();
    expect(await t.enqueued(ship)[0]!.job.status()).toBe('waiting');
    await expect(t.run(charge, 1, 'bad')).rejects.toBeInstanceOf(PaymentDeclined);
    // Signed on the way in: the header carries a signature.
    const [rec] = t.enqueued(charge);
    expect((await rec!.job.info()).status).toBe('completed');
  });

  it('runs several run() calls at once, each to its own result, and shuts the gate after the last', async () => {
    const { app, charge, ship } = shopApp();
    const t = await kit(app);
    const [a, b, c] = await Promise.all([t.run(charge, 1, 'visa'), t.run(charge, 2, 'amex'), t.run(ship, 'o-2')]);
    expect([a.charged, b.charged, c]).toEqual([2, 4, 'shipped o-2']);
    const after = await ship.enqueue('o-3');
    await new Promise((r) => setTimeout(r, 20));
    expect(await after.status()).toBe('waiting');
  });

  it('run() answers a timeout on the clock as JobTimeoutError', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow = app.queue('q').task('slow', (ctx) => {
      started();
      return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
    }, { timeout: '1h' });
    const t = await kit(app);
    const outcome = t.run(slow).catch((e: unknown) => e);
    await running;
    await t.clock.advance('59m');
    await t.clock.advance('1h');
    expect(await outcome).toBeInstanceOf(JobTimeoutError);
  });
});

describe('millrace/testing: the clock', () => {
  it('never runs a delayed job early; a 24 h delay runs once the clock gets there', async () => {
    const { app, ship } = shopApp();
    const t = await kit(app);
    const job = await ship.with({ delay: '24h' }).enqueue('o-9');
    expect(await t.drain()).toMatchObject({ completed: 0, delayed: 1 });
    await t.clock.advance(24 * 3600_000 - 1);
    expect(await t.drain()).toMatchObject({ completed: 0, delayed: 1 });
    expect(await job.status()).toBe('delayed');
    await t.clock.advance(1);
    expect(await t.drain()).toMatchObject({ completed: 1, delayed: 0 });
    expect(await job.result()).toBe('shipped o-9');
  });

  it('runs retries with backoff as the clock advances, or all of them with drain({ advance: true })', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    let calls = 0;
    const flaky = app.queue('q').task('flaky', async () => {
      if (++calls < 3) throw new Error(`flake ${calls}`);
      return calls;
    }, { maxTries: 3, backoff: { type: 'fixed', base: '10m', jitter: false } });
    const t = await kit(app);
    const job = await flaky.enqueue();
    expect(await t.drain()).toMatchObject({ started: 1, retried: 1, delayed: 1 });
    await t.clock.advance('9m');
    expect(await t.drain()).toMatchObject({ started: 0 });
    await t.clock.advance('1m');
    expect(await t.drain()).toMatchObject({ started: 1, retried: 1 });
    const before = t.clock.now();
    expect(await t.drain({ advance: true })).toMatchObject({ started: 1, completed: 1, delayed: 0 });
    expect(t.clock.now()).toBe(before + 600_000);
    expect(await job.result()).toBe(3);
  });

  it('runs a rate-limited queue as the clock allows: its jobs wait without advance, drain({ advance: true }) moves the clock to each token', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const starts: number[] = [];
    const ping = app.queue('api', { rateLimit: { max: 2, per: '1m' } }).task('ping', async (_ctx, n: number) => {
      starts.push(t.clock.now());
      return n;
    });
    const t = await kit(app);
    const t0 = t.clock.now();
    await ping.enqueueMany([[1], [2], [3], [4], [5]]);
    expect(await t.drain()).toMatchObject({ completed: 2, limited: 3 });
    expect(await t.drain({ advance: true })).toMatchObject({ completed: 3, limited: 0 });
    // The bucket's 2 at once, then one every 30 s of the clock's time.
    expect(starts.map((at) => at - t0)).toEqual([0, 0, 30_000, 60_000, 90_000]);
  });

  it("runs fair groups in turn, each group's rate limit on the clock: drain({ advance: true }) moves it to each group's next token", async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const starts: [string, number][] = [];
    const ping = app.queue('tenants', { groups: { key: (args) => args[0] as string, rateLimit: { max: 1, per: '1m' } } }).task('ping', async (ctx, _tenant: string) => {
      starts.push([ctx.group!, t.clock.now()]);
    });
    const t = await kit(app);
    const t0 = t.clock.now();
    await ping.enqueueMany([['a'], ['a'], ['a'], ['b']]);
    expect(await t.drain()).toMatchObject({ completed: 2, limited: 2 });
    expect(await t.drain({ advance: true })).toMatchObject({ completed: 2, limited: 0 });
    // a and b at once (a token each), then a's next two a minute apart on the clock.
    expect(starts.map(([g, at]) => `${g}+${at - t0}`)).toEqual(expect.arrayContaining(['a+0', 'b+0', 'a+60000', 'a+120000']));
    expect(starts).toHaveLength(4);
  });

  it('holds a queue after ctx.rateLimit() until the clock passes the hold; the job runs again without spending an attempt', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const attempts: number[] = [];
    const call = app.queue('upstream', { maxTries: 1 }).task('call', async (ctx) => {
      attempts.push(ctx.attempt);
      if (attempts.length === 1) throw await ctx.rateLimit('5m');
      return 'ok';
    });
    const t = await kit(app);
    const job = await call.enqueue();
    const other = await call.enqueue();
    const before = t.clock.now();
    expect(await t.drain({ advance: true })).toMatchObject({ completed: 2, limited: 0 });
    expect(t.clock.now() - before).toBeGreaterThanOrEqual(300_000);
    expect(attempts).toEqual([1, 1, 1]);
    expect(await job.result()).toBe('ok');
    expect(await other.result()).toBe('ok');
  });

  it('fires cron ticks in order as the clock advances', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const ticks: string[] = [];
    const report = app.queue('q').task('report', async (ctx) => {
      ticks.push(ctx.id);
    });
    app.cron('*/5 * * * *', report, { name: 'five' });
    const t = await kit(app, { mode: 'live', now: START + 1000 });
    await t.clock.advance('15m');
    await t.drain();
    // The tick of 00:00 a second ago is within the default drift: a starting worker fires it.
    expect(ticks).toEqual([`cron:five:${START}`, `cron:five:${START + 300_000}`, `cron:five:${START + 600_000}`, `cron:five:${START + 900_000}`]);
  });
});

describe('millrace/testing: one advance, in order', () => {
  it('runs delayed jobs, retries and cron ticks at their own times within one advance', async () => {
    const app = new Millrace({ logLevel: 'silent' });
    const q = app.queue('q');
    const ran: [string, number][] = [];
    // The broker's time when a job runs: the manual clock's.
    const now = async () => (await app.broker.time()) - START;
    const note = q.task('note', async (_ctx, what: string) => {
      ran.push([what, await now()]);
    });
    let tries = 0;
    const flaky = q.task('flaky', async () => {
      ran.push([`flaky ${++tries}`, await now()]);
      if (tries === 1) throw new Error('once');
    }, { maxTries: 2, backoff: { type: 'fixed', base: '90m', max: '90m', jitter: false } });
    app.cron('0 2 * * *', note, { name: 'two', args: ['cron 02:00'] });
    const t = await kit(app, { mode: 'live', now: START + 1000 });
    await note.with({ delay: '1h' }).enqueue('delay 1h');
    await note.with({ runAt: START + 3 * 3600_000 }).enqueue('runAt 03:00');
    await flaky.enqueue();
    await t.clock.advance('4h');
    await t.drain();
    expect(ran).toEqual([
      ['flaky 1', 1000],
      ['delay 1h', 3_601_000],
      ['flaky 2', 5_401_000],
      ['cron 02:00', 7_200_000],
      ['runAt 03:00', 10_800_000],
    ]);
    // A job whose result expired meanwhile is not known any more: waitFor says so, it does not hang.
    await t.clock.advance('2h');
    await expect(t.waitFor(t.enqueued(flaky)[0]!.job, 'completed')).rejects.toThrow(/not found/);
  });
});

describe('millrace/testing: workflows', () => {
  it('drain() runs a workflow to its end on the memory broker, stage after stage', async () => {
    const { app, charge, ship } = shopApp();
    const label = app.queue('orders').task('label', async (_ctx, shipped: string[], carrier: string) => `${carrier}: ${shipped.join(' + ')}`);
    const t = await kit(app);
    const wf = await chain(group([ship.s('o-1'), ship.s('o-2')]), label.s('ups')).start({ id: 'wf-kit' });
    const report = await t.drain();
    expect(report).toMatchObject({ completed: 3, failed: 0 });
    expect(await wf.result()).toBe('ups: shipped o-1 + shipped o-2');
    expect((await app.workflow('wf-kit').status()).state).toBe('completed');
    // A failed node fails its workflow here too.
    const broken = await chain(charge.s(1, 'bad')).start();
    // Its retries wait on the manual clock: drain moves it on.
    await t.drain({ failFast: false, advance: true });
    expect((await broken.status()).state).toBe('failed');
  });
});

describe('millrace/testing: live mode and waitFor', () => {
  it('runs jobs as they come and waits for an outcome without polling', async () => {
    const { app, charge } = shopApp();
    const t = await kit(app, { mode: 'live' });
    const ok = await charge.enqueue(10, 'visa');
    await t.waitFor(ok, 'completed');
    expect((await ok.result()).charged).toBe(20);
    const bad = await charge.with({ maxTries: 1 }).enqueue(10, 'bad');
    await t.waitFor(bad, 'dead');
    await t.waitFor(bad, 'failed');
    await expect(t.waitFor(bad, 'completed')).rejects.toBeInstanceOf(JobFailedError);
    await expect(t.waitFor(ok, 'dead')).rejects.toThrow(/completed, not dead/);
  });
});

describe('millrace/testing: isolation and cleanup', () => {
  it('gives the app back its own broker and leaves no timer or handle behind', async () => {
    const { app, charge } = shopApp({ redis: REDIS_URL });
    // The app's own broker, connected (a steady socket) before the count.
    const own = app.broker;
    await own.ping();
    const before = resources();
    {
      await using t = await createTestApp(app, { mode: 'live' });
      expect(app.broker).not.toBe(own);
      await t.waitFor(await charge.enqueue(1, 'visa'), 'completed');
      await t.drain();
    }
    expect(app.broker).toBe(own);
    expect(app.middleware).toHaveLength(1);
    // Nothing that keeps the process alive is left: the same count of each kind of handle as before.
    // (Not fewer either, but a transient timer of before, an earlier test's or the connection's,
    // may have ended meanwhile: a loaded CI run saw { Timeout: 1 } before and none after.)
    const after = resources();
    expect(Object.entries(after).filter(([kind, n]) => n > (before[kind] ?? 0))).toEqual([]);
    // A second kit on the same app starts from nothing.
    const t2 = await kit(app);
    expect(t2.enqueued()).toEqual([]);
    expect(await app.inspector.counts(app.queues.get('orders')!)).toMatchObject({ waiting: { low: 0, normal: 0, high: 0 } });
    await t2.close();
    await app.close();
  });

  it("runs on the app's Redis under a prefix of its own, removed at close", async () => {
    const prefix = uniquePrefix('kit');
    const app = new Millrace({ redis: REDIS_URL, prefix, logLevel: 'silent' });
    const add = app.queue('q').task('add', async (_ctx, a: number, b: number) => a + b);
    const t = await createTestApp(app, { broker: 'redis' });
    expect(await t.run(add, 2, 3)).toBe(5);
    await add.enqueue(1, 1);
    // A delayed job does not run early on Redis either: the drain leaves it delayed.
    const later = await add.with({ delay: '1h' }).enqueue(2, 2);
    expect(await t.drain()).toMatchObject({ completed: 1, delayed: 1 });
    expect(await later.status()).toBe('delayed');
    await expect(t.clock.advance('1m')).rejects.toThrow(/memory broker/);
    await t.close();
    await app.close();
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.keys(`*${prefix}*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a second kit on an app under test, and bad options, naming them', async () => {
    const { app } = shopApp();
    await kit(app);
    await expect(createTestApp(app)).rejects.toThrow(/already runs under a test kit/);
    await expect(createTestApp(new Millrace(), { broker: 'sqlite' as never })).rejects.toThrow(/createTestApp.broker/);
  });
});
