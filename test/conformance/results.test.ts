// Results (store_result in lib.lua: every outcome script stores one and wakes its waiters),
// waitForResult, result TTLs and what ends with an expired result, progress and logs.
import { expect, it } from 'vitest';
import {
  ABORTED, completion, conformance, deadLetter, decoded, item, lease, NOT_YET, Q, reclaimOpts, record, until,
} from './kit.js';

conformance('results', (s) => {
  it("answers a kept result at once, 'not_found' for a job that does not exist, null after the timeout", async () => {
    const { broker } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item({ id: 'b' })]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    await broker.complete(Q, 'w1', [completion(d!, a!.id, { record: record('completed', '"A"') })]);
    expect(decoded(await broker.waitForResult(Q, a!.id, NOT_YET))?.value).toBe('"A"');
    expect(await broker.waitForResult(Q, 'never', NOT_YET)).toBe('not_found');
    expect(await broker.waitForResult(Q, '1-0', NOT_YET)).toBe('not_found');
    expect(await broker.waitForResult(Q, b!.id, 30)).toBeNull();
    expect(await broker.getResult(Q, b!.id)).toBeNull();
  });

  it('wakes waiters when any script stores the outcome: complete, dead, retry, requeue, abort, reclaim', async () => {
    const { broker } = s();
    const ids = ['done', 'dead', 'retry', 'back', 'gone', 'waiting'];
    await broker.enqueue(Q, ids.map((id) => item({ id })));
    const waits = ids.map((id) => broker.waitForResult(Q, id, 20_000));
    for (const id of ids) await until(() => s().hasWaiter(Q, id));
    const held = await broker.fetch(Q, 'w1', 4);
    expect(await broker.fetch(Q, 'dead-worker', 1)).toHaveLength(1);
    for (const id of ['retry', 'back', 'gone']) await broker.abort(Q, id, ABORTED.record, 3600);
    await broker.complete(Q, 'w1', [completion(held[0]!, 'done')]);
    await broker.deadLetter(Q, 'w1', deadLetter(held[1]!, 'dead'));
    expect(await broker.retry(Q, 'w1', lease(held[2]!, 'retry'), 1, 0, 'Error', ABORTED)).toBe('aborted');
    expect(await broker.requeue(Q, 'w1', [lease(held[3]!, 'back')], 3600)).toBe(1);
    expect(await broker.abort(Q, 'waiting', ABORTED.record, 3600)).toBe('aborted');
    await s().elapse(40);
    expect((await broker.reclaim(Q, 'w2', reclaimOpts())).claimed).toEqual([]);
    const got = (await Promise.all(waits)).map((r) => decoded(r as string)?.status);
    expect(got).toEqual(['completed', 'failed', 'aborted', 'aborted', 'aborted', 'aborted']);
    expect(decoded(await broker.getResult(Q, 'gone'))?.meta.message).toBe('aborted while its worker was gone');
  });

  it('keeps a result that is not kept (ttl 0) for a waiter, and wakes a wait with many waiters on one job', async () => {
    const { broker } = s();
    const { id } = await broker.enqueueOne(Q, item({ id: 'w' }));
    const [d] = await broker.fetch(Q, 'w1', 1);
    const first = broker.waitForResult(Q, id, 20_000);
    const second = broker.waitForResult(Q, id, 20_000);
    await until(() => s().hasWaiter(Q, id));
    await broker.complete(Q, 'w1', [completion(d!, id, { ttl: 0, record: record('completed', '"W"') })]);
    expect(decoded(await first)?.value).toBe('"W"');
    expect(decoded(await second)?.value).toBe('"W"');
    expect(decoded(await broker.getResult(Q, id))?.value).toBe('"W"');
  });

  it('forgets results after their ttl: the job is then unknown, its custom id free; ttl -1 keeps one', async () => {
    const { broker, inspector } = s();
    const [a, b, c, k] = await broker.enqueue(Q, [item(), item({ id: 'b' }), item({ id: 'c' }), item({ id: 'keep' })]);
    const [da, db, dk] = await broker.fetch(Q, 'w1', 3);
    // Two seconds (Redis keeps results whole seconds, EX): more than a loaded machine stalls between these calls.
    await broker.complete(Q, 'w1', [completion(da!, a!.id, { ttl: 2 }), completion(dk!, 'keep', { ttl: -1, record: record('expired', '') })]);
    await broker.deadLetter(Q, 'w1', deadLetter(db!, 'b', { ttl: 2 }));
    expect(await broker.abort(Q, 'c', ABORTED.record, 2)).toBe('aborted');
    expect((await inspector.listJobs(Q, 'completed', 10)).map((j) => j.id)).toEqual([a!.id]);
    await s().elapse(2100);
    for (const id of [a!.id, b!.id, c!.id]) {
      expect(await broker.getResult(Q, id)).toBeNull();
      expect((await broker.locate(Q, id)).state).toBe('unknown');
      expect(await broker.waitForResult(Q, id, NOT_YET)).toBe('not_found');
      expect(await broker.abort(Q, id, ABORTED.record, 3600)).toBe('not_found');
    }
    expect(await inspector.listJobs(Q, 'completed', 10)).toEqual([]);
    expect(await inspector.listJobs(Q, 'failed', 10)).toEqual([]);
    expect(await broker.enqueueOne(Q, item({ id: 'b' }))).toEqual({ id: 'b', created: true });
    // The DLQ entry outlives the result.
    expect(await inspector.dlqCount(Q)).toBe(1);
    expect(decoded(await broker.getResult(Q, k!.id))?.status).toBe('expired');
    expect((await inspector.listJobs(Q, 'expired', 10)).map((j) => j.id)).toEqual(['keep']);
  });

  it('keeps progress for its ttl, the last value winning', async () => {
    const { broker } = s();
    expect(await broker.getProgress(Q, 'j')).toBeNull();
    await broker.setProgress(Q, 'j', '{"pct":10}', NOT_YET);
    await broker.setProgress(Q, 'j', '{"pct":50}', s().short);
    await broker.setProgress(Q, 'k', '{"pct":1}', NOT_YET);
    expect(await broker.getProgress(Q, 'j')).toBe('{"pct":50}');
    await s().elapse(s().short + 10);
    expect(await broker.getProgress(Q, 'j')).toBeNull();
    expect(await broker.getProgress(Q, 'k')).toBe('{"pct":1}');
  });

  it('keeps the last maxLines log lines, read with LRANGE indexes, for the ttl of the last append', async () => {
    const { broker } = s();
    for (const line of ['one', 'two', 'three', 'four']) await broker.appendLog(Q, 'j', line, 3, NOT_YET);
    expect(await broker.getLogs(Q, 'j', 0, -1)).toEqual(['two', 'three', 'four']);
    expect(await broker.getLogs(Q, 'j', -1, -1)).toEqual(['four']);
    expect(await broker.getLogs(Q, 'j', 1, 1)).toEqual(['three']);
    expect(await broker.getLogs(Q, 'j', -2, 5)).toEqual(['three', 'four']);
    expect(await broker.getLogs(Q, 'j', 5, 10)).toEqual([]);
    expect(await broker.getLogs(Q, 'none', 0, -1)).toEqual([]);
    await broker.appendLog(Q, 'j', 'five', 3, s().short);
    await broker.appendLog(Q, 'k', 'kept', 3, NOT_YET);
    expect(await broker.getLogs(Q, 'j', 0, -1)).toEqual(['three', 'four', 'five']);
    await s().elapse(s().short + 10);
    expect(await broker.getLogs(Q, 'j', 0, -1)).toEqual([]);
    expect(await broker.getLogs(Q, 'k', 0, -1)).toEqual(['kept']);
  });
});
