// abort.lua, unschedule.lua and locate.lua: stopping a job wherever it is (waiting, delayed, a
// scheduled retry, held, taken, ended, unknown), removing a delayed one, and where a job is.
import { expect, it } from 'vitest';
import { ABORTED, completion, conformance, deadLetter, decoded, headerAttempt, HIGH, item, lease, NORMAL, NOT_YET, Q } from './kit.js';

conformance('abort, unschedule, locate', (s) => {
  it('aborts a waiting job: removed, its aborted record keeping its task, priority and arguments', async () => {
    const { broker, inspector } = s();
    const [a, b] = await broker.enqueue(Q, [item({ level: HIGH, data: '[1]' }), item({ id: 'b', data: '["x"]' })]);
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('aborted');
    expect(await broker.abort(Q, 'b', ABORTED.record, 3600)).toBe('aborted');
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { high: 0, normal: 0 }, active: 0 });
    expect(await broker.fetch(Q, 'w1', 10)).toEqual([]);
    expect(decoded(await broker.getResult(Q, a!.id))).toMatchObject({ status: 'aborted', meta: { task: 't', p: 'high', a: 3, name: 'JobAbortedError' }, args: '[1]' });
    expect(decoded(await broker.getResult(Q, b!.id))).toMatchObject({ status: 'aborted', meta: { task: 't', p: 'normal' }, args: '["x"]' });
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('finished');
    expect(await broker.locate(Q, 'b')).toMatchObject({ state: 'ended' });
    expect(await broker.enqueueOne(Q, item({ id: 'b' }))).toEqual({ id: 'b', created: false });
  });

  it('aborts a delayed job and a scheduled retry before they run', async () => {
    const { broker, inspector } = s();
    const [late] = await broker.enqueue(Q, [item({ due: { delay: NOT_YET }, data: '[2]' })]);
    const [r] = await broker.enqueue(Q, [item({ id: 'r' })]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.retry(Q, 'w1', lease(d!, 'r'), 1, NOT_YET, 'Error: again', ABORTED)).toBe('scheduled');
    expect(await inspector.counts(Q)).toMatchObject({ delayed: 2, active: 0 });
    expect(await broker.abort(Q, late!.id, ABORTED.record, 3600)).toBe('aborted');
    expect(await broker.abort(Q, r!.id, ABORTED.record, 3600)).toBe('aborted');
    expect(await inspector.counts(Q)).toMatchObject({ delayed: 0, waiting: { normal: 0 } });
    expect(decoded(await broker.getResult(Q, late!.id))).toMatchObject({ status: 'aborted', meta: { task: 't', p: 'normal' }, args: '[2]' });
    expect(decoded(await broker.getResult(Q, 'r'))).toMatchObject({ status: 'aborted', args: '[]' });
    expect(await broker.unschedule(Q, 'r')).toBe(false);
  });

  it('aborts a retry made ready at once while it waits', async () => {
    const { broker, inspector } = s();
    const { id } = await broker.enqueueOne(Q, item());
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.retry(Q, 'w1', lease(d!), 1, 0, 'Error: again', ABORTED)).toBe('scheduled');
    expect((await broker.locate(Q, id)).state).toBe('waiting');
    expect(await broker.abort(Q, id, ABORTED.record, 3600)).toBe('aborted');
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0 });
    expect((await broker.locate(Q, id)).state).toBe('ended');
  });

  it('flags a held or taken job and tells its worker: onAbort listeners, and the next renewal', async () => {
    const { broker } = s();
    const seen: [string, string][] = [];
    let told!: () => void;
    const both = new Promise<void>((resolve) => (told = resolve));
    const off = await broker.onAbort([Q], (queue, id) => {
      seen.push([queue, id]);
      if (seen.length === 2) told();
    });
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    const [da, db] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.take(Q, 'w1', lease(db!))).toBe(true);
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('aborting');
    expect(await broker.abort(Q, b!.id, ABORTED.record, 3600)).toBe('aborting');
    await both;
    await off();
    expect(seen).toEqual([['q', a!.id], ['q', b!.id]]);
    expect(await broker.locate(Q, a!.id)).toMatchObject({ state: 'active', abortRequested: true, owner: 'w1' });
    expect(await broker.locate(Q, b!.id)).toMatchObject({ state: 'active', abortRequested: true });
    expect(await broker.touch(Q, 'w1', [lease(da!)])).toEqual({ lost: [], abort: [a!.id] });
    // Asked again: still aborting, the job still held.
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('aborting');
    expect(await broker.complete(Q, 'w1', [completion(da!, a!.id, { record: ABORTED.record, abortRequested: true })])).toEqual([true]);
    expect(await broker.complete(Q, 'w1', [completion({ ...db!, entry: '' }, b!.id, { record: ABORTED.record })])).toEqual([true]);
    expect((await broker.locate(Q, b!.id)).abortRequested).toBe(false);
  });

  it("answers 'finished' for an ended job whose result is kept (dead-lettered too), 'not_found' otherwise", async () => {
    const { broker } = s();
    const [a, b, c] = await broker.enqueue(Q, [item(), item({ id: 'dead' }), item({ id: 'none' })]);
    const [da, db, dc] = await broker.fetch(Q, 'w1', 3);
    await broker.complete(Q, 'w1', [completion(da!, a!.id), completion(dc!, 'none', { ttl: 0 })]);
    await broker.deadLetter(Q, 'w1', deadLetter(db!, b!.id));
    expect(await broker.abort(Q, a!.id, ABORTED.record, 3600)).toBe('finished');
    expect(await broker.abort(Q, 'dead', ABORTED.record, 3600)).toBe('finished');
    expect(await broker.abort(Q, c!.id, ABORTED.record, 3600)).toBe('not_found');
    expect(await broker.abort(Q, 'never', ABORTED.record, 3600)).toBe('not_found');
    expect(await broker.abort(Q, '1-0', ABORTED.record, 3600)).toBe('not_found');
    expect(decoded(await broker.getResult(Q, a!.id))?.status).toBe('completed');
  });

  it('unschedules a delayed job or a scheduled retry, and nothing else', async () => {
    const { broker, inspector } = s();
    const [late, now] = await broker.enqueue(Q, [item({ id: 'late', due: { delay: NOT_YET } }), item()]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.unschedule(Q, now!.id)).toBe(false);
    await broker.retry(Q, 'w1', lease(d!), 1, NOT_YET, 'Error', ABORTED);
    expect(await broker.unschedule(Q, late!.id)).toBe(true);
    expect(await broker.unschedule(Q, now!.id)).toBe(true);
    expect(await broker.unschedule(Q, late!.id)).toBe(false);
    expect(await broker.unschedule(Q, 'never')).toBe(false);
    expect(await inspector.counts(Q)).toMatchObject({ delayed: 0, waiting: { normal: 0 }, active: 0 });
    expect((await broker.locate(Q, 'late')).state).toBe('unknown');
    // Unscheduled is gone, not ended: the id is free.
    expect(await broker.enqueueOne(Q, item({ id: 'late' }))).toEqual({ id: 'late', created: true });
  });

  it('promotes a delayed job or a scheduled retry to now, keeping its priority and attempt, and nothing else', async () => {
    const { broker, inspector } = s();
    const [late, now] = await broker.enqueue(Q, [item({ id: 'late', level: HIGH, due: { delay: NOT_YET } }), item()]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    expect(await broker.promoteJob(Q, now!.id)).toBe(false); // running, not delayed
    await broker.retry(Q, 'w1', lease(d!), 1, NOT_YET, 'Error', ABORTED);
    expect(await broker.promoteJob(Q, late!.id)).toBe(true);
    expect(await broker.promoteJob(Q, late!.id)).toBe(true); // still delayed until the next promotion
    expect(await broker.promoteJob(Q, now!.id)).toBe(true);
    expect(await broker.promoteJob(Q, 'never')).toBe(false);
    expect((await broker.promote(Q, 10)).moved).toBe(2);
    expect(await inspector.counts(Q)).toMatchObject({ delayed: 0, waiting: { high: 1, normal: 1 } });
    const got = await broker.fetch(Q, 'w2', 10);
    expect(got.map((g) => g.level).sort()).toEqual([NORMAL, HIGH]);
    expect(got.map((g) => headerAttempt(g.header)).sort()).toEqual(['', '1']); // never run, and one attempt spent
    expect(await broker.promoteJob(Q, late!.id)).toBe(false);
  });

  it('locates a job in every state', async () => {
    const { broker } = s();
    const t = await broker.time();
    const [w, , dl, c] = await broker.enqueue(Q, [
      item({ level: HIGH, data: '[1]' }), item({ id: 'a', data: '[2]' }), item({ id: 'dl', due: { at: t + NOT_YET }, data: '[3]' }), item(),
    ]);
    const none = { result: null, abortRequested: false };
    expect(await broker.locate(Q, w!.id)).toMatchObject({ ...none, state: 'waiting', level: HIGH, entry: w!.id, owner: '', deliveries: 0, header: '|t|||', data: '[1]', dueAt: null });
    const [dw] = await broker.fetch(Q, 'w1', 1);
    await s().elapse(20);
    const active = await broker.locate(Q, w!.id);
    expect(active).toMatchObject({ ...none, state: 'active', level: HIGH, entry: w!.id, owner: 'w1', deliveries: 1, header: '|t|||', data: '[1]' });
    expect(active.idleMs).toBeGreaterThanOrEqual(20);
    const waitingCustom = await broker.locate(Q, 'a');
    expect(waitingCustom).toMatchObject({ ...none, state: 'waiting', level: NORMAL, header: 'a|t|||', data: '[2]' });
    expect(waitingCustom.entry).toMatch(/^\d+-\d+$/);
    expect(waitingCustom.record.st).toBe('queued');
    expect(await broker.locate(Q, dl!.id)).toMatchObject({ ...none, state: 'delayed', level: NORMAL, dueAt: t + NOT_YET, header: 'dl|t|||', data: '[3]' });
    await broker.complete(Q, 'w1', [completion(dw!, w!.id)]);
    const ended = await broker.locate(Q, w!.id);
    expect(ended).toMatchObject({ state: 'ended', level: 0, entry: '', owner: '' });
    expect(decoded(ended.result)?.status).toBe('completed');
    expect(await broker.locate(Q, 'never')).toMatchObject({ ...none, state: 'unknown', level: 0, entry: '', header: undefined, data: undefined, record: {} });
    expect((await broker.locate(Q, c!.id)).state).toBe('waiting');
  });
});
