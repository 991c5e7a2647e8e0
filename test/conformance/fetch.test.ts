// fetch.lua, groups.lua and blocking reads: deliveries become leases (owner, count, idle), read
// highest priority first; a blocked read is woken by every transition that adds an entry, and
// ends on its timeout, interrupt() or close().
import { expect, it } from 'vitest';
import type { BlockingReader, Delivery } from '../../src/broker/types.js';
import { ABORTED, conformance, CRITICAL, deadLetter, HIGH, item, lease, LOW, NORMAL, Q, settled } from './kit.js';

/** Interrupts until the read ends: an interrupt sent before the read blocked on the server is lost. */
async function interruptUntilDone(reader: BlockingReader, read: Promise<Delivery[]>): Promise<Delivery[]> {
  let done = false;
  void read.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    await reader.interrupt();
    await Promise.race([read.catch(() => undefined), new Promise((r) => setTimeout(r, 20))]);
  }
  return read;
}

conformance('fetch and blocking reads', (s) => {
  it('delivers each entry to one consumer, highest level first, up to count', async () => {
    const { broker, inspector } = s();
    const out = await broker.enqueue(Q, [item({ level: LOW }), item({ level: NORMAL }), item({ level: HIGH }), item({ level: CRITICAL }), item({ level: HIGH })]);
    expect(await broker.fetch(Q, 'w1', 0)).toEqual([]);
    const first = await broker.fetch(Q, 'w1', 2);
    const second = await broker.fetch(Q, 'w2', 10);
    expect(first.map((d) => d.entry)).toEqual([out[3]!.id, out[2]!.id]);
    expect(second.map((d) => d.entry)).toEqual([out[4]!.id, out[1]!.id, out[0]!.id]);
    expect(await broker.fetch(Q, 'w3', 10)).toEqual([]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { low: 0, normal: 0, high: 0, critical: 0 }, active: 5 });
    expect(await broker.locate(Q, out[0]!.id)).toMatchObject({ state: 'active', owner: 'w2', deliveries: 1 });
  });

  it('creates the consumer groups once; a blocking read delivers at once what waits, else the next entry added', async () => {
    const { broker } = s();
    await broker.ensureGroups(Q);
    await broker.ensureGroups(Q);
    const reader = broker.blockingReader(Q, 'w1');
    try {
      expect(await reader.read(10, 30)).toEqual([]);
      const [a] = await broker.enqueue(Q, [item({ level: HIGH })]);
      expect((await reader.read(10, 20_000)).map((d) => [d.level, d.entry, d.token])).toEqual([[HIGH, a!.id, '1']]);
      const blocked = reader.read(10, 20_000);
      const [b] = await broker.enqueue(Q, [item()]);
      expect((await blocked).map((d) => d.entry)).toEqual([b!.id]);
      expect(await broker.locate(Q, b!.id)).toMatchObject({ state: 'active', owner: 'w1' });
    } finally {
      await reader.close();
    }
  });

  it('is woken by a promotion, a retry, a hand-back and a replay', async () => {
    const { broker, inspector } = s();
    await broker.ensureGroups(Q);
    const reader = broker.blockingReader(Q, 'w1');
    try {
      const promoted = reader.read(10, 20_000);
      const { id } = await broker.enqueueOne(Q, item({ id: 'p', due: { delay: 30 } }));
      await s().elapse(40);
      await broker.promote(Q, 10);
      const [d1] = await promoted;
      expect(String(d1!.header)).toBe('p|t|||');

      const retried = reader.read(10, 20_000);
      expect(await broker.retry(Q, 'w1', lease(d1!, id), 1, 0, 'Error', ABORTED)).toBe('scheduled');
      const [d2] = await retried;
      expect(String(d2!.header)).toBe('p|t|1||');

      const handedBack = reader.read(10, 20_000);
      expect(await broker.requeue(Q, 'w1', [lease(d2!, id)], 3600)).toBe(1);
      const [d3] = await handedBack;
      expect(d3!.entry).not.toBe(d2!.entry);

      await broker.deadLetter(Q, 'w1', deadLetter(d3!, id));
      const [dlq] = await inspector.dlqList(Q, { limit: 1 });
      const replayed = reader.read(10, 20_000);
      expect(await inspector.dlqReplay(Q, [dlq!.dlqId], false)).toEqual(['p']);
      expect((await replayed).map((d) => String(d.header))).toEqual(['p|t|3||']);
    } finally {
      await reader.close();
    }
  });

  it('ends a blocked read on interrupt() and on close(); reads after close answer nothing', async () => {
    const { broker } = s();
    await broker.ensureGroups(Q);
    const reader = broker.blockingReader(Q, 'w1');
    const [a] = await broker.enqueue(Q, [item()]);
    expect((await reader.read(10, 20_000)).map((d) => d.entry)).toEqual([a!.id]);
    // Longer than the test may run: only the interrupt can end it.
    expect(await interruptUntilDone(reader, reader.read(10, 120_000))).toEqual([]);
    const [b] = await broker.enqueue(Q, [item()]);
    expect((await reader.read(10, 20_000)).map((d) => d.entry)).toEqual([b!.id]);
    const pending = settled(reader.read(10, 120_000));
    await reader.close();
    // Ended either way: the memory broker answers [], Redis rejects the read it dropped.
    const out = await pending;
    if (out.ok) expect(out.value).toEqual([]);
    await broker.enqueue(Q, [item()]);
    expect(await reader.read(10, 120_000)).toEqual([]);
  });
});
