// One queue stored as several shards (`shards: N`), on the test Redis: enqueue spreads jobs over
// the shards (round robin; a custom id always to its hash's shard, so dedup stays exact), a
// worker serves every shard under one concurrency limit without starving any, and everything
// done by id or over the whole queue (status, info, result, abort, progress, the DLQ, job lists,
// events, counts) sees one queue, from a process that defines it and from one that does not.

import { afterEach, describe, expect, it } from 'vitest';
import { Millrace } from '../src/index.js';
import type { StoredEvent } from '../src/broker/types.js';
import { shardOfId, shardRefs } from '../src/shards/index.js';
import { queueKeys } from '../src/redis/keys.js';
import { testApps, waitFor } from './helpers.js';
import { createTestApp } from '../src/testing/index.js';
import { runCli } from './fixtures/children.js';
import type { QueueReport } from '../src/cli/commands/queues.js';
import { slotOf } from '../src/redis/topology.js';


describe('a sharded queue', { timeout: 60_000 }, () => {
  const apps = testApps();
  const tracker = apps.tracker;
  afterEach(() => apps.cleanup());

  function setup(shards = 6) {
    const t = apps.app('shards');
    const hot = t.app.queue('hot', { shards, concurrency: 4, priorities: ['low', 'high'], defaultPriority: 'low', maxTries: 2, backoff: { type: 'fixed', base: 50 } });
    return { t, app: t.app, hot };
  }

  /** An app under the same prefix that does not define the queue (another service, the CLI). */
  const outsider = (prefix: string) => apps.outsider(prefix);

  it('spreads jobs round robin over its shards, each under its own hash tag, and names the shard in every id', async () => {
    const { app, hot } = setup();
    const echo = hot.task('echo', async (_ctx, n: number) => n);
    const bulk = await echo.enqueueMany(Array.from({ length: 600 }, (_, i) => [i]));
    const single = await Promise.all(Array.from({ length: 60 }, (_, i) => echo.enqueue(i)));
    const ids = [...bulk, ...single].map((j) => j.id);
    expect(new Set(ids).size).toBe(660);
    const counts = await app.inspector.counts(hot);
    expect(counts.waiting.low).toBe(660);
    expect(counts.shards!.map((s) => s.waiting.low)).toEqual([110, 110, 110, 110, 110, 110]);
    // Each shard's ids carry its index (sequence number modulo 6), so any process finds a job.
    for (const [s, ref] of shardRefs(hot).entries()) {
      const listed = await app.inspector.listJobs(ref, 'waiting', 1000);
      expect(listed).toHaveLength(110);
      expect(listed.every((j) => shardOfId(j.id, 6) === s)).toBe(true);
    }
    // Each shard's hash tag is in its own sixth of the Cluster slots (masters own equal ranges).
    const slots = shardRefs(hot).map((_, s) => slotOf(queueKeys(app.prefix, `hot#${s}/6`, []).base));
    expect(slots.map((slot) => Math.floor((slot * 6) / 16384))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('keeps a custom id on one shard: a second enqueue finds it, by id from any process', async () => {
    const { app, t, hot } = setup();
    const echo = hot.task('echo', async (_ctx, n: number) => n);
    const first = await echo.with({ id: 'order-1' }).enqueue(1);
    const again = await echo.with({ id: 'order-1' }).enqueue(2);
    expect([first.created, again.created]).toEqual([true, false]);
    // In one bulk call too, each custom id to its own shard, the repeated one found there.
    const bulk = await echo.enqueueMany([{ args: [3], options: { id: 'order-2' } }, { args: [4], options: { id: 'order-1' } }, { args: [5], options: { id: 'order-3' } }]);
    expect(bulk.map((j) => j.created)).toEqual([true, false, true]);
    const other = outsider(t.prefix);
    expect(await other.job('hot', 'order-1').status()).toBe('waiting');
    const info = await other.job('hot', 'order-1').info();
    expect(info.args).toEqual([1]);
    expect((await app.inspector.counts(hot)).waiting.low).toBeGreaterThanOrEqual(1);
    const shard = shardOfId('order-1', 6);
    const listed = await app.inspector.listJobs(shardRefs(hot)[shard]!, 'waiting', 10);
    expect(listed.map((j) => j.id)).toContain('order-1');
  });

  it('runs every shard under one concurrency limit, honouring priority within each shard', async () => {
    const { app, hot } = setup();
    let running = 0;
    let most = 0;
    const order: { tag: string; shard: number }[] = [];
    const work = hot.task('work', async (ctx, tag: string) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push({ tag, shard: shardOfId(ctx.id, 6) });
      running--;
      return tag;
    });
    await work.enqueueMany(Array.from({ length: 120 }, (_, i) => [`low-${i}`]));
    await work.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ args: [`high-${i}`] as [string], options: { priority: 'high' } })));
    await tracker.start(app, { queues: ['hot'] });
    await waitFor(() => order.length === 132, { timeout: 30_000, what: 'all jobs run' });
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(1);
    // Within each shard, its 2 high jobs run first: fetched first, and a fetch takes at most the
    // queue's capacity (8), so nothing fetched later runs before them.
    for (let s = 0; s < 6; s++) {
      const mine = order.filter((o) => o.shard === s).map((o) => o.tag);
      expect(mine).toHaveLength(22);
      expect(mine.slice(0, 2).every((t) => t.startsWith('high'))).toBe(true);
    }
    const stats = tracker.last!.stats().queues.hot!;
    expect(stats.completed).toBe(132);
    expect(tracker.last!.entry().concurrency).toBe(4);
    expect(tracker.last!.entry().queues).toEqual(['hot']);
  });

  it('serves the shards fairly: no shard waits while another is served', async () => {
    const { app, hot } = setup();
    // Each job notes its shard when it starts: the order the worker served them in.
    const starts: number[] = [];
    const tick = hot.task('tick', async (ctx) => {
      starts.push(shardOfId(ctx.id, 6));
      await new Promise((r) => setTimeout(r, 2));
    });
    await Promise.all(Array.from({ length: 6 }, () => tick.enqueue()));
    await tick.enqueueMany(Array.from({ length: 900 }, () => [] as []));
    await tracker.start(app, { queues: ['hot'] });
    await waitFor(() => starts.length === 906, { timeout: 30_000, what: 'every job run' });
    // From when every shard's fetch loop runs (the worker starts them one after another, the
    // first may serve a few rounds alone), while every shard still has jobs (151 each), the
    // shards' served counts stay level.
    const seen = new Set<number>();
    const from = starts.findIndex((s) => seen.add(s).size === 6);
    const served = [0, 0, 0, 0, 0, 0];
    let spread = 0;
    for (const s of starts.slice(from + 1, from + 1 + 6 * 90)) {
      served[s]!++;
      spread = Math.max(spread, Math.max(...served) - Math.min(...served));
    }
    expect(from).toBeLessThan(100);
    expect(served.every((n) => n > 60)).toBe(true);
    // Within two fetches' worth (capacity 8: a shard fetches up to 8 in its turn); before the
    // shards took room in turn, one shard fell 75 jobs behind the others.
    expect(spread).toBeLessThanOrEqual(16);
  });

  it('retries, dead-letters and replays over the shards, the DLQ listed as one with shard-named ids', async () => {
    const { app, t, hot } = setup(3);
    const fail = hot.task('fail', async (_ctx, n: number) => {
      throw new Error(`no ${n}`);
    });
    const jobs = await fail.enqueueMany(Array.from({ length: 9 }, (_, i) => [i]));
    await tracker.start(app, { queues: ['hot'] });
    const dlq = app.deadLetters('hot');
    await waitFor(async () => (await dlq.count()) === 9, { timeout: 20_000, what: '9 dead letters' });
    await tracker.stopAll();
    const page1 = await dlq.list({ limit: 4 });
    const page2 = await dlq.list({ limit: 4, after: page1.at(-1)!.dlqId });
    const page3 = await dlq.list({ limit: 4, after: page2.at(-1)!.dlqId });
    const listed = [...page1, ...page2, ...page3];
    expect(listed.map((e) => e.id).sort()).toEqual(jobs.map((j) => j.id).sort());
    expect(listed.every((e) => /^\d+-\d+@[0-2]$/.test(e.dlqId) && e.queue === 'hot' && e.attempts === 2)).toBe(true);
    const one = listed[0]!;
    expect((await dlq.show(one.dlqId))?.id).toBe(one.id);
    const other = outsider(t.prefix);
    expect(await other.deadLetters('hot').count()).toBe(9);
    expect(await other.deadLetters('hot').replay(one.dlqId)).toEqual([one.id]);
    expect(await other.job('hot', one.id).status()).toBe('waiting');
    expect(await dlq.delete([listed[1]!.dlqId, listed[2]!.dlqId])).toBe(2);
    expect(await dlq.purge()).toBe(6);
    await expect(dlq.show('1-0')).rejects.toThrow(/<entry>@<shard>/);
  });

  it('answers by id from a process that does not define it: result, abort of a running job, progress, events', async () => {
    const { app, t, hot } = setup();
    let aborted = 0;
    const slow = hot.task('slow', async (ctx) => {
      await ctx.progress({ at: 'start' });
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted++;
      throw ctx.signal.reason;
    });
    const quick = hot.task('quick', async (_ctx, n: number) => n * 2);
    const q = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => quick.enqueue(n)));
    const s = await slow.enqueue();
    await tracker.start(app, { queues: ['hot'] });
    const other = outsider(t.prefix);
    expect(await Promise.all(q.map((j) => other.job<number>('hot', j.id).result({ timeout: 10_000 })))).toEqual([2, 4, 6, 8, 10, 12, 14]);
    await waitFor(async () => (await other.job('hot', s.id).status()) === 'active', { what: 'slow job running' });
    expect(await other.job('hot', s.id).progress()).toEqual({ at: 'start' });
    expect(await other.job('hot', s.id).abort()).toBe('aborting');
    await waitFor(() => aborted === 1, { what: 'the abort reaching the handler' });
    await waitFor(async () => (await other.job('hot', s.id).status()) === 'aborted', { what: 'aborted' });
    // The worker publishes its events in batches: wait for the last ones.
    const completedIds = (events: StoredEvent[]) => events.filter((e) => e.event.type === 'job.completed').map((e) => (e.event as { id: string }).id).sort();
    const events = await waitFor(async () => {
      const read = (await other.readEvents({ queues: ['hot'], count: 1000 })).events;
      return completedIds(read).length === q.length ? read : undefined;
    }, { what: 'every completion in the events' });
    expect(completedIds(events)).toEqual(q.map((j) => j.id).sort());
    expect(events.every((e) => e.event.type.startsWith('worker.') || (e.event as { queue: string }).queue === 'hot')).toBe(true);
    expect(new Set(events.map((e) => e.queue)).size).toBeGreaterThan(1);
    const enq = events.filter((e) => e.event.type === 'job.enqueued').map((e) => (e.event as { id: string }).id);
    expect(enq.sort()).toEqual([...q.map((j) => j.id), s.id].sort());
  });

  it('shows as one queue in the CLI: queues with each shard, status, and the DLQ by shard-named ids', async () => {
    const { app, t, hot } = setup(3);
    const fail = hot.task('fail', async () => {
      throw new Error('no');
    });
    const jobs = await fail.enqueueMany([[], [], [], []]);
    await tracker.start(app, { queues: ['hot'] });
    await waitFor(async () => (await app.deadLetters('hot').count()) === 4, { timeout: 20_000, what: '4 dead letters' });
    await tracker.stopAll();
    const cli = (args: string[]) => runCli(args, { MILLRACE_PREFIX: t.prefix });
    const [queues, status, list] = await Promise.all([
      cli(['queues', '--json']), cli(['status', jobs[0]!.id, '--json']), cli(['dlq', 'list', '--queue', 'hot', '--json']),
    ]);
    const row = (JSON.parse(queues.stdout) as QueueReport[]).find((r) => r.name === 'hot')!;
    expect(row.dlq).toBe(4);
    expect(row.shards!.map((s) => s.dlq).reduce((a, b) => a + b, 0)).toBe(4);
    expect(row.shards).toHaveLength(3);
    expect(JSON.parse(status.stdout)).toMatchObject({ queue: 'hot', status: 'failed' });
    const ids = (JSON.parse(list.stdout) as { dlqId: string }[]).map((e) => e.dlqId);
    expect(ids).toHaveLength(4);
    const replay = await cli(['dlq', 'replay', ids[0]!, '--queue', 'hot']);
    expect(replay.code).toBe(0);
    expect(await app.deadLetters('hot').count()).toBe(3);
    expect((await cli(['queues'])).stdout).toMatch(/hot \(3 shards\)/);
  });

  it('refuses a shard count out of range, naming the option', () => {
    const t = apps.app('shards');
    expect(() => t.app.queue('x', { shards: 0 })).toThrow(/shards/);
    expect(() => t.app.queue('y', { shards: 1.5 })).toThrow(/shards/);
  });
});

describe('a sharded queue under millrace/testing (memory broker)', () => {
  it('runs jobs, retries, cron ticks and dedup by id as one queue, on the manual clock', async () => {
    const start = Date.UTC(2030, 0, 1);
    const app = new Millrace({ logLevel: 'silent', redis: 'redis://127.0.0.1:1' });
    const hot = app.queue('hot', { shards: 4, maxTries: 3, backoff: { type: 'fixed', base: 60_000 } });
    const ticks: string[] = [];
    let failures = 0;
    const flaky = hot.task('flaky', async (_ctx, n: number) => {
      if (failures++ < 2) throw new Error('not yet');
      return n + 1;
    });
    const echo = hot.task('echo', async (_ctx, n: number) => n);
    const report = hot.task('report', async (ctx) => {
      ticks.push(ctx.id);
    });
    app.cron('*/5 * * * *', report, { name: 'five' });
    const t = await createTestApp(app, { broker: 'memory', mode: 'live', now: start + 1000 });
    try {
      const jobs = await echo.enqueueMany(Array.from({ length: 40 }, (_, i) => [i]));
      expect(new Set(jobs.map((j) => shardOfId(j.id, 4)))).toEqual(new Set([0, 1, 2, 3]));
      const again = await echo.with({ id: 'one' }).enqueue(1);
      expect((await echo.with({ id: 'one' }).enqueue(2)).created).toBe(false);
      const f = await flaky.enqueue(1);
      await t.clock.advance('15m');
      await t.drain({ advance: true });
      expect(await Promise.all(jobs.map((j) => j.result()))).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(await again.result()).toBe(1);
      expect(await f.result()).toBe(2);
      expect(ticks).toEqual([0, 1, 2, 3].map((k) => `cron:five:${start + k * 300_000}`));
      expect(await app.job('hot', 'one').status()).toBe('completed');
    } finally {
      await t.close();
    }
  });
});
