// Overseer's bulk operations over dead letters, on the real Redis: replay and delete of all of a
// queue's dead letters or of those a filter keeps, as background operations read a chunk at a
// time, with progress to poll; each entry replayed once (however the requests race), a walk that
// does not chase the jobs its replay dead-letters again, one operation per queue (409), cancel,
// the guards (read-only, CSRF) and the 400s; and the same idempotency on the memory broker.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterQueue } from '../src/client.js';
import { Millrace } from '../src/index.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import type { Operation } from '../src/overseer/bulk.js';
import { testApp, waitFor, workers } from './helpers.js';
import { SAME_ORIGIN, serveHandler, type Served } from './support/overseer.js';

const WAIT = { timeout: 15_000 };
const t = testApp({ logLevel: 'silent' }, 'ovbulk');
const { app } = t;
const fail = (n: number, color: string) => {
  throw new Error(`boom ${color} ${n}`);
};
const QUEUES = ['graves', 'held', 'trash'] as const;
const tasks = Object.fromEntries(QUEUES.map((name) => {
  const q = app.queue(name, { maxTries: 1, concurrency: 200 });
  return [name, { explode: q.task('explode', async (_ctx, n: number, color: string) => fail(n, color)), fizzle: q.task('fizzle', async (_ctx, n: number) => fail(n, 'fizz')) }];
}));
let phoenixRuns = 0;
const phoenix = app.queue('phoenix', { maxTries: 1, concurrency: 200 }).task('rise', async (_ctx, n: number) => {
  phoenixRuns++;
  fail(n, 'ash');
});

/** Hooks around the DLQ replays of queues 'held' and 'phoenix' made through the gated handler. */
const hooks: { before?: () => Promise<void>; after?: (queue: string) => Promise<void> } = {};

/** The app as the gated handler sees it: the same app, its dead-letter replays passing through `hooks`. */
function gated(target: typeof app): typeof app {
  const bind = <T extends object>(obj: T, prop: string | symbol) => {
    const v = Reflect.get(obj, prop, obj) as unknown;
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(obj) : v;
  };
  return new Proxy(target, {
    get(obj, prop) {
      if (prop !== 'deadLetters') return bind(obj, prop);
      return (queue: string) => {
        const dlq = obj.deadLetters(queue);
        if (queue !== 'held' && queue !== 'phoenix') return dlq;
        return new Proxy(dlq, {
          get(d, p) {
            if (p !== 'replay') return bind(d, p);
            return async (...args: Parameters<DeadLetterQueue['replay']>) => {
              await hooks.before?.();
              const out = await d.replay(...args);
              await hooks.after?.(queue);
              return out;
            };
          },
        });
      };
    },
  });
}

const tracker = workers({ heartbeatInterval: 200 });
const logged: Record<string, unknown>[] = [];
let handler: OverseerHandler;
let served: Served;
let slow: OverseerHandler;
let slowServed: Served;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Answer = { status: number; body: any };
async function get(path: string, base = served.url): Promise<Answer> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.json() };
}
async function post(path: string, body: unknown = {}, base = served.url, headers: Record<string, string> = SAME_ORIGIN): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Polls an operation until it ends; every state seen on the way. */
async function follow(id: string, base = served.url): Promise<Operation[]> {
  const seen: Operation[] = [];
  await waitFor(async () => {
    const { body } = await get(`/api/operations/${id}`, base);
    seen.push(body.operation);
    return body.operation.state !== 'running';
  }, { ...WAIT, interval: 5, what: `operation ${id} to end` });
  return seen;
}

const count = (queue: string) => app.deadLetters(queue).count();
async function waiting(queue: string): Promise<string[]> {
  return (await app.inspector.listJobs(app.queues.get(queue)!, 'waiting', 10_000)).map((j) => j.id);
}
/** Dead-letter ids of a queue whose arguments hold `color`. */
async function dlqIdsOf(queue: string, color?: string): Promise<string[]> {
  const all = await app.deadLetters(queue).list({ limit: 10_000 });
  return all.filter((e) => color === undefined || JSON.stringify(app.serializer.decode(e.data)).includes(color)).map((e) => e.dlqId);
}

beforeAll(async () => {
  const log = app.log.child({});
  log.info = ((obj: Record<string, unknown>) => void logged.push(obj)) as typeof log.info;
  handler = overseer(app, { log });
  served = await serveHandler(handler);
  slow = overseer(gated(app), { log });
  slowServed = await serveHandler(slow);
  // graves: 2,400 explode (800 red) and 600 fizzle; held: 1,500; trash: 900 explode and 300 fizzle.
  const colors = (n: number) => Array.from({ length: n }, (_, i) => [i, i % 3 === 0 ? 'red' : 'blue'] as [number, string]);
  await tasks.graves!.explode.enqueueMany(colors(2400));
  await tasks.graves!.fizzle.enqueueMany(Array.from({ length: 600 }, (_, i) => [i] as [number]));
  await tasks.held!.explode.enqueueMany(colors(1500));
  await tasks.trash!.explode.enqueueMany(colors(900));
  await tasks.trash!.fizzle.enqueueMany(Array.from({ length: 300 }, (_, i) => [i] as [number]));
  await phoenix.enqueueMany(Array.from({ length: 1500 }, (_, i) => [i] as [number]));
  const worker = await tracker.start(app, { queues: [...QUEUES] });
  await tracker.start(app, { queues: ['phoenix'] });
  await waitFor(async () => (await count('graves')) === 3000 && (await count('held')) === 1500 && (await count('trash')) === 1200 && (await count('phoenix')) === 1500,
    { timeout: 30_000, what: '7,200 dead letters' });
  // No worker runs these queues from here: replayed jobs stay waiting, to be counted.
  await worker.stop({ grace: 1000 });
}, 60_000);

afterAll(async () => {
  await tracker.stopAll();
  await handler?.close();
  await slow?.close();
  await served?.close();
  await slowServed?.close();
  await t.cleanup();
});

describe('overseer bulk operations', () => {
  it('replays by filter exactly the matching dead letters, each once, with progress; again, it replays nothing', async () => {
    const red = new Set(await dlqIdsOf('graves', '"red"'));
    expect(red.size).toBe(800);
    const started = await post('/api/dlq/graves/replay', { filter: { task: 'explode', text: '"red"' } });
    expect(started.status).toBe(202);
    const { operation } = started.body;
    expect(operation).toMatchObject({ kind: 'replay', queue: 'graves', filter: { task: 'explode', text: '"red"' }, state: 'running', total: 3000, who: 'anonymous' });
    const seen = await follow(operation.id);
    const end = seen.at(-1)!;
    expect(end).toMatchObject({ state: 'done', total: 3000, scanned: 3000, matched: 800, done: 800 });
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done);
    console.info(`replay by filter: 3,000 read, 800 replayed in ${end.endedAt! - end.startedAt} ms`);
    // Once each: 800 jobs waiting, all distinct; the DLQ keeps the 2,200 others, none of them red.
    const jobs = await waiting('graves');
    expect(jobs).toHaveLength(800);
    expect(new Set(jobs).size).toBe(800);
    expect(await count('graves')).toBe(2200);
    expect((await dlqIdsOf('graves', '"red"')).length).toBe(0);
    // Again: nothing left that matches.
    const again = await post('/api/dlq/graves/replay', { filter: { task: 'explode', text: '"red"' } });
    expect((await follow(again.body.operation.id)).at(-1)).toMatchObject({ state: 'done', scanned: 2200, matched: 0, done: 0 });
    // Audited: who started it, what, when and what came of it.
    expect(logged.find((l) => l.operation === operation.id && l.action === 'dlq.replay.start')).toMatchObject({ who: 'anonymous', queue: 'graves', total: 3000, at: expect.any(String) });
    expect(logged.find((l) => l.operation === operation.id && l.action === 'dlq.replay.end')).toMatchObject({ who: 'anonymous', state: 'done', done: 800, matched: 800 });
    const { body } = await get('/api/operations');
    expect(body.operations[0].id).toBe(again.body.operation.id);
    expect(body.operations[1].id).toBe(operation.id);
  });

  it('replays each entry once when single replays race a replay-all over the same entries', async () => {
    const ids = await dlqIdsOf('graves');
    expect(ids).toHaveLength(2200);
    // The same ten ids twice at once, and once more after: replayed once.
    const ten = ids.slice(0, 10);
    const twice = await Promise.all([post('/api/dlq/graves/replay', { ids: ten }), post('/api/dlq/graves/replay', { ids: ten })]);
    expect(twice[0]!.body.replayed.length + twice[1]!.body.replayed.length).toBe(10);
    expect((await post('/api/dlq/graves/replay', { ids: ten })).body).toEqual({ replayed: [] });
    // Replay-all, while batches of the same ids are replayed one request each.
    const all = await post('/api/dlq/graves/replay', { all: true });
    expect(all.status).toBe(202);
    const singles = await Promise.all([ids.slice(10, 510), ids.slice(1500, 2000), ids.slice(2000, 2200)].map((batch) => post('/api/dlq/graves/replay', { ids: batch })));
    const end = (await follow(all.body.operation.id)).at(-1)!;
    expect(end).toMatchObject({ state: 'done', total: 2190, filter: 'all' });
    const bySingles = singles.reduce((n, s) => n + s.body.replayed.length, 0);
    expect(end.done + bySingles).toBe(2190);
    const jobs = await waiting('graves');
    expect(jobs).toHaveLength(3000);
    expect(new Set(jobs).size).toBe(3000);
    expect(await count('graves')).toBe(0);
  });

  it('shows progress while running, refuses a second operation on the queue (409), and cancel stops it', async () => {
    const gates: (() => void)[] = [];
    let calls = 0;
    hooks.before = () => new Promise<void>((resolve) => {
      calls++;
      gates.push(resolve);
    });
    try {
      const started = await post('/api/dlq/held/replay', { all: true }, slowServed.url);
      expect(started.status).toBe(202);
      const id = started.body.operation.id;
      await waitFor(() => calls === 1, { ...WAIT, what: 'the first batch' });
      // One chunk read (250 entries), its first batch of 100 in flight.
      expect((await get(`/api/operations/${id}`, slowServed.url)).body.operation).toMatchObject({ state: 'running', total: 1500, scanned: 250, matched: 250, done: 0 });
      gates.shift()!();
      await waitFor(async () => (await get(`/api/operations/${id}`, slowServed.url)).body.operation.done === 100, { ...WAIT, what: 'the first batch done' });
      expect(calls).toBe(2);
      // A second operation on the same queue: refused, naming the running one; another queue's is not.
      const second = await post('/api/dlq/held/replay', { filter: { task: 'explode' } }, slowServed.url);
      expect(second.status).toBe(409);
      expect(second.body.error).toContain("already running on queue 'held'");
      expect(second.body.error).toContain(id);
      expect((await post('/api/dlq/held/delete', { all: true, confirm: 'held' }, slowServed.url)).status).toBe(409);
      const elsewhere = await post('/api/dlq/trash/replay', { filter: { task: 'no-such-task' } }, slowServed.url);
      expect(elsewhere.status).toBe(202);
      expect((await follow(elsewhere.body.operation.id, slowServed.url)).at(-1)).toMatchObject({ state: 'done', done: 0 });
      // Cancel: it ends after the batch in flight.
      const cancelling = post(`/api/operations/${id}/cancel`, {}, slowServed.url);
      await waitFor(() => logged.some((l) => l.action === 'operation.cancel' && l.operation === id), { ...WAIT, what: 'the cancel' });
      gates.shift()!();
      const cancelled = await cancelling;
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.operation).toMatchObject({ state: 'cancelled', done: 200, cancelledBy: 'anonymous' });
      expect(cancelled.body.operation.done).toBeLessThan(cancelled.body.operation.total);
      expect(calls).toBe(2);
      expect(await count('held')).toBe(1300);
      expect(logged.find((l) => l.action === 'dlq.replay.end' && l.operation === id)).toMatchObject({ state: 'cancelled', done: 200, cancelledBy: 'anonymous' });
      // Cancelling an ended operation changes nothing; the queue is free again.
      expect((await post(`/api/operations/${id}/cancel`, {}, slowServed.url)).body.operation.state).toBe('cancelled');
      hooks.before = undefined;
      const rest = await post('/api/dlq/held/replay', { all: true }, slowServed.url);
      expect(rest.status).toBe(202);
      expect((await follow(rest.body.operation.id, slowServed.url)).at(-1)).toMatchObject({ state: 'done', total: 1300, done: 1300 });
      expect(await count('held')).toBe(0);
    } finally {
      hooks.before = undefined;
      for (const open of gates.splice(0)) open();
    }
  });

  it('replay-all of entries whose replays fail again ends, leaving the re-dead-lettered ones', async () => {
    const runsBefore = phoenixRuns;
    let batches = 0;
    // After the first batch, wait until its 100 jobs ran again and are back in the DLQ (after the 1,400 not yet read).
    hooks.after = async () => {
      if (++batches === 1) await waitFor(async () => phoenixRuns - runsBefore >= 100 && (await count('phoenix')) === 1500, { ...WAIT, what: 'the replayed jobs dead again' });
    };
    try {
      const started = await post('/api/dlq/phoenix/replay', { all: true }, slowServed.url);
      const end = (await follow(started.body.operation.id, slowServed.url)).at(-1)!;
      expect(end).toMatchObject({ state: 'done', total: 1500, scanned: 1500, matched: 1500, done: 1500 });
      // 6 chunks of 250, each replayed in batches of 100, 100 and 50.
      expect(batches).toBe(18);
      await waitFor(async () => phoenixRuns - runsBefore === 1500 && (await count('phoenix')) === 1500, { ...WAIT, what: 'every replayed job dead again' });
    } finally {
      hooks.after = undefined;
    }
  });

  it('deletes by filter once confirmed by the queue name', async () => {
    const refused = await post('/api/dlq/trash/delete', { filter: { task: 'fizzle' } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toContain("field 'confirm' must be the queue's name ('trash')");
    const none = await post('/api/dlq/trash/delete', { filter: { from: Date.now() + 3_600_000 }, confirm: 'trash' });
    expect((await follow(none.body.operation.id)).at(-1)).toMatchObject({ state: 'done', scanned: 1200, matched: 0, done: 0 });
    const started = await post('/api/dlq/trash/delete', { filter: { task: 'fizzle', reason: 'max-tries' }, confirm: 'trash' });
    expect(started.status).toBe(202);
    const end = (await follow(started.body.operation.id)).at(-1)!;
    expect(end).toMatchObject({ kind: 'delete', state: 'done', total: 1200, matched: 300, done: 300 });
    const left = await app.deadLetters('trash').list({ limit: 2000 });
    expect(left).toHaveLength(900);
    expect(left.every((e) => e.task === 'explode')).toBe(true);
    expect(logged.find((l) => l.action === 'dlq.delete.end' && l.operation === end.id)).toMatchObject({ done: 300, state: 'done' });
  });

  it('refuses bad filters with a 400 naming the field, unknown operations and queues with a 404', async () => {
    const cases: [unknown, string][] = [
      [{ filter: 'red' }, "field 'filter' must be an object"],
      [{ filter: { colour: 'red' } }, "field 'filter.colour' is not a dead-letter filter"],
      [{ filter: { text: 'x'.repeat(201) } }, "field 'filter.text' must be a string of at most 200"],
      [{ filter: { task: 7 } }, "field 'filter.task' must be a string"],
      [{ filter: { from: 'yesterday' } }, "field 'filter.from' must be epoch ms or an ISO date"],
      [{ filter: { from: 2000, to: 1000 } }, "field 'filter.from' must not be after 'filter.to'"],
      [{ filter: {} }, "field 'filter' names nothing to match"],
      [{ filter: { task: '' } }, "field 'filter' names nothing to match"],
      [{ all: true, filter: { task: 'explode' } }, "either field 'all' or field 'filter'"],
      [{ all: true, ids: ['1-0'] }, "field 'ids' or field 'all'"],
    ];
    for (const [b, message] of cases) {
      const res = await post('/api/dlq/trash/replay', b);
      expect(res.status, JSON.stringify(b)).toBe(400);
      expect(res.body.error).toContain(message);
    }
    expect((await post('/api/dlq/trash/delete', { all: true })).body.error).toContain("field 'confirm'");
    expect((await get('/api/operations/no-such-operation')).status).toBe(404);
    expect((await post('/api/operations/no-such-operation/cancel')).status).toBe(404);
    expect((await post('/api/dlq/nowhere/replay', { all: true })).status).toBe(404);
    // An ISO window is taken.
    const iso = await post('/api/dlq/trash/replay', { filter: { from: '2001-01-01T00:00:00Z', to: '2001-01-02T00:00:00Z' } });
    expect(iso.status).toBe(202);
    expect((await follow(iso.body.operation.id)).at(-1)).toMatchObject({ filter: { from: Date.UTC(2001, 0, 1), to: Date.UTC(2001, 0, 2) }, matched: 0 });
  });

  it('goes through the guards: read-only refuses with 403, a cross-site or unmarked POST too; reads are GETs', async () => {
    const readOnly = overseer(app, { readOnly: true, log: app.log.child({}) });
    const roServed = await serveHandler(readOnly);
    try {
      expect((await post('/api/dlq/trash/replay', { all: true }, roServed.url)).status).toBe(403);
      expect((await post('/api/dlq/trash/delete', { filter: { task: 'explode' }, confirm: 'trash' }, roServed.url)).status).toBe(403);
      expect((await post('/api/operations/whatever/cancel', {}, roServed.url)).status).toBe(403);
      expect(await get('/api/operations', roServed.url)).toEqual({ status: 200, body: { operations: [] } });
    } finally {
      await readOnly.close();
      await roServed.close();
    }
    const before = (await get('/api/operations')).body.operations.length;
    const json = { 'Content-Type': 'application/json' };
    for (const headers of [json, { ...json, 'Sec-Fetch-Site': 'cross-site' }, { ...json, Origin: 'http://evil.example' }]) {
      const res = await post('/api/dlq/trash/replay', { all: true }, served.url, headers);
      expect(res.status).toBe(403);
      expect(res.body.error).toContain('CSRF');
      expect((await post('/api/dlq/trash/delete', { all: true, confirm: 'trash' }, served.url, headers)).status).toBe(403);
      expect((await post('/api/operations/whatever/cancel', {}, served.url, headers)).status).toBe(403);
    }
    expect((await get('/api/operations')).body.operations).toHaveLength(before);
    expect(await count('trash')).toBe(900);
  });
});

describe('bulk operations on the memory broker', () => {
  it('replays every dead letter once, and the same ids again replay nothing', async () => {
    const mem = new Millrace({ broker: 'memory', logLevel: 'silent' });
    const task = mem.queue('m', { maxTries: 1, concurrency: 50 }).task('boom', async (_ctx, n: number) => fail(n, 'mem'));
    const dashboard = overseer(mem);
    const worker = mem.worker({ handleSignals: false, queues: ['m'] });
    try {
      await task.enqueueMany(Array.from({ length: 1200 }, (_, i) => [i] as [number]));
      await worker.start();
      await waitFor(async () => (await mem.deadLetters('m').count()) === 1200, { ...WAIT, what: 'the dead letters' });
      await worker.stop({ grace: 500 });
      const ask = async (path: string, body?: unknown) => {
        const res = await dashboard(new Request(`http://local${path}`, body === undefined ? {} : { method: 'POST', headers: SAME_ORIGIN, body: JSON.stringify(body) }));
        return { status: res.status, body: (await res.json()) as { operation: Operation; replayed: string[] } };
      };
      const ids = (await mem.deadLetters('m').list({ limit: 5 })).map((e) => e.dlqId);
      expect((await ask('/api/dlq/m/replay', { ids })).body.replayed).toHaveLength(5);
      expect((await ask('/api/dlq/m/replay', { ids })).body.replayed).toEqual([]);
      const { body } = await ask('/api/dlq/m/replay', { all: true });
      await waitFor(async () => (await ask(`/api/operations/${body.operation.id}`)).body.operation.state === 'done', { ...WAIT, what: 'the operation' });
      expect((await ask(`/api/operations/${body.operation.id}`)).body.operation).toMatchObject({ total: 1195, done: 1195 });
      const jobs = (await mem.inspector.listJobs(mem.queues.get('m')!, 'waiting', 5000)).map((j) => j.id);
      expect(new Set(jobs).size).toBe(1200);
      expect(jobs).toHaveLength(1200);
    } finally {
      await worker.stop({ grace: 500 });
      await dashboard.close();
      await mem.close();
    }
  });
});
