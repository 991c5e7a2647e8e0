// Lifecycle events: the in-process map, the per-queue Redis stream, reading from a position.
import { afterEach, describe, expect, it } from 'vitest';
import type { MillraceEvent, StoredEvent } from '../src/index.js';
import { rawRedis, testApp, waitFor, type TestApp } from './helpers.js';
import { packEvents, unpackEvents } from '../src/events.js';

describe('lifecycle events', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('records a job life in order on the queue stream, readable from a position', async () => {
    t = testApp({}, 'events');
    let tries = 0;
    const task = t.app.queue('q').task('flaky', async () => {
      if (++tries === 1) throw new Error('first try fails');
      return 'ok';
    }, { backoff: { type: 'fixed', base: 10, jitter: false } });
    const worker = t.app.worker({ handleSignals: false, healthFile: false });
    const seen: MillraceEvent[] = [];
    worker.events.onAny((e) => seen.push(e));
    await worker.start();
    const job = await task.enqueue();
    expect(await job.result({ timeout: 5000 })).toBe('ok');
    await worker.stop();

    const { events, cursors } = await t.app.readEvents({ queues: ['q'] });
    const types = events.map((e) => e.event.type);
    // A job's own events are in order; the worker's own events bracket its work.
    expect(types.filter((x) => x.startsWith('job.'))).toEqual([
      'job.enqueued', 'job.started', 'job.failed', 'job.retried', 'job.started', 'job.completed',
    ]);
    expect(types.indexOf('worker.started')).toBeLessThan(types.indexOf('job.started'));
    expect(types.at(-1)).toBe('worker.stopped');
    expect(events.filter((e) => 'id' in e.event).every((e) => 'id' in e.event && e.event.id === job.id)).toBe(true);
    const failed = events.find((e) => e.event.type === 'job.failed')!.event as Extract<MillraceEvent, { type: 'job.failed' }>;
    expect(failed).toMatchObject({ queue: 'q', id: job.id, task: 'flaky', attempt: 1, willRetry: true, error: 'Error: first try fails' });
    expect(seen.map((e) => e.type)).toContain('job.completed');

    // Reading again from the returned cursors gives only newer events.
    const again = await t.app.readEvents({ queues: ['q'], after: cursors });
    expect(again.events).toEqual([]);
  });

  it('follows new events with subscribe() until aborted', async () => {
    t = testApp({}, 'events-sub');
    const task = t.app.queue('q').task('noop', async () => 1);
    await task.enqueue(); // an event before the subscription starts: not delivered
    const controller = new AbortController();
    const got: StoredEvent[] = [];
    const following = (async () => {
      for await (const e of t.app.subscribe({ queues: ['q'], signal: controller.signal })) got.push(e);
    })();
    await new Promise((r) => setTimeout(r, 100));
    const job = await task.enqueue();
    await waitFor(() => got.some((e) => e.event.type === 'job.enqueued'), { what: 'enqueued event' });
    controller.abort();
    await following;
    expect(got.map((e) => 'id' in e.event && e.event.id)).toEqual([job.id]);
  });

  it('resumes from a cursor in the middle of a batch', async () => {
    t = testApp({}, 'events-resume');
    const task = t.app.queue('q').task('noop', async () => 1);
    const jobs = await task.enqueueMany([[], [], []]);
    const { events } = await t.app.readEvents({ queues: ['q'] });
    expect(events.map((e) => 'id' in e.event && e.event.id)).toEqual(jobs.map((j) => j.id));
    // One bulk enqueue is one stream entry: cursors differ only in their index.
    expect(new Set(events.map((e) => e.cursor.split(':')[0])).size).toBe(1);
    const rest = await t.app.readEvents({ queues: ['q'], after: { q: events[0]!.cursor } });
    expect(rest.events.map((e) => e.cursor)).toEqual([events[1]!.cursor, events[2]!.cursor]);
    expect((await t.app.readEvents({ queues: ['q'], after: rest.cursors })).events).toEqual([]);
  });

  it('stores one job.enqueued event per job added, in order, a run of one task as one row', async () => {
    t = testApp({}, 'events-runs');
    const q = t.app.queue('q');
    const a = q.task('a', async () => 1);
    const b = q.task('b', async () => 1);
    const first = await a.with({ id: 'dup' }).enqueue();
    // One turn: coalesced into one script call with runs broken by a task change, a custom id,
    // an existing id (not added, no event), a delayed job and another level.
    const together = await Promise.all([
      a.enqueue(), a.enqueue(), b.enqueue(), a.with({ id: 'c"1' }).enqueue(), a.with({ id: 'dup' }).enqueue(),
      a.enqueue(), a.with({ delay: 60_000 }).enqueue(), a.enqueue(), b.with({ priority: 'high' }).enqueue(),
    ]);
    const many = await a.enqueueMany([[], [], [], []]);
    expect(together[4]!.created).toBe(false);
    const added = [first, ...together.filter((j) => j.created), ...many];
    const taskOf = new Map<string, string>([[together[2]!.id, 'b'], [together[8]!.id, 'b']]);
    const { events } = await t.app.readEvents({ queues: ['q'], count: 1000 });
    const stored = events.map((e) => (e.event.type === 'job.enqueued' ? `${e.event.id} ${e.event.task}` : e.event.type));
    // In the order the script added them (options take the longer path, so call order differs).
    expect([...stored].sort()).toEqual(added.map((j) => `${j.id} ${taskOf.get(j.id) ?? 'a'}`).sort());
    const autoIds = stored.filter((s) => /^\d+-\d+ /.test(s)).map((s) => s.split(/[- ]/).slice(0, 2).map(Number));
    expect(autoIds).toEqual([...autoIds].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!));
    // The four jobs of one bulk call share one stored row.
    const redis = rawRedis();
    try {
      const last = await redis.xrevrange(`{${t.prefix}:q}:events`, '+', '-', 'COUNT', 1);
      expect(JSON.parse(last[0]![1][1]!)).toEqual([['job.enqueued', expect.any(Number), many[0]!.id, 'a', 4]]);
    } finally {
      redis.disconnect();
    }
  });

  it('caps the stream and can be turned off', async () => {
    t = testApp({ events: { maxLen: 100 } }, 'events-cap');
    const task = t.app.queue('q').task('noop', async () => 1);
    for (let i = 0; i < 5; i++) await task.enqueueMany(Array.from({ length: 200 }, () => []));
    const redis = rawRedis();
    try {
      // Of 1,000 events about the cap stay (trimmed by whole batches).
      const { events } = await t.app.readEvents({ queues: ['q'], count: 10_000 });
      expect(events.length).toBeGreaterThanOrEqual(100);
      expect(events.length).toBeLessThanOrEqual(300);
      await t.cleanup();
      t = testApp({ events: false }, 'events-off');
      const quiet = t.app.queue('q').task('noop', async () => 1);
      await quiet.enqueue();
      expect(await redis.exists(`{${t.prefix}:q}:events`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe('stored event rows', () => {
  it('round-trip every event type through the compact form, keeping a foreign worker and object rows', () => {
    const w = 'host:1:abc';
    const events: MillraceEvent[] = [
      { type: 'worker.started', at: 1, worker: w, queues: ['q', 'r'], hostname: 'h', pid: 7 },
      { type: 'job.started', at: 2, queue: 'q', id: '1-0', task: 't', attempt: 1, worker: w, pickupMs: 3 },
      { type: 'job.started', at: 2, queue: 'q', id: '1-1', task: 't', attempt: 1, worker: w },
      { type: 'job.completed', at: 3, queue: 'q', id: '1-0', task: 't', attempt: 1, worker: w, durationMs: 4 },
      { type: 'job.failed', at: 4, queue: 'q', id: 'x|"y', task: 't', attempt: 2, worker: 'other', durationMs: 5, error: 'E: "quoted"', willRetry: true },
      { type: 'job.retried', at: 5, queue: 'q', id: 'x|"y', task: 't', attempt: 2, worker: 'other', delayMs: 10, error: 'E' },
      { type: 'job.dead', at: 6, queue: 'q', id: '9-9', task: 't', attempt: 3, worker: w, reason: 'max-tries', error: 'E' },
      { type: 'job.aborted', at: 7, queue: 'q', id: '9-8', task: 't', worker: w },
      { type: 'worker.stopped', at: 8, worker: w, queues: ['q'], handedBack: 2 },
    ];
    const packed = packEvents(events, w);
    expect(packed.length).toBeLessThan(JSON.stringify(events).length * 0.75);
    // The hand-written rows are the JSON of the rows (values of every kind, escapes, no NaN).
    const odd: MillraceEvent[] = [
      { type: 'job.failed', at: 4, queue: 'q', id: 'ü\u2028\n"\\', task: 't', attempt: Number.NaN, worker: w, durationMs: Infinity, error: '\u0000', willRetry: false },
      { type: 'worker.started', at: 1, worker: w, queues: [], hostname: '', pid: -0 },
    ];
    expect(JSON.parse(packEvents(odd, w))).toEqual([
      ['job.failed', 4, 'ü\u2028\n"\\', 't', null, null, '\u0000', false],
      ['worker.started', 1, w, [], '', 0],
    ]);
    expect(packEvents([], w)).toBe('[]');
    expect(unpackEvents(packed, 'q', w)).toEqual(events);
    // Rows written by the enqueue script (no worker), and whole objects, read back as well.
    expect(unpackEvents('[["job.enqueued",5,"1-2","t"],{"type":"job.enqueued","at":6,"queue":"q","id":"c","task":"t"}]', 'q', undefined)).toEqual([
      { type: 'job.enqueued', at: 5, queue: 'q', id: '1-2', task: 't' },
      { type: 'job.enqueued', at: 6, queue: 'q', id: 'c', task: 't' },
    ]);
    // A run: three auto ids in a row for one task.
    expect(unpackEvents('[["job.enqueued",5,"7-9","t",3]]', 'q', undefined)!.map((e) => 'id' in e && e.id)).toEqual(['7-9', '7-10', '7-11']);
    expect(unpackEvents('not json', 'q', w)).toBeUndefined();
  });
});
