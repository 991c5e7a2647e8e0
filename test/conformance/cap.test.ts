// A global concurrency cap (QueueRef.globalConcurrency): the queue's jobs held by all consumers
// together never pass it. A fetch delivers only the permits left, says `capped` when none is,
// and `after` when it had permits but no entries; a held job's permit comes back when it ends,
// is retried later or is dead-lettered, not when it is reclaimed (the new owner holds it); an
// at-most-once job taken off its stream still holds its permit. The capped blocking read waits
// for an entry, then delivers within the cap.
import { expect, it } from 'vitest';
import type { Delivery, Fetched, QueueRef } from '../../src/broker/types.js';
import { ABORTED, completion, conformance, deadLetter, HIGH, item, lease, NOT_YET, Q, reclaimOpts } from './kit.js';

const CAPPED: QueueRef = { ...Q, globalConcurrency: 3 };

conformance('a global concurrency cap', (s) => {
  it('delivers only the permits left over every consumer, and gives them back as jobs end', async () => {
    const { broker } = s();
    await broker.enqueue(CAPPED, Array.from({ length: 8 }, (_, i) => item({ id: `j${i}` })));
    const first = await broker.fetch(CAPPED, 'w1', 2);
    expect(first).toHaveLength(2);
    const second = await broker.fetch(CAPPED, 'w2', 5);
    expect(second).toHaveLength(1);
    const none: Fetched = await broker.fetch(CAPPED, 'w3', 5);
    expect(none).toHaveLength(0);
    expect(none.capped).toBe(true);
    // The cap is the queue's, not the ref's: an uncapped ref of the same queue still reads.
    expect(await broker.fetch(Q, 'w4', 1)).toHaveLength(1);
    expect((await broker.fetch(CAPPED, 'w3', 5)).capped).toBe(true);

    // A completion gives its permit back.
    expect(await broker.complete(CAPPED, 'w1', [completion(first[0]!, 'j0')])).toEqual([true]);
    expect((await broker.fetch(CAPPED, 'w3', 5)).capped).toBe(true); // w4's job holds the fourth
    expect(await broker.complete(CAPPED, 'w1', [completion(first[1]!, 'j1')])).toEqual([true]);
    expect(await broker.fetch(CAPPED, 'w3', 5)).toHaveLength(1);

    // A retry later and a dead letter give theirs back too.
    const held = [second[0]!];
    expect(await broker.retry(CAPPED, 'w2', lease(held[0]!, 'j2'), 1, NOT_YET, 'Error: again', ABORTED)).toBe('scheduled');
    const next = await broker.fetch(CAPPED, 'w5', 5);
    expect(next).toHaveLength(1);
    expect(await broker.deadLetter(CAPPED, 'w5', deadLetter(next[0]!, next[0]!.entry))).toBe(true);
    expect(await broker.fetch(CAPPED, 'w6', 5)).toHaveLength(1);
    expect((await broker.fetch(CAPPED, 'w6', 5)).capped).toBe(true);
  });

  it('keeps a reclaimed job\'s permit with its new owner, and counts an at-most-once job taken off its stream', async () => {
    const { broker } = s();
    await broker.enqueue(CAPPED, [item({ id: 'a' }), item({ id: 'b' }), item({ id: 'c' }), item({ id: 'd' })]);
    const got = await broker.fetch(CAPPED, 'dead-worker', 3);
    expect(got).toHaveLength(3);
    expect(await broker.take(CAPPED, 'dead-worker', lease(got[2]!))).toBe(true);
    expect((await broker.fetch(CAPPED, 'w1', 1)).capped).toBe(true);
    await s().elapse(30);
    const reclaimed = await broker.reclaim(CAPPED, 'w1', reclaimOpts({ minIdleMs: 10 }));
    expect(reclaimed.claimed.length).toBe(2);
    expect((await broker.fetch(CAPPED, 'w1', 1)).capped).toBe(true);
  });

  it('says where the streams end when it has permits but no entries; the capped read then waits for one and delivers within the cap', async () => {
    const { broker } = s();
    const empty: Fetched = await broker.fetch(CAPPED, 'w1', 5);
    expect(empty).toHaveLength(0);
    expect(empty.capped).toBeUndefined();
    expect(empty.after).toHaveLength(CAPPED.levels.length + 1); // and the groups bell
    const reader = broker.blockingReader(CAPPED, 'w1');
    try {
      const read = reader.read(5, 5000, empty.after);
      await new Promise((r) => setTimeout(r, 50));
      await broker.enqueue(CAPPED, [item({ id: 'x', level: HIGH }), item({ id: 'y' }), item({ id: 'z' }), item({ id: 'w' })]);
      const got: Delivery[] = await read;
      expect(got.length).toBeGreaterThanOrEqual(1);
      expect(got.length).toBeLessThanOrEqual(3);
      const rest = await broker.fetch(CAPPED, 'w2', 5);
      expect(got.length + rest.length).toBe(3);
      // Nothing left to give: a read now finds no permit and answers nothing.
      expect(await reader.read(5, 50, [...CAPPED.levels, 'bell'].map(() => '0-0'))).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});
