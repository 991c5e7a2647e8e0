// The capped event streams: job.enqueued written by enqueue.lua with the jobs, batches of
// publishEvents, and the event reader's cursors ('0-0', '$', "<entry>:<index>", a bare entry),
// latest(), blocking reads, and the cap (eventsMaxLen, 0 for none).
import { expect, it } from 'vitest';
import type { EventReader } from '../../src/broker/types.js';
import type { MillraceEvent } from '../../src/events.js';
import { conformance, item, Q } from './kit.js';

const OTHER = { name: 'other', levels: ['normal'] };

const batch: MillraceEvent[] = [
  { type: 'worker.started', at: 1, worker: 'w1', queues: ['q'], hostname: 'h', pid: 7 },
  { type: 'job.started', at: 2, queue: 'q', id: 'x', task: 't', attempt: 1, worker: 'w1', pickupMs: 5 },
  { type: 'job.failed', at: 3, queue: 'q', id: 'x', task: 't', attempt: 1, worker: 'w1', durationMs: 4, error: 'Error: e', willRetry: true },
  { type: 'job.retried', at: 4, queue: 'q', id: 'x', task: 't', attempt: 1, worker: 'w1', delayMs: 10, error: 'Error: e' },
  { type: 'job.dead', at: 5, queue: 'q', id: 'y', task: 't', attempt: 3, worker: 'w2', reason: 'max-tries', error: 'Error: f' },
  { type: 'job.aborted', at: 6, queue: 'q', id: 'z', task: 't', worker: 'w1' },
  { type: 'job.completed', at: 7, queue: 'q', id: 'x', task: 't', attempt: 2, worker: 'w1', durationMs: 1 },
  { type: 'worker.stopped', at: 8, worker: 'w1', queues: ['q'], handedBack: 0 },
];

async function withReader<T>(reader: EventReader, fn: (r: EventReader) => Promise<T>): Promise<T> {
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

conformance('events', (s) => {
  it('records job.enqueued for each job added, in order, with the jobs (not for refused custom ids)', async () => {
    const { broker } = s();
    const t = await broker.time();
    const out = await broker.enqueue(Q, [item(), item(), item({ id: 'odd "id"' }), item({ task: 'other' }), item({ due: { delay: 60_000 } })]);
    await broker.enqueue(Q, [item({ id: 'odd "id"' })]);
    await withReader(broker.eventReader(), async (reader) => {
      const got = await reader.read({ q: '0-0' }, 100);
      expect(got.map((e) => e.event)).toEqual(out.map((o, i) => ({
        type: 'job.enqueued', at: expect.any(Number), queue: 'q', id: o.id, task: i === 3 ? 'other' : 't',
      })));
      expect(got.every((e) => e.queue === 'q' && e.event.at >= t)).toBe(true);
    });
  });

  it('reads published batches back whole, resuming after any cursor, over several queues', async () => {
    const { broker } = s();
    await withReader(broker.eventReader(), async (reader) => {
      expect(await reader.latest(['q', 'other'])).toEqual({ q: '0-0', other: '0-0' });
      expect(await reader.read({ q: '0-0' }, 10)).toEqual([]);
      await broker.publishEvents(Q, batch, 'w1');
      await broker.publishEvents(Q, [], 'w1');
      await broker.publishEvents(OTHER, [{ type: 'job.aborted', at: 9, queue: 'other', id: 'o', task: 't', worker: 'w3' }], 'w3');
      const all = await reader.read({ q: '0-0', other: '0-0' }, 10);
      expect(all.map((e) => e.event)).toEqual([...batch, { type: 'job.aborted', at: 9, queue: 'other', id: 'o', task: 't', worker: 'w3' }]);
      expect(all.map((e) => e.queue)).toEqual([...batch.map(() => 'q'), 'other']);
      const entry = all[0]!.cursor.split(':')[0]!;
      expect(all.slice(0, batch.length).map((e) => e.cursor)).toEqual(batch.map((_, k) => `${entry}:${k}`));
      const latest = await reader.latest(['q', 'other']);
      expect(latest.q).toBe(entry);
      // The rest of a batch after an event's cursor; nothing after a whole entry or after the newest.
      expect((await reader.read({ q: all[5]!.cursor }, 10)).map((e) => e.event)).toEqual(batch.slice(6));
      expect(await reader.read({ q: entry }, 10)).toEqual([]);
      expect(await reader.read({ q: '$', other: latest.other! }, 10)).toEqual([]);
      await broker.publishEvents(Q, batch.slice(0, 2), 'w1');
      expect((await reader.read({ q: all[7]!.cursor }, 10)).map((e) => e.event)).toEqual(batch.slice(0, 2));
      // count bounds the entries read per queue.
      await broker.publishEvents(Q, batch.slice(2, 3), 'w1');
      expect((await reader.read({ q: entry }, 1)).map((e) => e.event)).toEqual(batch.slice(0, 2));
    });
  });

  it('blocks a read until the next event, or the time given; "$" means from when the read began', async () => {
    const { broker } = s();
    await withReader(broker.eventReader(), async (reader) => {
      expect(await reader.read({ q: '$' }, 10, 30)).toEqual([]);
      const waiting = reader.read({ q: '$' }, 10, 20_000);
      await broker.enqueueOne(Q, item({ id: 'woke' }));
      expect((await waiting).map((e) => e.event)).toEqual([expect.objectContaining({ type: 'job.enqueued', id: 'woke' })]);
      const more = reader.read({ q: '$', other: '$' }, 10, 20_000);
      await broker.publishEvents(OTHER, batch.slice(6, 7), 'w1');
      expect((await more).map((e) => [e.queue, e.event.type])).toEqual([['other', 'job.completed']]);
    });
  });

  it('ends a blocked read at once, empty, when its reader is closed (not when the block time is up)', async () => {
    const { broker } = s();
    const reader = broker.eventReader();
    // Blocked far past the test's own time limit: only close() can end it.
    const waiting = reader.read({ q: '$' }, 10, 600_000);
    await new Promise((r) => setTimeout(r, 50));
    await reader.close();
    expect(await waiting).toEqual([]);
  });
});

conformance('events capped', (s) => {
  it('keeps the last eventsMaxLen events of a queue', async () => {
    const { broker } = s();
    for (const e of batch) await broker.publishEvents(Q, [e], 'w1');
    await withReader(broker.eventReader(), async (reader) => {
      expect((await reader.read({ q: '0-0' }, 100)).map((e) => e.event)).toEqual(batch.slice(-3));
    });
  });

  it('keeps the job.enqueued events of the last enqueues within the cap', async () => {
    const { broker } = s();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await broker.enqueueOne(Q, item({ id: `j${i}` }))).id);
    await withReader(broker.eventReader(), async (reader) => {
      expect((await reader.read({ q: '0-0' }, 100)).map((e) => e.event.type === 'job.enqueued' && e.event.id)).toEqual(ids.slice(-3));
    });
  });
}, { eventsMaxLen: 3 });

conformance('events off', (s) => {
  it('writes no events with eventsMaxLen 0', async () => {
    const { broker } = s();
    await broker.enqueue(Q, [item(), item({ id: 'c' })]);
    await broker.publishEvents(Q, batch, 'w1');
    await withReader(broker.eventReader(), async (reader) => {
      expect(await reader.read({ q: '0-0' }, 100)).toEqual([]);
      expect(await reader.latest(['q'])).toEqual({ q: '0-0' });
    });
  });
}, { eventsMaxLen: 0 });
