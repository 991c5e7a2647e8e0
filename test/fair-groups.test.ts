// Fair groups with real workers on the test Redis (docs/flow-control.md#fair-groups): a group
// with thousands of jobs does not delay groups with one (they start in the first rounds); a
// group's rate limit holds per group while other groups run; ctx.rateLimit({ group: true })
// holds only the job's group; a paused group waits and resumes; a worker waiting for a resting
// group sends no fetch meanwhile (MONITOR); bad group options and keys are refused by name.
// The per-group cap across worker processes and kill -9: test/global-concurrency.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/index.js';
import { testApps, waitFor } from './helpers.js';
import { expectQuietWait, watchScriptCalls } from './support/monitor.js';

describe('fair groups', { timeout: 60_000 }, () => {
  const apps = testApps();
  const tracker = apps.tracker;
  afterEach(() => apps.cleanup());

  it('serves a group of one in the first rounds, however many jobs another group holds', async () => {
    const t = apps.app('fair');
    const order: string[] = [];
    const q = t.app.queue('reports', { concurrency: 4, groups: { key: (args) => (args[0] as { tenant: string }).tenant } });
    const report = q.task('report', async (_ctx, job: { tenant: string; n: number }) => {
      order.push(job.tenant);
      return job.n;
    });
    const big = await report.enqueueMany(Array.from({ length: 3000 }, (_, n) => [{ tenant: 'big', n }] as [{ tenant: string; n: number }]));
    const small = await Promise.all(['s1', 's2', 's3', 's4', 's5'].map((tenant) => report.enqueue({ tenant, n: -1 })));
    expect(await t.app.groups('reports')).toEqual([
      { key: 'big', waiting: 3000, paused: false },
      ...['s1', 's2', 's3', 's4', 's5'].map((key) => ({ key, waiting: 1, paused: false })),
    ]);
    expect((await t.app.inspector.counts(q)).grouped).toBe(3005);
    await tracker.start(t.app, { queues: ['reports'] });
    await Promise.all(small.map((j) => j.result({ timeout: 30_000 })));
    // Round robin: each small group's job is served in the first round or two (a fetch serves
    // one job per group per turn); never behind the big group's backlog.
    const positions = ['s1', 's2', 's3', 's4', 's5'].map((s) => order.indexOf(s));
    expect(Math.max(...positions)).toBeLessThan(12);
    await Promise.all([big[0]!, big[2999]!].map((j) => j.result({ timeout: 30_000 })));
    await waitFor(() => order.length === 3005, { timeout: 30_000, what: 'every job' });
    expect((await t.app.inspector.counts(q)).grouped).toBeUndefined();
  });

  it('serves the groups of a sharded queue round robin on each shard', async () => {
    const t = apps.app('gshards');
    const order: string[] = [];
    const q = t.app.queue('wide', { concurrency: 2, shards: 2, groups: {} });
    const work = q.task('work', async (ctx) => void order.push(ctx.group!));
    const inGroup = (group: string, n: number) => work.enqueueMany(Array.from({ length: n }, () => ({ args: [] as [], options: { group } })));
    const big = await inGroup('big', 400);
    const small = (await Promise.all(['s1', 's2', 's3', 's4'].map((g) => inGroup(g, 1)))).flat();
    expect((await t.app.inspector.counts(q)).grouped).toBe(404);
    expect((await t.app.groups('wide')).find((g) => g.key === 'big')).toEqual({ key: 'big', waiting: 400, paused: false });
    await tracker.start(t.app, { queues: ['wide'] });
    await Promise.all(small.map((j) => j.result({ timeout: 30_000 })));
    expect(Math.max(...['s1', 's2', 's3', 's4'].map((g) => order.indexOf(g)))).toBeLessThan(20);
    await Promise.all(big.map((j) => j.result({ timeout: 30_000 })));
  });

  it("holds each group to its rate limit while the others run, and ctx.rateLimit({ group: true }) holds only the job's group", async () => {
    const t = apps.app('grate');
    const starts: Record<string, number[]> = { a: [], b: [], api: [] };
    let heldAt = 0;
    const q = t.app.queue('calls', { concurrency: 8, groups: { rateLimit: { max: 4, per: 400 } } });
    const call = q.task('call', async (ctx, n: number) => {
      starts[ctx.group!]!.push(Date.now());
      if (ctx.group === 'api' && n === 0 && heldAt === 0) {
        heldAt = Date.now();
        throw await ctx.rateLimit(1000, { group: true });
      }
      return n;
    });
    const t0 = Date.now();
    const jobs = [
      ...(await call.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ args: [i] as [number], options: { group: 'a' } })))),
      ...(await call.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ args: [i] as [number], options: { group: 'b' } })))),
    ];
    const api = await call.with({ group: 'api' }).enqueue(0);
    await tracker.start(t.app, { queues: ['calls'] });
    await tracker.start(t.app, { queues: ['calls'] });
    await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })));
    // 12 jobs at 4 per 400 ms with a bucket of 4, per group: at least 800 ms each, and the two
    // groups side by side (not one after the other: 1,600 ms).
    for (const g of ['a', 'b']) {
      const s = starts[g]!.sort((x, y) => x - y);
      expect(s).toHaveLength(12);
      expect(s[11]! - t0).toBeGreaterThanOrEqual(800 - 50);
      for (let i = 0; i < s.length; i++) expect(s.filter((at) => at >= s[i]! && at < s[i]! + 400).length).toBeLessThanOrEqual(8 + 1);
    }
    expect(await api.result({ timeout: 15_000 })).toBe(0);
    expect(starts.api).toHaveLength(2);
    expect(starts.api![1]! - heldAt).toBeGreaterThanOrEqual(1000 - 30);
    // The hold was the group's: a and b went on meanwhile.
    expect([...starts.a!, ...starts.b!].some((at) => at > heldAt && at < heldAt + 900)).toBe(true);
  });

  it('a paused group waits while the others are served, and runs once resumed', async () => {
    const t = apps.app('gpause');
    const done: string[] = [];
    const q = t.app.queue('jobs', { concurrency: 2, groups: {} });
    const work = q.task('work', async (ctx) => void done.push(ctx.group!));
    await t.app.pauseGroup('jobs', 'x');
    const inGroup = (group: string, n: number) => work.enqueueMany(Array.from({ length: n }, () => ({ args: [] as [], options: { group } })));
    const x = await inGroup('x', 3);
    const y = await inGroup('y', 2);
    await tracker.start(t.app, { queues: ['jobs'] });
    await Promise.all(y.map((j) => j.result({ timeout: 15_000 })));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toEqual(['y', 'y']);
    expect(await x[0]!.status()).toBe('waiting');
    expect(await t.app.groups('jobs')).toEqual([{ key: 'x', waiting: 3, paused: true }]);
    await t.app.resumeGroup('jobs', 'x');
    await Promise.all(x.map((j) => j.result({ timeout: 15_000 })));
    expect(done).toEqual(['y', 'y', 'x', 'x', 'x']);
    expect(await t.app.groups('jobs')).toEqual([]);
  });

  it('a worker waiting for a resting group sends no fetch meanwhile', async () => {
    const t = apps.app('gidle');
    const q = t.app.queue('slow', { concurrency: 5, groups: { rateLimit: { max: 1, per: 3000 } } });
    const work = q.task('work', async (_ctx, n: number) => n);
    const jobs = await work.enqueueMany([1, 2].map((n) => ({ args: [n] as [number], options: { group: 'g' } })));
    // A call of the fetch script: the one naming the ring and the consumer group.
    await expectQuietWait(() => tracker.start(t.app, { queues: ['slow'] }), jobs, (args) => args.some((a) => a.includes(`${t.prefix}:slow}:ring`)) && args.includes('millrace'));
  });

  it("a worker waiting on a group at its cap sends no fetch until a permit comes back, then starts the next job at once", async () => {
    const t = apps.app('gfullwait');
    const q = t.app.queue('slow', { concurrency: 3, groups: { concurrency: 1 } });
    const work = q.task('work', async (_ctx, ms: number) => new Promise((r) => setTimeout(r, ms)));
    const jobs = await work.enqueueMany([2500, 10].map((ms) => ({ args: [ms] as [number], options: { group: 'g' } })));
    const watch = await watchScriptCalls((args) => args.some((a) => a.includes(`${t.prefix}:slow}:ring`)) && args.includes('millrace'));
    try {
      // A read block longer than the first job: the wait is one blocked read.
      await tracker.start(t.app, { queues: ['slow'], blockTime: 5000 });
      await jobs[1]!.result({ timeout: 15_000 });
      const first = await jobs[0]!.info();
      const second = await jobs[1]!.info();
      // Blocked on the groups bell while the first ran (no poll every 100 ms: that would be ~25).
      expect(watch.calls.filter((at) => at > first.startedAt! + 200 && at < first.finishedAt! - 200).length).toBeLessThanOrEqual(1);
      expect(second.startedAt! - first.finishedAt!).toBeLessThan(1000);
    } finally {
      watch.stop();
    }
  });

  it('a worker waiting for a resting group starts another group\'s new job at once', async () => {
    const t = apps.app('grestwake');
    const q = t.app.queue('api', { concurrency: 2, groups: { rateLimit: { max: 1, per: 5000 } } });
    const work = q.task('work', async (_ctx, n: number) => n);
    const limited = await work.enqueueMany([1, 2].map((n) => ({ args: [n] as [number], options: { group: 'slow' } })));
    await tracker.start(t.app, { queues: ['api'] });
    await limited[0]!.result({ timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 300)); // the worker now waits for group slow's next token
    const other = await work.with({ group: 'other' }).enqueue(3);
    expect(await other.result({ timeout: 15_000 })).toBe(3);
    const info = await other.info();
    // Not after slow's rest (5 s): the wait was a read woken by the new job's group.
    expect(info.startedAt! - info.enqueuedAt!).toBeLessThan(2000);
    expect(await limited[1]!.status()).toBe('waiting');
  });

  it("runs a group with limits of its own (a VIP's cap) beside groups at the queue's, across workers", async () => {
    const t = apps.app('glimits');
    const running: Record<string, number> = {};
    const most: Record<string, number> = {};
    const q = t.app.queue('tenants', { concurrency: 4, groups: { key: (args) => args[0] as string, concurrency: 1 } });
    const work = q.task('work', async (ctx, _tenant: string) => {
      const g = ctx.group!;
      running[g] = (running[g] ?? 0) + 1;
      most[g] = Math.max(most[g] ?? 0, running[g]!);
      await new Promise((r) => setTimeout(r, 150));
      running[g]!--;
    });
    await t.app.setGroupLimits('tenants', 'vip', { concurrency: 3 });
    expect((await t.app.groups('tenants'))).toEqual([]);
    const jobs = await work.enqueueMany([...Array.from({ length: 12 }, () => ['vip'] as [string]), ...Array.from({ length: 6 }, () => ['free'] as [string])]);
    expect((await t.app.groups('tenants')).find((g) => g.key === 'vip')?.limits).toEqual({ concurrency: 3 });
    await tracker.start(t.app, { queues: ['tenants'] });
    await tracker.start(t.app, { queues: ['tenants'] });
    await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })));
    // Over two workers of concurrency 4: vip past the queue's cap, up to its own of 3 (a loaded
    // machine may not overlap all three), free at the queue's 1.
    expect(most.vip).toBeGreaterThanOrEqual(2);
    expect(most.vip).toBeLessThanOrEqual(3);
    expect(most.free).toBe(1);
    await t.app.setGroupLimits('tenants', 'vip', null);
    await expect(t.app.setGroupLimits('tenants', 'vip', { concurrency: 0 })).rejects.toThrow(/group limits\.concurrency.*an integer >= 1, or null/);
    await expect(t.app.setGroupLimits('tenants', 'vip', { rateLimit: { max: 5, per: 'soon' } })).rejects.toThrow(/group limits\.rateLimit\.per/);
    await expect(t.app.setGroupLimits('tenants', 'vip', { cap: 3 } as never)).rejects.toThrow(/group limits\.cap.*concurrency, rateLimit/);
  });

  it('refuses bad group options and keys, naming them', async () => {
    const t = apps.app('gbad');
    expect(() => t.app.queue('sharded', { shards: 2, groups: { concurrency: 2 } })).toThrow(ConfigError);
    expect(() => t.app.queue('bad', { groups: { concurrency: 0 } })).toThrow(/queue 'bad'\.groups/);
    const plain = t.app.queue('plain').task('t', async () => 1);
    await expect(plain.with({ group: 'x' }).enqueue()).rejects.toThrow(/enqueue\.group.*queue 'plain' has none/);
    const keyed = t.app.queue('keyed', { groups: { key: (args) => args[0] as string } }).task('t', async (_ctx, _k: unknown) => 1);
    await expect(keyed.enqueue(42)).rejects.toThrow(/queue 'keyed'\.groups\.key.*1-200 characters/);
    await expect(keyed.enqueueMany([['']])).rejects.toThrow(/groups\.key/);
    await expect(t.app.pauseGroup('keyed', '')).rejects.toThrow(/group/);
  });
});
