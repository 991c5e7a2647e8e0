// Overseer's JSON API and actions against a real Redis, served through plain node:http and
// mounted in a Hono app: overview, jobs by status (paginated), a job, search, workers, dead
// letters and their replay/delete/purge, abort, pause/resume of a queue, cron, redaction, bad
// parameters.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { Millrace } from '../src/index.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { REDIS_URL, testApp, waitFor, workers } from './helpers.js';
import { json, SAME_ORIGIN, serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovapi');
const { app } = t;
const mails = app.queue('mails', { concurrency: 2, maxTries: 1 });
const send = mails.task('send', async (_ctx, to: string, _secret: { password: string }) => ({ sent: to }));
const broken = mails.task('broken', async (_ctx, n: number) => {
  throw new Error(`broken ${n}`);
});
const slow = app.queue('slow').task('wait_long', async (ctx) => {
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  throw ctx.signal.reason;
});

const tenants = app.queue('tenants', { groups: { key: (args) => args[0] as string } }).task('report', async (_ctx, _tenant: string) => null);

const tracker = workers({ heartbeatInterval: 200 });
let handler: OverseerHandler;
let served: Served;
const logged: Record<string, unknown>[] = [];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, body: await res.json() };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function post(path: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${served.url}${path}`, { method: 'POST', headers: SAME_ORIGIN, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  const log = app.log.child({});
  log.info = ((obj: Record<string, unknown>) => void logged.push(obj)) as typeof log.info;
  handler = overseer(app, { log, redact: (args) => (Array.isArray(args) && args.length === 2 && typeof args[1] === 'object' ? [args[0], { password: '***' }] : args) });
  served = await serveHandler(handler);
});

afterAll(async () => {
  await tracker.stopAll();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer API', () => {
  it('overview: every queue with ready per priority, delayed, running, dead letters; workers', async () => {
    await send.with({ priority: 'high' }).enqueue('a@x', { password: 'p' });
    await send.enqueueMany([['b@x', { password: 'p' }], ['c@x', { password: 'p' }]]);
    await send.with({ delay: '1h' }).enqueue('d@x', { password: 'p' });
    const { status, body } = await get('/api/overview');
    expect(status).toBe(200);
    const q = body.queues.find((x: { name: string }) => x.name === 'mails');
    expect(q).toMatchObject({ levels: ['critical', 'high', 'normal', 'low'], ready: { high: 1, normal: 2, low: 0, critical: 0 }, readyTotal: 3, delayed: 1, running: 0, dlq: 0 });
    expect(body.workers).toEqual([]);
  });

  it('jobs by status, a page at a time, and a job with its arguments redacted', async () => {
    const first = await get('/api/queues/mails/jobs?status=waiting&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.jobs).toHaveLength(2);
    expect(first.body.jobs[0]).toMatchObject({ state: 'waiting', task: 'send', attempt: 0 });
    expect(typeof first.body.next).toBe('string');
    const second = await get(`/api/queues/mails/jobs?status=waiting&limit=2&cursor=${encodeURIComponent(first.body.next)}`);
    expect(second.body.jobs).toHaveLength(1);
    if (second.body.next !== undefined) expect((await get(`/api/queues/mails/jobs?status=waiting&limit=2&cursor=${encodeURIComponent(second.body.next)}`)).body).toMatchObject({ jobs: [] });
    const ids = [...first.body.jobs, ...second.body.jobs].map((j: { id: string }) => j.id);
    expect(new Set(ids).size).toBe(3);
    // Highest priority first, then newest first: the high job, then the later normal one.
    expect(first.body.jobs.map((j: { priority: string }) => j.priority)).toEqual(['high', 'normal']);
    expect(ids[1]! > ids[2]!).toBe(true);
    const bad = await get('/api/queues/mails/jobs?status=waiting&cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("'cursor'");
    const delayed = await get('/api/queues/mails/jobs?status=delayed');
    expect(delayed.body.jobs[0].dueAt).toBeGreaterThan(Date.now() + 3_000_000);

    const job = await get(`/api/jobs/mails/${ids[0]}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: ids[0], queue: 'mails', status: 'waiting', task: 'send', logs: [] });
    expect(job.body.args[1]).toEqual({ password: '***' });

    const found = await get(`/api/jobs/find/${encodeURIComponent(ids[1]!)}`);
    expect(found).toEqual({ status: 200, body: { queue: 'mails', id: ids[1], queues: ['mails'] } });
    expect((await get('/api/jobs/find/no-such-job')).status).toBe(404);
  });

  it('refuses bad parameters with a 400 naming them, unknown queues and jobs with a 404', async () => {
    const bad = await get('/api/queues/mails/jobs?status=sleeping');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("'status' must be one of waiting, active, delayed");
    expect((await get('/api/queues/mails/jobs?limit=0')).body.error).toContain("'limit' must be an integer from 1 to 200");
    expect((await get('/api/dlq/mails?after=yesterday')).body.error).toContain("'after' must be a dead-letter id");
    const unknown = await get('/api/queues/nope/jobs');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain("unknown queue 'nope'");
    expect((await get('/api/jobs/mails/missing')).status).toBe(404);
    expect((await get('/api/nothing')).status).toBe(404);
    const notJson = await fetch(`${served.url}/api/dlq/mails/purge`, { method: 'POST', headers: { 'Sec-Fetch-Site': 'same-origin' }, body: 'confirm=mails' });
    expect(notJson.status).toBe(400);
  });

  it('dead letters: list, show, replay one, delete, purge only with the queue name confirmed; every action logged', async () => {
    await broken.enqueueMany([[1], [2], [3], [4]]);
    await tracker.start(app, { queues: ['mails'] });
    await waitFor(async () => (await get('/api/dlq/mails')).body.count === 4, { timeout: 15_000, what: '4 dead letters' });
    const page = await get('/api/dlq/mails?limit=3');
    expect(page.body.entries).toHaveLength(3);
    expect(page.body.next).toBe(page.body.entries[2].dlqId);
    const [e1, e2] = page.body.entries;
    expect(e1).toMatchObject({ task: 'broken', reason: 'max-tries', attempts: 1 });
    expect(e1.error).toMatch(/broken \d/);
    expect((await get(`/api/dlq/mails/${e1.dlqId}`)).body.args).toEqual(expect.any(Array));

    const replay = await post('/api/dlq/mails/replay', { ids: [e1.dlqId] });
    expect(replay).toEqual({ status: 200, body: { replayed: [e1.id] } });
    expect((await post('/api/dlq/mails/delete', { ids: [e2.dlqId] })).body).toEqual({ deleted: 1 });
    expect((await post('/api/dlq/mails/replay', { ids: ['x'] })).status).toBe(400);
    // The replayed job fails again (maxTries 1): back in the DLQ.
    await waitFor(async () => (await get('/api/dlq/mails')).body.count === 3, { timeout: 15_000, what: 'the replayed job dead again' });
    const refused = await post('/api/dlq/mails/purge', { confirm: 'other' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toContain("'confirm' must be the queue's name ('mails')");
    expect((await post('/api/dlq/mails/purge', { confirm: 'mails' })).body).toEqual({ purged: 3 });
    expect(logged.map((l) => l.action)).toEqual(['dlq.replay', 'dlq.delete', 'dlq.purge']);
    expect(logged[0]).toMatchObject({ who: 'anonymous', queue: 'mails', ids: [e1.dlqId], replayed: 1, at: expect.any(String) });
  });

  it('aborts a running job (its signal fires) and a waiting one; workers are listed with their heartbeat', async () => {
    const running = await slow.enqueue();
    const waiting = await slow.with({ delay: '1h' }).enqueue();
    await tracker.start(app, { queues: ['slow'] });
    await waitFor(async () => (await running.status()) === 'active', { timeout: 15_000, what: 'job running' });
    expect((await post(`/api/jobs/slow/${running.id}/abort`)).body).toEqual({ outcome: 'aborting' });
    await expect(running.result({ timeout: '15s' })).rejects.toThrow(/abort/i);
    expect((await post(`/api/jobs/slow/${waiting.id}/abort`)).body).toEqual({ outcome: 'aborted' });
    expect((await post('/api/jobs/slow/nope/abort')).status).toBe(404);
    // Promote: a delayed job runs now (then it is aborted here, its handler waiting for that).
    const delayed = await slow.with({ delay: '1h' }).enqueue();
    expect((await post(`/api/jobs/slow/${delayed.id}/promote`)).body).toEqual({ promoted: true });
    await waitFor(async () => (await delayed.status()) === 'active', { timeout: 15_000, what: 'the promoted job running' });
    expect((await post(`/api/jobs/slow/${delayed.id}/promote`)).status).toBe(404);
    expect((await post(`/api/jobs/slow/${delayed.id}/abort`)).body).toEqual({ outcome: 'aborting' });
    const { body } = await get('/api/workers');
    expect(body.workers.length).toBeGreaterThanOrEqual(1);
    expect(body.workers[0]).toMatchObject({ pid: process.pid, stale: false, heartbeatAgeMs: expect.any(Number) });
  });

  it("lists a queue's fair groups, and pauses and resumes one (logged); bad bodies and read-only refused", async () => {
    await tenants.enqueueMany([['acme'], ['acme'], ['globex']]);
    await app.setGroupLimits('tenants', 'globex', { concurrency: 2 });
    expect((await get('/api/queues/tenants/groups')).body).toEqual({ queue: 'tenants', groups: [
      { key: 'acme', waiting: 2, paused: false }, { key: 'globex', waiting: 1, paused: false, limits: { concurrency: 2 } },
    ] });
    expect((await get('/api/queues/tenants/groups?limit=1')).body.groups).toHaveLength(1);
    expect((await get('/api/queues/tenants/groups?limit=0')).status).toBe(400);
    const before = logged.length;
    expect(await post('/api/queues/tenants/groups/pause', { group: 'acme' })).toEqual({ status: 200, body: { queue: 'tenants', group: 'acme', paused: true } });
    expect((await app.groups('tenants'))[0]).toMatchObject({ key: 'acme', paused: true });
    expect((await post('/api/queues/tenants/groups/pause', {})).body.error).toContain("field 'group'");
    expect((await post('/api/queues/tenants/groups/resume', { group: 'acme' })).body).toEqual({ queue: 'tenants', group: 'acme', paused: false });
    expect(logged.slice(before)).toMatchObject([{ action: 'group.pause', queue: 'tenants', group: 'acme', paused: true }, { action: 'group.resume', paused: false }]);
    const readOnly = overseer(app, { readOnly: true });
    const s = await serveHandler(readOnly);
    try {
      expect((await fetch(`${s.url}/api/queues/tenants/groups/pause`, { method: 'POST', headers: { ...SAME_ORIGIN, 'Content-Type': 'application/json' }, body: '{"group":"acme"}' })).status).toBe(403);
      expect((await app.groups('tenants'))[0]!.paused).toBe(false);
    } finally {
      await readOnly.close();
      await s.close();
    }
  });

  it('cron schedules with their next run', async () => {
    await app.addSchedule('*/5 * * * *', 'send', { queue: 'mails', name: 'ov-cron', args: ['e@x', { password: 'p' }] });
    const { body } = await get('/api/cron');
    const s = body.schedules.find((x: { name: string }) => x.name === 'ov-cron');
    expect(s).toMatchObject({ pattern: '*/5 * * * *', task: 'send', queue: 'mails', source: 'runtime' });
    expect(s.nextRunAt).toBeGreaterThan(Date.now());
  });

  it('pauses and resumes a queue: app.isPaused follows, the overview shows it, both are logged; read-only refuses them', async () => {
    const mailsOf = async () => (await get('/api/overview')).body.queues.find((x: { name: string }) => x.name === 'mails');
    expect((await mailsOf()).paused).toBe(false);
    const before = logged.length;
    expect(await post('/api/queues/mails/pause')).toEqual({ status: 200, body: { queue: 'mails', paused: true } });
    expect(await app.isPaused('mails')).toBe(true);
    expect((await mailsOf()).paused).toBe(true);
    // Pausing again is no error; a body that is not JSON, an unknown queue are refused.
    expect((await post('/api/queues/mails/pause')).body).toEqual({ queue: 'mails', paused: true });
    expect((await fetch(`${served.url}/api/queues/mails/resume`, { method: 'POST', headers: { 'Sec-Fetch-Site': 'same-origin' }, body: 'now' })).status).toBe(400);
    expect((await post('/api/queues/nope/pause')).status).toBe(404);
    expect(await app.isPaused('mails')).toBe(true);
    expect(await post('/api/queues/mails/resume')).toEqual({ status: 200, body: { queue: 'mails', paused: false } });
    expect(await app.isPaused('mails')).toBe(false);
    expect((await mailsOf()).paused).toBe(false);
    expect(logged.slice(before)).toMatchObject([
      { who: 'anonymous', action: 'queue.pause', queue: 'mails', paused: true, at: expect.any(String) },
      { action: 'queue.pause', paused: true },
      { who: 'anonymous', action: 'queue.resume', queue: 'mails', paused: false },
    ]);

    const readOnly = overseer(app, { readOnly: true });
    const s = await serveHandler(readOnly);
    try {
      const refused = await fetch(`${s.url}/api/queues/mails/pause`, { method: 'POST', headers: SAME_ORIGIN, body: '{}' });
      expect(refused.status).toBe(403);
      expect((await json(refused)).error).toContain('read-only');
      expect(await app.isPaused('mails')).toBe(false);
      await app.pause('mails');
      expect((await fetch(`${s.url}/api/queues/mails/resume`, { method: 'POST', headers: SAME_ORIGIN, body: '{}' })).status).toBe(403);
      expect(await app.isPaused('mails')).toBe(true);
      // Read-only still shows the state.
      const overview = await json(await fetch(`${s.url}/api/overview`));
      expect(overview.queues.find((x: { name: string }) => x.name === 'mails').paused).toBe(true);
    } finally {
      await app.resume('mails');
      await readOnly.close();
      await s.close();
    }
  });

  it('mounts under a base path in a Hono app', async () => {
    const mounted = overseer(app, { basePath: '/overseer' });
    const outer = new Hono();
    outer.get('/', (c) => c.text('the host app'));
    outer.all('/overseer', (c) => mounted(c.req.raw));
    outer.all('/overseer/*', (c) => mounted(c.req.raw));
    const s = await serveHandler(async (req) => outer.fetch(req));
    try {
      expect(await (await fetch(`${s.url}/`)).text()).toBe('the host app');
      const bare = await fetch(`${s.url}/overseer`, { redirect: 'manual' });
      expect(bare.status).toBe(301);
      expect(bare.headers.get('location')).toBe('/overseer/');
      const page = await fetch(`${s.url}/overseer/`);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<script src="assets/app.js" defer></script>');
      expect((await fetch(`${s.url}/overseer/assets/app.js`)).headers.get('content-type')).toContain('text/javascript');
      expect((await fetch(`${s.url}/overseer/assets/secret.txt`)).status).toBe(404);
      const overview = await json(await fetch(`${s.url}/overseer/api/overview`));
      expect(overview.queues.map((q: { name: string }) => q.name)).toContain('mails');
    } finally {
      await mounted.close();
      await s.close();
    }
  });
});

// The queue page's costs (bench/overseer.ts): a page of running jobs in a bounded number of
// Redis commands whatever the page, a page of failed jobs at most `limit` rows.
describe('overseer API: queue pages', () => {
  const busy = app.queue('busy', { concurrency: 60 });
  const hold = busy.task('hold', async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  });
  const flaky = app.queue('flaky', { maxTries: 1, concurrency: 10 });
  const fail = flaky.task('fail', async (_ctx, n: number) => {
    throw new Error(`fail ${n}`);
  });

  /** Commands the dashboard's own connection sends while `fn` runs (the workers use other apps' connections). */
  async function counted<T>(conn: Redis, fn: () => Promise<T>): Promise<{ value: T; commands: string[] }> {
    const commands: string[] = [];
    const original = conn.sendCommand.bind(conn);
    conn.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      commands.push(command.name);
      return (original as (...a: unknown[]) => unknown)(command, ...rest);
    }) as typeof conn.sendCommand;
    try {
      return { value: await fn(), commands };
    } finally {
      conn.sendCommand = original;
    }
  }

  it('pages running jobs in a bounded number of commands, page 2 as cheap as page 1', async () => {
    // A dashboard on an app of its own (same prefix), so that only its commands are counted.
    const viewer = new Millrace({ redis: REDIS_URL, prefix: t.prefix, logLevel: 'silent' });
    viewer.queue('busy', { concurrency: 60 });
    const conn = (viewer as unknown as { redis(): { ctx: { conn: Redis } } }).redis().ctx.conn;
    const view = overseer(viewer, {});
    const s = await serveHandler(view);
    try {
      await Promise.all(Array.from({ length: 25 }, () => hold.with({ priority: 'high' }).enqueue()));
      await hold.enqueueMany(Array.from({ length: 55 }, () => []));
      await tracker.start(app, { queues: ['busy'], concurrency: 60, prefetch: 0 });
      await waitFor(async () => (await app.inspector.counts(busy)).active === 60, { timeout: 15_000, what: '60 jobs running' });
      const page = (cursor?: string) =>
        counted(conn, async () => json(await fetch(`${s.url}/api/queues/busy/jobs?status=active&limit=50${cursor ? `&cursor=${cursor}` : ''}`)));
      const first = await page();
      expect(first.value.jobs).toHaveLength(50);
      expect(first.value.jobs.slice(0, 25).map((j: { priority: string }) => j.priority)).toEqual(Array(25).fill('high'));
      expect(first.value.jobs.every((j: { task: string; worker: string }) => j.task === 'hold' && j.worker)).toBe(true);
      const second = await page(first.value.next);
      expect(second.value.jobs).toHaveLength(10);
      expect(second.value.next).toBeUndefined();
      const ids = [...first.value.jobs, ...second.value.jobs].map((j: { id: string }) => j.id);
      expect(new Set(ids).size).toBe(60);
      // Before: one XRANGE per running job listed (56 commands for page 1, 86 for page 2).
      expect(first.commands.length).toBeLessThanOrEqual(25);
      expect(second.commands.length).toBeLessThanOrEqual(25);
      // Page 2 lists page 1's jobs again (an offset: listJobs takes no cursor) but in as many
      // commands, give or take one XPENDING of a level page 1 did not reach.
      expect(second.commands.length).toBeLessThanOrEqual(first.commands.length + 1);
      expect(second.commands.filter((c) => c === 'xrange').length).toBeLessThanOrEqual(2);
      expect(first.commands.filter((c) => c === 'xrange').length).toBeLessThanOrEqual(2);
    } finally {
      await view.close();
      await s.close();
      await viewer.close();
      await tracker.stopAll();
    }
  });

  async function walk(url: string, limit: number) {
    const pages: { id: string }[][] = [];
    let cursor: string | undefined;
    do {
      const body = await json(await fetch(`${url}/api/queues/flaky/jobs?status=failed&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`));
      expect(body.jobs.length).toBeLessThanOrEqual(limit);
      pages.push(body.jobs);
      cursor = body.next;
    } while (cursor !== undefined && pages.length < 10_000);
    return pages;
  }

  it('pages failed jobs `limit` at a time, each exactly once; a bad cursor is a 400', async () => {
    const failed = await fail.enqueueMany(Array.from({ length: 30 }, (_, i) => [i]));
    await tracker.start(app, { queues: ['flaky'] });
    await waitFor(async () => (await app.deadLetters('flaky').count()) === 30, { timeout: 15_000, what: '30 failed' });
    await tracker.stopAll();
    const pages = await walk(served.url, 5);
    const ids = pages.flat().map((j) => j.id);
    expect(ids.sort()).toEqual(failed.map((h) => h.id).sort());
    // Others' keys share the test Redis: a chunk may meet fewer; most pages are full.
    expect(pages.filter((p) => p.length === 5).length).toBeGreaterThanOrEqual(4);
    for (const bad of ['x', '7', '999999:0', '-1:0', '1:nope']) {
      const res = await get(`/api/queues/flaky/jobs?status=failed&cursor=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toContain("'cursor'");
    }
  });

  it('pages failed jobs exactly `limit` at a time on a quiet keyspace (the memory broker)', async () => {
    const mem = new Millrace({ broker: 'memory', logLevel: 'silent' });
    const q = mem.queue('flaky', { maxTries: 1, concurrency: 10 });
    const task = q.task('fail', async (_ctx, n: number) => {
      throw new Error(`fail ${n}`);
    });
    const view = overseer(mem, {});
    const s = await serveHandler(view);
    try {
      const failed = await task.enqueueMany(Array.from({ length: 30 }, (_, i) => [i]));
      await tracker.start(mem, { queues: ['flaky'] });
      await waitFor(async () => (await mem.deadLetters('flaky').count()) === 30, { timeout: 15_000, what: '30 failed' });
      const pages = await walk(s.url, 5);
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 5, 5]);
      expect(pages.flat().map((j) => j.id).sort()).toEqual(failed.map((h) => h.id).sort());
    } finally {
      await tracker.stopAll();
      await view.close();
      await s.close();
      await mem.close();
    }
  });
});
