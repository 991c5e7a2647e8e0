// pause.lua and the paused check of fetch.lua: a paused queue delivers nothing to a fetch (which
// says it is paused), its workers hear of a pause and a resume on the queue's abort channel, and
// the state is kept until resumed; enqueues, counts and the rest go on.
import { expect, it } from 'vitest';
import type { QueueRef } from '../../src/broker/types.js';
import { conformance, item, Q, until } from './kit.js';

conformance('pause and resume', (s) => {
  it('delivers nothing while paused, says so to the fetch, and delivers again once resumed', async () => {
    const { broker, inspector } = s();
    const heard: [QueueRef, boolean][] = [];
    const aborts: string[] = [];
    const off = await broker.onAbort([Q], (_q, id) => aborts.push(id), undefined, (q, paused) => heard.push([q, paused]));
    try {
      await broker.enqueue(Q, [item(), item()]);
      expect(await broker.isPaused(Q)).toBe(false);
      await broker.setPaused(Q, true);
      await until(() => heard.length === 1);
      expect(heard[0]).toEqual([Q, true]);
      expect(await broker.isPaused(Q)).toBe(true);
      const none = await broker.fetch(Q, 'w1', 10);
      expect(none).toHaveLength(0);
      expect(none.paused).toBe(true);
      // Enqueues go on, and the counts show the queue paused with its jobs waiting.
      await broker.enqueue(Q, [item()]);
      expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 3 }, paused: true });
      await broker.setPaused(Q, true); // pausing twice is one pause
      await broker.setPaused(Q, false);
      await until(() => heard.length === 3);
      expect(heard.at(-1)).toEqual([Q, false]);
      expect(await broker.isPaused(Q)).toBe(false);
      const got = await broker.fetch(Q, 'w1', 10);
      expect(got).toHaveLength(3);
      expect(got.paused).toBeUndefined();
      expect((await inspector.counts(Q)).paused).toBe(false);
      // A notice of a pause is never taken for an abort.
      expect(aborts).toEqual([]);
    } finally {
      await off();
    }
  });
});
