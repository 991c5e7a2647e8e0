// A queue's rate limit (QueueRef.rateLimit: a token bucket of `max`, refilled continuously at
// max per perMs) and its hold (Broker.hold, behind ctx.rateLimit): a fetch delivers no more than
// the tokens there are and says how long until a batch's worth when it has too few; over a
// window of W ms, no more than max + W x rate jobs go out, however many consumers ask; a held
// queue delivers nothing and says for how long, a longer hold standing; the capped (limited)
// blocking read waits for entries, then fetches through the limit.
import { expect, it } from 'vitest';
import type { Fetched, QueueRef } from '../../src/broker/types.js';
import { conformance, item, Q } from './kit.js';

/** 10 jobs per 200 ms: a batch is one token (10 x 10 ms / 200 ms rounds down to 0). */
const LIMITED: QueueRef = { ...Q, rateLimit: { max: 10, perMs: 200 } };

conformance('a rate limit and a hold', (s) => {
  it('delivers at most the bucket, says how long until more, and refills at the rate over every consumer', async () => {
    const { broker } = s();
    await broker.enqueue(LIMITED, Array.from({ length: 60 }, (_, i) => item({ id: `r${i}` })));
    const started = Date.now();
    const first = await broker.fetch(LIMITED, 'w1', 50);
    expect(first).toHaveLength(10);
    const none: Fetched = await broker.fetch(LIMITED, 'w2', 50);
    // On real time a loaded machine may stall between the two calls: what refilled meanwhile
    // (a token per 20 ms) may go out, no more; with nothing left it says how long until a token.
    const gapMs = s().promotesOnElapse ? 0 : Date.now() - started;
    expect(none.length).toBeLessThanOrEqual(Math.floor((gapMs * 10) / 200));
    if (none.length === 0) {
      expect(none.limitedMs).toBeGreaterThan(0);
      expect(none.limitedMs).toBeLessThanOrEqual(20);
    }
    // Some time on, several consumers asking: never more than the bucket refilled meanwhile.
    let delivered = first.length + none.length;
    for (let round = 0; round < 6; round++) {
      await s().elapse(40);
      for (const w of ['w1', 'w2', 'w3']) delivered += (await broker.fetch(LIMITED, w, 50)).length;
    }
    // On real time the window is what the clock says passed (a loaded machine only lengthens
    // it); on the manual clock it is 240 ms.
    const windowMs = s().promotesOnElapse ? 240 : Date.now() - started;
    expect(delivered).toBeLessThanOrEqual(10 + Math.ceil((windowMs * 10) / 200));
    expect(delivered).toBeGreaterThan(10);
  });

  it('holds a queue: nothing delivered while held, for how long said, a longer hold standing; an unheld queue unaffected', async () => {
    const { broker } = s();
    await broker.enqueue(Q, [item({ id: 'a' }), item({ id: 'b' })]);
    await broker.hold(Q, 60_000);
    const held: Fetched = await broker.fetch(Q, 'w1', 5);
    expect(held).toHaveLength(0);
    expect(held.limitedMs).toBeGreaterThan(50_000);
    await broker.hold(Q, 10); // shorter: the minute stands
    expect((await broker.fetch(Q, 'w1', 5)).limitedMs).toBeGreaterThan(50_000);
    const other: QueueRef = { ...Q, name: 'other' };
    await broker.enqueue(other, [item({ id: 'c' })]);
    expect(await broker.fetch(other, 'w1', 5)).toHaveLength(1);
    // A short hold runs out (short: it surely has not by the next call, even on a loaded machine).
    await broker.enqueue(other, [item({ id: 'd' })]);
    await broker.hold(other, s().short);
    expect((await broker.fetch(other, 'w1', 5)).limitedMs).toBeGreaterThan(0);
    await s().elapse(s().short + 20);
    expect(await broker.fetch(other, 'w1', 5)).toHaveLength(1);
  });

  it('tells its listeners a queue was held', async () => {
    const { broker } = s();
    const heard: string[] = [];
    const off = await broker.onAbort([Q], () => undefined, undefined, undefined, (q) => heard.push(q.name));
    try {
      await broker.hold(Q, 1000);
      for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(heard).toEqual([Q.name]);
    } finally {
      await off();
    }
  });

  it('says where the streams end when it has tokens but no entries; the limited read then waits for one', async () => {
    const { broker } = s();
    const empty: Fetched = await broker.fetch(LIMITED, 'w1', 5);
    expect(empty).toHaveLength(0);
    expect(empty.after).toHaveLength(LIMITED.levels.length + 1); // and the groups bell
    const reader = broker.blockingReader(LIMITED, 'w1');
    try {
      const read = reader.read(5, 5000, empty.after);
      await new Promise((r) => setTimeout(r, 50));
      await broker.enqueue(LIMITED, [item({ id: 'x' }), item({ id: 'y' })]);
      expect((await read).length).toBeGreaterThanOrEqual(1);
    } finally {
      await reader.close();
    }
  });
});
