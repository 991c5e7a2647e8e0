// complete.lua, retry.lua, dead.lua, take.lua, requeue.lua (hand_back) and touch.lua: what each
// outcome records, and fencing: a worker that lost its lease records nothing.
import { expect, it } from 'vitest';
import {
  ABORTED, completion, conformance, deadLetter, decoded, headerAttempt, headerId, HIGH, item, lease, NORMAL, NOT_YET, Q, reclaimOpts, record,
} from './kit.js';

conformance('outcomes', (s) => {
  it('completes a batch, each job fenced on its own: one held by another consumer is refused', async () => {
    const { broker, inspector } = s();
    const [a, c, b] = await broker.enqueue(Q, [item(), item({ id: 'c' }), item()]);
    const mine = await broker.fetch(Q, 'w1', 2);
    const [theirs] = await broker.fetch(Q, 'w2', 1);
    expect(mine.map((d) => d.entry)).toEqual([a!.id, expect.any(String)]);
    const out = await broker.complete(Q, 'w1', [
      completion(mine[0]!, a!.id, { record: record('completed', '"A"') }),
      completion(mine[1]!, 'c', { record: record('completed', '"C"') }),
      completion(theirs!, b!.id),
    ]);
    expect(out).toEqual([true, true, false]);
    expect(decoded(await broker.getResult(Q, a!.id))?.value).toBe('"A"');
    expect(decoded(await broker.getResult(Q, c!.id))).toMatchObject({ status: 'completed', value: '"C"' });
    expect(await broker.getResult(Q, b!.id)).toBeNull();
    expect(await broker.locate(Q, 'c')).toMatchObject({ state: 'ended' });
    expect(await broker.locate(Q, b!.id)).toMatchObject({ state: 'active', owner: 'w2' });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 1 });
    // Token '' stands for any delivery count of the caller's lease.
    expect(await broker.complete(Q, 'w2', [completion({ ...theirs!, token: '' }, b!.id)])).toEqual([true]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0 });
  });

  it('acknowledges on several levels at once, in any order, and never drops an entry still waiting', async () => {
    const { broker, inspector } = s();
    const [a, b, c, h] = await broker.enqueue(Q, [item(), item(), item(), item({ level: HIGH })]);
    const got = await broker.fetch(Q, 'w1', 4);
    const by = (id: string) => got.find((d) => d.entry === id)!;
    // Newer entries first, with older ones still pending.
    expect(await broker.complete(Q, 'w1', [completion(by(c!.id), c!.id), completion(by(h!.id), h!.id)])).toEqual([true, true]);
    const [d] = await broker.enqueue(Q, [item()]);
    expect(await broker.complete(Q, 'w1', [completion(by(a!.id), a!.id)])).toEqual([true]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 1, high: 0 }, active: 1 });
    expect(await broker.complete(Q, 'w1', [completion(by(b!.id), b!.id)])).toEqual([true]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 1 }, active: 0 });
    expect((await broker.fetch(Q, 'w1', 10)).map((x) => x.entry)).toEqual([d!.id]);
  });

  it('keeps a result for its ttl: none for 0, and clears an abort asked for while the job ran', async () => {
    const { broker } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    const [da, db] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('aborting');
    expect((await broker.locate(Q, a!.id)).abortRequested).toBe(true);
    expect(await broker.complete(Q, 'w1', [completion(da!, a!.id, { ttl: -1, abortRequested: true }), completion(db!, b!.id, { ttl: 0 })])).toEqual([true, true]);
    expect(await broker.locate(Q, a!.id)).toMatchObject({ state: 'ended', abortRequested: false });
    expect(await broker.getResult(Q, b!.id)).toBeNull();
    expect((await broker.locate(Q, b!.id)).state).toBe('unknown');
  });

  it('refuses every late outcome of a worker whose lease was reclaimed, and the old token of the new owner too', async () => {
    const { broker, inspector } = s();
    await broker.enqueueOne(Q, item({ id: 'x' }));
    const [d1] = await broker.fetch(Q, 'w1', 1);
    await s().elapse(40);
    const { claimed: [d2] } = await broker.reclaim(Q, 'w2', reclaimOpts());
    expect(d2).toMatchObject({ entry: d1!.entry, token: '2', deaths: 1 });
    const late = lease(d1!, 'x');
    expect(await broker.complete(Q, 'w1', [completion(d1!, 'x')])).toEqual([false]);
    expect(await broker.retry(Q, 'w1', late, 1, 0, 'Error: late', ABORTED)).toBe('refused');
    expect(await broker.deadLetter(Q, 'w1', deadLetter(d1!, 'x'))).toBe(false);
    expect(await broker.take(Q, 'w1', late)).toBe(false);
    expect(await broker.requeue(Q, 'w1', [late], 3600)).toBe(0);
    expect(await broker.touch(Q, 'w1', [late])).toEqual({ lost: ['x'], abort: [] });
    expect(await broker.complete(Q, 'w2', [completion(d1!, 'x')])).toEqual([false]);
    expect(await broker.touch(Q, 'w2', [late])).toEqual({ lost: ['x'], abort: [] });
    expect(await broker.locate(Q, 'x')).toMatchObject({ state: 'active', owner: 'w2', deliveries: 2 });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 1, dlq: 0 });
    expect(await broker.getResult(Q, 'x')).toBeNull();
    expect(await broker.complete(Q, 'w2', [completion(d2!, 'x')])).toEqual([true]);
    expect((await broker.locate(Q, 'x')).state).toBe('ended');
  });

  it('retries at once as a new entry at the end of its level, the attempts spent in its header and the error in its record', async () => {
    const { broker } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    const [da] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.retry(Q, 'w1', lease(da!), 1, 0, 'Error: first', ABORTED)).toBe('scheduled');
    const again = await broker.fetch(Q, 'w1', 10);
    expect(again.map((d) => d.entry)).toEqual([b!.id, expect.any(String)]);
    const next = again[1]!;
    expect(next.entry).not.toBe(a!.id);
    expect([headerId(next), headerAttempt(next.header), next.token, next.data]).toEqual([a!.id, '1', '1', '[]']);
    const at = await broker.locate(Q, a!.id);
    expect(at).toMatchObject({ state: 'active', entry: next.entry, owner: 'w1', deliveries: 1 });
    expect(at.record.err).toBe('Error: first');
  });

  it('retries after a delay through the delayed set, then runs the next attempt with its attempts counted', async () => {
    const { broker } = s();
    const t = await broker.time();
    const { id } = await broker.enqueueOne(Q, item({ id: 'r', data: '[7]' }));
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.retry(Q, 'w1', lease(d!), 2, 30, 'Error: later', ABORTED)).toBe('scheduled');
    const at = await broker.locate(Q, id);
    expect(at).toMatchObject({ state: 'delayed', level: NORMAL, data: '[7]' });
    expect(at.dueAt).toBeGreaterThanOrEqual(t + 30);
    expect(headerAttempt(at.header)).toBe('2');
    expect(at.record.err).toBe('Error: later');
    expect(await broker.fetch(Q, 'w1', 1)).toEqual([]);
    await s().elapse(40);
    await broker.promote(Q, 10);
    const [next] = await broker.fetch(Q, 'w1', 1);
    expect([headerId(next!), headerAttempt(next!.header), next!.data]).toEqual(['r', '2', '[7]']);
  });

  it('ends a job aborted while its failed attempt was settling instead of retrying it', async () => {
    const { broker, inspector } = s();
    const { id } = await broker.enqueueOne(Q, item());
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.abort(Q, id, ABORTED.record, 3600)).toBe('aborting');
    expect(await broker.retry(Q, 'w1', lease(d!), 1, 0, 'Error: x', ABORTED)).toBe('aborted');
    expect(decoded(await broker.getResult(Q, id))?.status).toBe('aborted');
    expect(await broker.locate(Q, id)).toMatchObject({ state: 'ended', abortRequested: false });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, delayed: 0, active: 0 });
  });

  it('dead-letters a job with why it failed, its attempts in its header, and stores its failed result', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    const [a] = await broker.enqueue(Q, [item({ data: '[1,2]' })]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(d!, a!.id, { attempts: 3, worker: 'w1' }))).toBe(true);
    const [e] = await inspector.dlqList(Q, { limit: 10 });
    expect(e).toMatchObject({
      id: a!.id, task: 't', queue: 'q', level: NORMAL, reason: 'max-tries', error: 'Error: boom', stack: 'Error: boom\n    at here',
      attempts: 3, worker: 'w1', header: `${a!.id}|t|3||`, data: '[1,2]',
    });
    expect(e!.failedAt).toBeGreaterThanOrEqual(t);
    expect(decoded(await broker.getResult(Q, a!.id))).toMatchObject({ status: 'failed', meta: { name: 'Error', message: 'boom' } });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 1 });
  });

  it('records only the failure when the DLQ is off, and keeps the header attempt when none was spent', async () => {
    const { broker, inspector } = s();
    const [a, b] = await broker.enqueue(Q, [item({ id: 'off' }), item({ id: 'zero' })]);
    const [da, db] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(da!, a!.id, { useDlq: false }))).toBe(true);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(db!, b!.id, { attempts: 0, reason: 'malformed' }))).toBe(true);
    expect(decoded(await broker.getResult(Q, 'off'))?.status).toBe('failed');
    expect((await inspector.dlqList(Q, { limit: 10 })).map((e) => [e.id, e.reason, e.header])).toEqual([['zero', 'malformed', 'zero|t|||']]);
  });

  it('takes an at-most-once job off its stream: a take sent again by its taker answers true, by another false', async () => {
    const { broker, inspector } = s();
    const [a] = await broker.enqueue(Q, [item({ data: '[9]' })]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    const l = lease(d!);
    expect(await broker.take(Q, 'w1', l)).toBe(true);
    expect(await broker.take(Q, 'w1', l)).toBe(true);
    expect(await broker.take(Q, 'w2', l)).toBe(false);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 1 });
    expect(await broker.locate(Q, a!.id)).toMatchObject({ state: 'active', owner: '', entry: '', deliveries: 1, header: '|t|||', data: '[9]' });
    expect(await inspector.listJobs(Q, 'active', 10)).toMatchObject([{ id: a!.id, state: 'active', level: NORMAL, owner: 'w1' }]);
    // Its taker's renewal does not find it lost (the take's answer may still be on its way); another's does.
    expect(await broker.touch(Q, 'w1', [l])).toEqual({ lost: [], abort: [] });
    expect(await broker.touch(Q, 'w2', [l])).toEqual({ lost: [a!.id], abort: [] });
    // Its outcome names no entry: it was taken.
    expect(await broker.complete(Q, 'w1', [completion({ ...d!, entry: '' }, a!.id)])).toEqual([true]);
    expect(await inspector.counts(Q)).toMatchObject({ active: 0 });
    expect((await broker.locate(Q, a!.id)).state).toBe('ended');
    expect(await broker.take(Q, 'w1', l)).toBe(false);
  });

  it("dead-letters a taken job with the envelope its worker holds, and frees its place", async () => {
    const { broker, inspector } = s();
    const [a] = await broker.enqueue(Q, [item({ data: '[3]' })]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.take(Q, 'w1', lease(d!))).toBe(true);
    expect(await broker.deadLetter(Q, 'w1', deadLetter({ ...d!, entry: '' }, a!.id, { reason: 'at-most-once', attempts: 1 }))).toBe(true);
    expect(await inspector.dlqList(Q, { limit: 10 })).toMatchObject([{ id: a!.id, reason: 'at-most-once', header: `${a!.id}|t|1||`, data: '[3]' }]);
    expect(await inspector.counts(Q)).toMatchObject({ active: 0, dlq: 1 });
  });

  it('hands jobs back as new entries at the end of their level without spending an attempt, fenced by token', async () => {
    const { broker, inspector } = s();
    const [a, b, c] = await broker.enqueue(Q, [item(), item({ id: 'b' }), item()]);
    const [da, db] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.requeue(Q, 'w1', [], 3600)).toBe(0);
    expect(await broker.requeue(Q, 'w1', [lease({ ...da!, token: '7' })], 3600)).toBe(0);
    expect(await broker.requeue(Q, 'w1', [lease(da!), lease({ ...db!, token: '' }, 'b')], 3600)).toBe(2);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 3 }, active: 0 });
    const got = await broker.fetch(Q, 'w2', 10);
    expect(got.map((d) => d.entry)[0]).toBe(c!.id);
    // Token '' (any: a dead worker's lease, handed back for it) counts that delivery as a death.
    expect(got.slice(1).map((d) => [headerId(d), headerAttempt(d.header), d.deaths])).toEqual([[a!.id, '', undefined], ['b', '', 1]]);
    expect(await broker.locate(Q, b!.id)).toMatchObject({ state: 'active', owner: 'w2', entry: got[2]!.entry });
  });

  it('carries the deaths a job saw over a hand-back (field r): a reclaimed delivery counts, the holder\'s own does not', async () => {
    const { broker } = s();
    await broker.enqueueOne(Q, item({ id: 'r' }));
    await broker.fetch(Q, 'dead-worker', 1);
    await s().elapse(40);
    const { claimed: [d] } = await broker.reclaim(Q, 'w1', reclaimOpts());
    expect(await broker.requeue(Q, 'w1', [lease(d!, 'r')], 3600)).toBe(1);
    const [again] = await broker.fetch(Q, 'w2', 1);
    expect(again).toMatchObject({ token: '1', deaths: 1 });
  });

  it('ends a job aborted while it is handed back, its aborted record kept for the ttl', async () => {
    const { broker, inspector } = s();
    const { id } = await broker.enqueueOne(Q, item({ data: '[5]' }));
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.abort(Q, id, ABORTED.record, 3600)).toBe('aborting');
    expect(await broker.requeue(Q, 'w1', [lease(d!)], 3600)).toBe(1);
    const r = decoded(await broker.getResult(Q, id));
    expect(r).toMatchObject({ status: 'aborted', meta: { name: 'JobAbortedError', message: 'aborted while it was handed back', reason: 'aborted', task: 't', p: 'normal', a: 3 }, args: '[5]' });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0 });
    expect((await broker.locate(Q, id)).abortRequested).toBe(false);
  });

  it('renews held leases without counting a delivery and reports the aborts asked for', async () => {
    const { broker } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    const [da, db] = await broker.fetch(Q, 'w1', 2);
    await s().elapse(30);
    expect(await broker.abort(Q, b!.id, ABORTED.record, 3600)).toBe('aborting');
    expect(await broker.touch(Q, 'w1', [])).toEqual({ lost: [], abort: [] });
    expect(await broker.touch(Q, 'w1', [lease(da!)])).toEqual({ lost: [], abort: [] });
    // Renewed after the other was delivered and looked at before it: less idle, whatever the load.
    const renewed = await broker.locate(Q, a!.id);
    const idle = await broker.locate(Q, b!.id);
    expect(renewed.idleMs).toBeLessThan(idle.idleMs);
    expect(idle.idleMs).toBeGreaterThanOrEqual(30);
    expect(renewed.deliveries).toBe(1);
    expect(await broker.touch(Q, 'w1', [lease(da!), lease(db!), lease({ ...da!, token: '2' })])).toEqual({ lost: [a!.id], abort: [b!.id] });
    expect((await broker.reclaim(Q, 'w2', reclaimOpts({ minIdleMs: NOT_YET }))).claimed).toEqual([]);
    expect(await broker.complete(Q, 'w1', [completion(da!, a!.id)])).toEqual([true]);
  });
});
