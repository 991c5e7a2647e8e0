// reclaim.lua: expired leases claimed (count + 1, deaths counted), poison jobs dead-lettered
// after maxRecoveries, suspects claimed alone, the caller's own idle entries listed, orphans
// claimed with or without a death (since), and jobs whose abort was asked for ended.
import { expect, it } from 'vitest';
import { ABORTED, completion, conformance, decoded, HIGH, item, lease, LOW, NORMAL, NOT_YET, Q, reclaimOpts } from './kit.js';

conformance('reclaim', (s) => {
  it("claims another consumer's entries once idle past minIdleMs, highest level first, up to count; none before", async () => {
    const { broker } = s();
    const [low, high, normal] = await broker.enqueue(Q, [item({ level: LOW }), item({ level: HIGH }), item({ level: NORMAL })]);
    await broker.fetch(Q, 'dead-worker', 3);
    expect(await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: NOT_YET }))).toEqual({ claimed: [], dead: [], own: [] });
    await s().elapse(40);
    const first = await broker.reclaim(Q, 'w1', reclaimOpts({ count: 2 }));
    expect(first.claimed.map((d) => [d.level, d.entry, d.token, d.deaths])).toEqual([[HIGH, high!.id, '2', 1], [NORMAL, normal!.id, '2', 1]]);
    expect(first.claimed[0]).toMatchObject({ header: '|t|||', data: '[]' });
    expect(first.dead).toEqual([]);
    // Done with them first: just claimed, they could still be idle 20 ms by the next call on a loaded machine.
    expect(await broker.complete(Q, 'w1', first.claimed.map((d) => completion(d, d.entry)))).toEqual([true, true]);
    const second = await broker.reclaim(Q, 'w2', reclaimOpts());
    expect(second.claimed.map((d) => d.entry)).toEqual([low!.id]);
    expect(await broker.locate(Q, low!.id)).toMatchObject({ state: 'active', owner: 'w2', deliveries: 2 });
    // Just claimed: not idle for another claimer.
    expect((await broker.reclaim(Q, 'w3', reclaimOpts({ minIdleMs: NOT_YET }))).claimed).toEqual([]);
    expect(await broker.complete(Q, 'w2', [completion(second.claimed[0]!, low!.id)])).toEqual([true]);
  });

  it("lists the caller's own entries idle for half the idle timeout, without claiming them", async () => {
    const { broker } = s();
    const [a] = await broker.enqueue(Q, [item({ level: HIGH })]);
    await broker.fetch(Q, 'w1', 1);
    expect((await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: NOT_YET }))).own).toEqual([]);
    await s().elapse(40);
    const out = await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 60 }));
    expect(out.claimed).toEqual([]);
    expect(out.own).toEqual([{ level: HIGH, entry: a!.id, idleMs: expect.any(Number) }]);
    expect(out.own[0]!.idleMs).toBeGreaterThanOrEqual(40);
    // Not claimed either when past the whole idle timeout: only the caller knows whether it runs it.
    expect((await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 20 }))).claimed).toEqual([]);
    expect(await broker.locate(Q, a!.id)).toMatchObject({ owner: 'w1', deliveries: 1 });
  });

  it('claims orphans it names whatever count says: without a death when delivered since `since`, with one when before', async () => {
    const { broker } = s();
    const started = await broker.time();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    const [da] = await broker.fetch(Q, 'w1', 1);
    await s().elapse(40);
    // This process started before the delivery: the reply was lost on its way, no worker died.
    const lost = await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 60, count: 0, since: started, orphans: [{ level: NORMAL, entry: a!.id }] }));
    expect(lost.claimed).toEqual([expect.objectContaining({ entry: a!.id, token: '1', deaths: 0 })]);
    expect(lost.own).toEqual([]);
    expect(await broker.complete(Q, 'w1', [completion(da!, a!.id)])).toEqual([true]);

    const [db] = await broker.fetch(Q, 'w1', 1);
    await s().elapse(40);
    // A process started after the delivery: the entry is a former process's (same id), a death.
    const since = await broker.time();
    const former = await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 60, count: 0, since, orphans: [{ level: NORMAL, entry: b!.id }] }));
    expect(former.claimed).toEqual([expect.objectContaining({ entry: b!.id, token: '2', deaths: 1 })]);
    expect(await broker.complete(Q, 'w1', [completion(db!, b!.id)])).toEqual([false]);
    expect(await broker.complete(Q, 'w1', [completion(former.claimed[0]!, b!.id)])).toEqual([true]);
  });

  it('dead-letters a poison orphan, and lists no orphan it was not asked for', async () => {
    const { broker } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    await broker.fetch(Q, 'w1', 2);
    await s().elapse(40);
    const since = await broker.time();
    const out = await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 60, maxRecoveries: 0, since, orphans: [{ level: NORMAL, entry: a!.id }] }));
    expect(out.claimed).toEqual([]);
    expect(out.dead).toEqual([a!.id]);
    expect(out.own.map((o) => o.entry)).toEqual([b!.id]);
  });

  it('dead-letters a poison job whose workers died more than maxRecoveries times, with a PoisonJobError result', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    const { id } = await broker.enqueueOne(Q, item({ id: 'p', data: '[1]' }));
    await broker.fetch(Q, 'dead-1', 1);
    await s().elapse(40);
    expect((await broker.reclaim(Q, 'dead-2', reclaimOpts({ maxRecoveries: 1 }))).claimed).toHaveLength(1);
    await s().elapse(40);
    const out = await broker.reclaim(Q, 'w1', reclaimOpts({ maxRecoveries: 1, ttl: 600 }));
    expect(out).toEqual({ claimed: [], dead: [id], own: [] });
    const [e] = await inspector.dlqList(Q, { limit: 10 });
    expect(e).toMatchObject({
      id: 'p', task: 't', reason: 'poison', error: 'PoisonJobError: worker died while running the job 2 times', attempts: 2,
      worker: 'dead-2', level: NORMAL, header: 'p|t|||', data: '[1]', queue: 'q',
    });
    expect(e!.failedAt).toBeGreaterThanOrEqual(t);
    expect(decoded(await broker.getResult(Q, id))).toMatchObject({
      status: 'failed', meta: { name: 'PoisonJobError', reason: 'poison', attempts: 2, task: 't', p: 'normal', a: 3 }, args: '[1]',
    });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 1 });
    expect(await broker.locate(Q, id)).toMatchObject({ state: 'ended' });
  });

  it('counts the deaths carried over a hand-back: a poison job cannot escape by being handed back', async () => {
    const { broker } = s();
    const { id } = await broker.enqueueOne(Q, item());
    const [d] = await broker.fetch(Q, 'dead-1', 1);
    // A dead worker's lease handed back for it (token ''): its delivery counts.
    expect(await broker.requeue(Q, 'dead-1', [lease({ ...d!, token: '' })], 3600)).toBe(1);
    const [again] = await broker.fetch(Q, 'dead-2', 1);
    expect(again).toMatchObject({ token: '1', deaths: 1 });
    await s().elapse(40);
    expect(await broker.reclaim(Q, 'w1', reclaimOpts({ maxRecoveries: 1 }))).toEqual({ claimed: [], dead: [id], own: [] });
  });

  it('claims a suspect alone: not with others, not before suspectMinIdleMs, and even with no room', async () => {
    const { broker } = s();
    const [x, y] = await broker.enqueue(Q, [item(), item()]);
    await broker.fetch(Q, 'dead-1', 2);
    await s().elapse(40);
    const one = await broker.reclaim(Q, 'dead-2', reclaimOpts({ count: 1, maxRecoveries: 5 }));
    expect(one.claimed.map((d) => d.entry)).toEqual([x!.id]);
    await s().elapse(40);
    // x has died twice: a suspect. y is claimed; x waits for a call that claims nothing else.
    const suspectOpts = { maxRecoveries: 5, suspectAt: 2, suspectMinIdleMs: 20 };
    const withOther = await broker.reclaim(Q, 'w1', reclaimOpts(suspectOpts));
    expect(withOther.claimed.map((d) => d.entry)).toEqual([y!.id]);
    expect(await broker.complete(Q, 'w1', [completion(withOther.claimed[0]!, y!.id)])).toEqual([true]);
    expect((await broker.reclaim(Q, 'w2', reclaimOpts({ ...suspectOpts, suspectMinIdleMs: NOT_YET }))).claimed).toEqual([]);
    // Alone, and past the budget (a full worker, count 0) too.
    const alone = await broker.reclaim(Q, 'w2', reclaimOpts({ ...suspectOpts, count: 0 }));
    expect(alone.claimed).toEqual([expect.objectContaining({ entry: x!.id, token: '3', deaths: 2 })]);
  });

  it('claims at most one suspect per call', async () => {
    const { broker } = s();
    const out = await broker.enqueue(Q, [item(), item()]);
    await broker.fetch(Q, 'dead-1', 2);
    await s().elapse(40);
    expect((await broker.reclaim(Q, 'dead-2', reclaimOpts())).claimed).toHaveLength(2);
    await s().elapse(40);
    const opts = reclaimOpts({ suspectAt: 2 });
    const first = await broker.reclaim(Q, 'w1', opts);
    expect(first.claimed.map((d) => d.entry)).toEqual([out[0]!.id]);
    expect(await broker.complete(Q, 'w1', [completion(first.claimed[0]!, out[0]!.id)])).toEqual([true]);
    expect((await broker.reclaim(Q, 'w2', opts)).claimed.map((d) => d.entry)).toEqual([out[1]!.id]);
  });

  it('ends a job whose abort was asked for while its worker was gone, instead of claiming it', async () => {
    const { broker, inspector } = s();
    const { id } = await broker.enqueueOne(Q, item({ data: '[4]' }));
    const [other] = await broker.enqueue(Q, [item()]);
    await broker.fetch(Q, 'dead-1', 2);
    expect(await broker.abort(Q, id, ABORTED.record, 3600)).toBe('aborting');
    await s().elapse(40);
    const out = await broker.reclaim(Q, 'w1', reclaimOpts({ count: 1, ttl: 600 }));
    // The ended one used the budget: the other is left for the next call.
    expect(out).toEqual({ claimed: [], dead: [], own: [] });
    expect(decoded(await broker.getResult(Q, id))).toMatchObject({
      status: 'aborted', meta: { name: 'JobAbortedError', message: 'aborted while its worker was gone', reason: 'aborted', task: 't' }, args: '[4]',
    });
    expect(await broker.locate(Q, id)).toMatchObject({ state: 'ended', abortRequested: false });
    expect((await broker.reclaim(Q, 'w1', reclaimOpts())).claimed.map((d) => d.entry)).toEqual([other!.id]);
    expect(await inspector.counts(Q)).toMatchObject({ active: 1, dlq: 0 });
  });
});
