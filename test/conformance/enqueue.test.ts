// enqueue.lua and promote.lua: ids, priority levels, due times, custom-id dedup (while waiting,
// delayed, running, kept as a result, dead-lettered) and cron tick guards.
import { expect, it } from 'vitest';
import { ABORTED, conformance, CRITICAL, deadLetter, completion, HIGH, item, lease, LOW, NORMAL, NOT_YET, Q, headerId } from './kit.js';

function parts(id: string): [number, number] {
  const [ms, seq] = id.split('-');
  return [Number(ms), Number(seq)];
}

conformance('enqueue', (s) => {
  it('gives auto ids from one counter across all levels and delivers highest priority first', async () => {
    const { broker } = s();
    const before = await broker.time();
    const out = await broker.enqueue(Q, [item({ level: LOW }), item({ level: CRITICAL }), item({ level: NORMAL }), item({ level: HIGH, data: '[1]' })]);
    expect(out.every((o) => o.created)).toBe(true);
    const [ms, seq] = parts(out[0]!.id);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(out.map((o) => o.id)).toEqual([0, 1, 2, 3].map((k) => `${ms}-${seq + k}`));
    const got = await broker.fetch(Q, 'w1', 10);
    expect(got.map((d) => [d.level, d.entry, d.token])).toEqual([
      [CRITICAL, out[1]!.id, '1'], [HIGH, out[3]!.id, '1'], [NORMAL, out[2]!.id, '1'], [LOW, out[0]!.id, '1'],
    ]);
    expect(got[1]).toMatchObject({ header: '|t|||', data: '[1]' });
    expect(got[1]!.deaths).toBeUndefined();
    expect(await broker.fetch(Q, 'w1', 10)).toEqual([]);
  });

  it('enqueueOne answers the one outcome, and ids keep growing over calls', async () => {
    const { broker } = s();
    const a = await broker.enqueueOne(Q, item());
    const b = await broker.enqueueOne(Q, item({ id: 'custom-1' }));
    const c = await broker.enqueueOne(Q, item());
    expect(a.created && b.created && c.created).toBe(true);
    expect(b.id).toBe('custom-1');
    const [am, as] = parts(a.id);
    const [cm, cs] = parts(c.id);
    expect(cm > am || (cm === am && cs > as)).toBe(true);
  });

  it('answers each of many callers in one turn its own outcomes, in call order, a large batch too', async () => {
    const { broker, inspector } = s();
    const big = Array.from({ length: 1000 }, () => item());
    const [one, many, dup, same, large] = await Promise.all([
      broker.enqueueOne(Q, item({ id: 'first' })),
      broker.enqueue(Q, [item(), item({ id: 'm' })]),
      broker.enqueueOne(Q, item({ id: 'first' })),
      broker.enqueue(Q, [item({ id: 'm' })]),
      broker.enqueue(Q, big),
    ]);
    expect(one).toEqual({ id: 'first', created: true });
    expect(many).toEqual([{ id: expect.stringMatching(/^\d+-\d+$/), created: true }, { id: 'm', created: true }]);
    expect(dup).toEqual({ id: 'first', created: false });
    expect(same).toEqual([{ id: 'm', created: false }]);
    expect(large).toHaveLength(1000);
    expect(new Set(large.map((o) => o.id)).size).toBe(1000);
    expect((await inspector.counts(Q)).waiting.normal).toBe(1003);
  });

  it('adds a custom id once: a second one in the same call, or while it waits, is delayed or runs, is refused', async () => {
    const { broker, inspector } = s();
    expect(await broker.enqueue(Q, [item({ id: 'a' }), item({ id: 'a', data: '[2]' })])).toEqual([{ id: 'a', created: true }, { id: 'a', created: false }]);
    expect(await broker.enqueueOne(Q, item({ id: 'b', due: { delay: NOT_YET } }))).toEqual({ id: 'b', created: true });
    expect(await broker.enqueueOne(Q, item({ id: 'b' }))).toEqual({ id: 'b', created: false });
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(d).toMatchObject({ entry: expect.stringMatching(/^\d+-\d+$/), header: 'a|t|||', data: '[]' });
    expect(await broker.enqueueOne(Q, item({ id: 'a' }))).toEqual({ id: 'a', created: false });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, delayed: 1, active: 1 });
  });

  it('refuses a custom id while its result is kept, and takes it again when none is kept', async () => {
    const { broker } = s();
    await broker.enqueueOne(Q, item({ id: 'kept' }));
    await broker.enqueueOne(Q, item({ id: 'gone' }));
    const [a, b] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.complete(Q, 'w1', [completion(a!, 'kept', { ttl: 3600 }), completion(b!, 'gone', { ttl: 0 })])).toEqual([true, true]);
    expect(await broker.enqueueOne(Q, item({ id: 'kept' }))).toEqual({ id: 'kept', created: false });
    expect(await broker.enqueueOne(Q, item({ id: 'gone' }))).toEqual({ id: 'gone', created: true });
  });

  it('dedups a dead-lettered custom id while its failed result is kept; without one the id is free though the job sits in the DLQ', async () => {
    const { broker, inspector } = s();
    await broker.enqueue(Q, [item({ id: 'k1' }), item({ id: 'k2' })]);
    const [a, b] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(a!, 'k1', { ttl: 3600 }))).toBe(true);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(b!, 'k2', { ttl: 0 }))).toBe(true);
    expect(await inspector.dlqCount(Q)).toBe(2);
    expect(await broker.enqueueOne(Q, item({ id: 'k1' }))).toEqual({ id: 'k1', created: false });
    expect(await broker.enqueueOne(Q, item({ id: 'k2' }))).toEqual({ id: 'k2', created: true });
    expect((await inspector.dlqList(Q, { limit: 10 })).map((e) => e.id)).toEqual(['k1', 'k2']);
  });

  it('makes a job due now or in the past ready at once, and a future one delayed at its due time', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    const out = await broker.enqueue(Q, [
      item({ due: { delay: 0 } }), item({ due: { at: t - 1000 } }), item({ id: 'at', due: { at: t + NOT_YET } }), item({ due: { delay: NOT_YET } }),
    ]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 2 }, delayed: 2, active: 0 });
    const at = await broker.locate(Q, 'at');
    expect(at).toMatchObject({ state: 'delayed', level: NORMAL, dueAt: t + NOT_YET, header: 'at|t|||', data: '[]' });
    const later = await broker.locate(Q, out[3]!.id);
    expect(later.state).toBe('delayed');
    expect(later.dueAt).toBeGreaterThanOrEqual(t + NOT_YET);
    // A delayed auto-id job's header names its id: it gets a new entry when it is promoted.
    expect(later.header).toBe(`${out[3]!.id}|t|||`);
    expect((await broker.fetch(Q, 'w1', 10)).map((d) => d.entry)).toEqual([out[0]!.id, out[1]!.id]);
  });

  it("announces a delayed job that became the queue's earliest due ('|due'): enqueued, retried later or promoted now; not one due after another", async () => {
    const { broker } = s();
    const due: string[] = [];
    const off = await broker.onAbort([Q], () => undefined, undefined, undefined, undefined, (q) => due.push(q.name));
    const heard = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && due.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 30)); // and no more than n
      expect(due).toHaveLength(n);
    };
    try {
      await broker.enqueue(Q, [item({ id: 'late', due: { delay: 600_000 } })]);
      await heard(1);
      await broker.enqueue(Q, [item({ id: 'later', due: { delay: 900_000 } }), item({ id: 'now' })]);
      await heard(1);
      await broker.enqueue(Q, [item({ id: 'sooner', due: { delay: 300_000 } }), item({ id: 'soon2', due: { delay: 200_000 } })]);
      await heard(2); // one notice a call
      const [got] = await broker.fetch(Q, 'w1', 1);
      expect(await broker.retry(Q, 'w1', lease(got!, 'now'), 1, 100_000, 'Error: again', ABORTED)).toBe('scheduled');
      await heard(3);
      expect(await broker.promoteJob(Q, 'later')).toBe(true);
      await heard(4);
    } finally {
      await off();
    }
  });

  it('takes the next id for auto jobs, delayed or not, and none for a delayed custom job', async () => {
    const { broker } = s();
    const out = await broker.enqueue(Q, [item(), item({ id: 'x', due: { delay: NOT_YET } }), item({ due: { delay: NOT_YET } }), item()]);
    const [ms, seq] = parts(out[0]!.id);
    expect(out.map((o) => o.id)).toEqual([`${ms}-${seq}`, 'x', `${ms}-${seq + 1}`, `${ms}-${seq + 2}`]);
    expect(out.every((o) => o.created)).toBe(true);
  });

  it('promotes due jobs to their level as new entries, their ids kept in their headers; not before they are due', async () => {
    const { broker, inspector } = s();
    const [auto, custom, far] = await broker.enqueue(Q, [
      item({ level: HIGH, due: { delay: s().short } }), item({ id: 'd', level: LOW, due: { delay: s().short } }), item({ id: 'far', due: { delay: NOT_YET } }),
    ]);
    const early = await broker.promote(Q, 100);
    expect(early.moved).toBe(0);
    expect(early.nextDueMs).toBeGreaterThanOrEqual(0);
    expect(early.nextDueMs).toBeLessThanOrEqual(s().short);
    expect(await broker.fetch(Q, 'w1', 10)).toEqual([]);
    await s().elapse(s().short + 10);
    const first = await broker.promote(Q, 1);
    const second = await broker.promote(Q, 100);
    // The memory broker's clock promotes on advance; Redis moves them when promote is called.
    expect([first.moved, second.moved]).toEqual(s().promotesOnElapse ? [0, 0] : [1, 1]);
    expect(second.nextDueMs).toBeGreaterThan(NOT_YET / 2);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { high: 1, low: 1 }, delayed: 1 });
    const got = await broker.fetch(Q, 'w1', 10);
    expect(got.map((d) => [d.level, headerId(d)])).toEqual([[HIGH, auto!.id], [LOW, 'd']]);
    expect(got[0]!.entry).not.toBe(auto!.id);
    expect(await broker.locate(Q, auto!.id)).toMatchObject({ state: 'active', entry: got[0]!.entry, owner: 'w1', level: HIGH });
    expect(await broker.locate(Q, custom!.id)).toMatchObject({ state: 'active', entry: got[1]!.entry, level: LOW });
    expect((await broker.locate(Q, far!.id)).state).toBe('delayed');
  });

  it('dead-letters a due delayed job whose record lost its envelope (it cannot run), and frees its id', async () => {
    const { broker, inspector } = s();
    await broker.enqueueOne(Q, item({ id: 'bare', due: { delay: 30 } }));
    await s().editRecord(Q, 'bare', {}, ['h', 'd']);
    await s().elapse(40);
    await broker.promote(Q, 10);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, delayed: 0, dlq: 1 });
    expect(await broker.fetch(Q, 'w1', 10)).toEqual([]);
    const [dead] = await inspector.dlqList(Q, { limit: 10 });
    expect(dead).toMatchObject({ id: 'bare', reason: 'malformed', attempts: 0 });
    expect(dead!.error).toMatch(/delayed job bare came due but its record holds no envelope/);
    // Nothing is left that would refuse the id or call the job delayed.
    expect((await broker.locate(Q, 'bare')).state).toBe('unknown');
    expect((await broker.enqueueOne(Q, item({ id: 'bare' }))).created).toBe(true);
  });

  it('enqueues a cron tick once, never an older one, and again after deleteSchedule forgot the tick', async () => {
    const { broker, inspector } = s();
    const tick = 1_900_000_000_000;
    expect(await broker.enqueue(Q, [item(), item()], { schedule: 'nightly', tick })).toHaveLength(2);
    expect(await broker.enqueue(Q, [item()], { schedule: 'nightly', tick })).toEqual([]);
    expect(await broker.enqueue(Q, [item()], { schedule: 'nightly', tick: tick - 1 })).toEqual([]);
    // Another schedule has its own guard.
    expect(await broker.enqueue(Q, [item()], { schedule: 'hourly', tick })).toHaveLength(1);
    expect(await broker.enqueue(Q, [item()], { schedule: 'nightly', tick: tick + 1 })).toHaveLength(1);
    await broker.saveSchedule('nightly', '{"cron":"0 3 * * *"}');
    expect(await broker.deleteSchedule('nightly', Q)).toBe(true);
    expect(await broker.deleteSchedule('nightly', Q)).toBe(false);
    expect(await broker.enqueue(Q, [item()], { schedule: 'nightly', tick })).toHaveLength(1);
    expect((await inspector.counts(Q)).waiting.normal).toBe(5);
  });
});
