// The Inspector: counts, listJobs in every state, the dead-letter operations (replay.lua with
// and without resetting attempts, 'all'), and cleanupStaleWorkers (dropworker.lua).
import { expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  ABORTED, completion, conformance, CRITICAL, deadLetter, decoded, headerAttempt, headerId, HIGH, item, lease, LOW, NORMAL, NOT_YET, Q, reclaimOpts, record, workerEntry,
} from './kit.js';


conformance('inspector', (s) => {
  it('counts jobs waiting per level, delayed, active (taken ones too) and dead-lettered', async () => {
    const { broker, inspector } = s();
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { low: 0, normal: 0, high: 0, critical: 0 }, delayed: 0, active: 0, dlq: 0 });
    await broker.enqueue(Q, [item({ level: CRITICAL }), item({ level: HIGH }), item({ level: HIGH }), item(), item(), item({ level: LOW }), item({ due: { delay: NOT_YET } })]);
    const [dc, dh] = await broker.fetch(Q, 'w1', 2);
    expect(await broker.take(Q, 'w1', lease(dh!))).toBe(true);
    await broker.deadLetter(Q, 'w1', deadLetter(dc!, dc!.entry));
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { low: 1, normal: 2, high: 1, critical: 0 }, delayed: 1, active: 1, dlq: 1 });
    await broker.fetch(Q, 'w2', 1);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { low: 1, normal: 2, high: 0, critical: 0 }, delayed: 1, active: 2, dlq: 1 });
  });

  it('lists waiting, active and delayed jobs, highest level first, up to the limit', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    const [n1, h1, , , n2, , d2] = await broker.enqueue(Q, [
      item(), item({ level: HIGH }), item({ id: 'c', level: CRITICAL }), item({ id: 'once', level: LOW }), item({ data: '[2]' }),
      item({ id: 'd1', due: { at: t + NOT_YET * 2 }, level: HIGH }), item({ due: { at: t + NOT_YET } }),
    ]);
    const waiting = await inspector.listJobs(Q, 'waiting', 10);
    expect(waiting).toEqual([
      { id: 'c', state: 'waiting', level: CRITICAL, header: 'c|t|||' }, { id: h1!.id, state: 'waiting', level: HIGH, header: '|t|||' },
      { id: n1!.id, state: 'waiting', level: NORMAL, header: '|t|||' }, { id: n2!.id, state: 'waiting', level: NORMAL, header: '|t|||' },
      { id: 'once', state: 'waiting', level: LOW, header: 'once|t|||' },
    ]);
    expect((await inspector.listJobs(Q, 'waiting', 2)).map((j) => j.id)).toEqual(['c', h1!.id]);
    expect(await inspector.listJobs(Q, 'delayed', 10)).toEqual([
      { id: d2!.id, state: 'delayed', level: NORMAL, header: `${d2!.id}|t|||`, dueAt: t + NOT_YET },
      { id: 'd1', state: 'delayed', level: HIGH, header: 'd1|t|||', dueAt: t + NOT_YET * 2 },
    ]);
    expect((await inspector.listJobs(Q, 'delayed', 1)).map((j) => j.id)).toEqual([d2!.id]);
    await broker.fetch(Q, 'w1', 2);
    await broker.fetch(Q, 'w2', 2);
    const [dl] = await broker.fetch(Q, 'w3', 1);
    expect(await broker.take(Q, 'w3', lease(dl!))).toBe(true);
    expect(await inspector.listJobs(Q, 'active', 10)).toEqual([
      { id: 'once', state: 'active', level: LOW, header: 'once|t|||', owner: 'w3' },
      { id: 'c', state: 'active', level: CRITICAL, header: 'c|t|||', owner: 'w1' },
      { id: h1!.id, state: 'active', level: HIGH, header: '|t|||', owner: 'w1' },
      { id: n1!.id, state: 'active', level: NORMAL, header: '|t|||', owner: 'w2' },
      { id: n2!.id, state: 'active', level: NORMAL, header: '|t|||', owner: 'w2' },
    ]);
    expect((await inspector.listJobs(Q, 'active', 2)).map((j) => j.id)).toEqual(['once', 'c']);
    expect(await inspector.listJobs(Q, 'waiting', 10)).toEqual([]);
  });

  it('lists many running jobs in id order per level, the ended ones between them left out, up to the limit', async () => {
    const { broker, inspector } = s();
    const high = await broker.enqueue(Q, Array.from({ length: 6 }, (_, i) => item({ id: `h${i}`, level: HIGH })));
    const normal = await broker.enqueue(Q, Array.from({ length: 40 }, (_, i) => item({ id: `n${String(i).padStart(2, '0')}` })));
    const got = [...(await broker.fetch(Q, 'w1', 20)), ...(await broker.fetch(Q, 'w2', 20))];
    expect(got).toHaveLength(40);
    // Every third one ends: gaps in the span of pending entries.
    const ended = got.filter((_, i) => i % 3 === 1);
    await broker.complete(Q, 'w1', ended.filter((d) => got.indexOf(d) < 20).map((d) => completion(d, headerId(d))));
    await broker.complete(Q, 'w2', ended.filter((d) => got.indexOf(d) >= 20).map((d) => completion(d, headerId(d))));
    const running = got.filter((d) => !ended.includes(d)).map(headerId);
    expect(running.slice(0, 4)).toEqual(['h0', 'h2', 'h3', 'h5']);
    const active = await inspector.listJobs(Q, 'active', 100);
    expect(active.map((j) => j.id)).toEqual(running);
    expect(active.map((j) => j.owner)).toEqual(got.filter((d) => !ended.includes(d)).map((d) => (got.indexOf(d) < 20 ? 'w1' : 'w2')));
    expect(active.every((j, i) => j.header === `${running[i]}|t|||` && j.level === (i < 4 ? HIGH : NORMAL))).toBe(true);
    for (const limit of [1, 4, 5, 17]) expect((await inspector.listJobs(Q, 'active', limit)).map((j) => j.id)).toEqual(running.slice(0, limit));
    // The rest of the normal jobs wait, after the running ones.
    expect((await inspector.listJobs(Q, 'waiting', 100)).map((j) => j.id)).toEqual(normal.slice(34).map((o) => o.id));
    expect(high).toHaveLength(6);
  });

  it('lists ended jobs by the status of their kept result, and refuses an unknown state or a bad limit', async () => {
    const { broker, inspector } = s();
    const ids = ['ok1', 'ok2', 'bad', 'stop', 'late'];
    await broker.enqueue(Q, ids.map((id) => item({ id })));
    const got = await broker.fetch(Q, 'w1', 5);
    await broker.complete(Q, 'w1', [
      completion(got[0]!, 'ok1'), completion(got[1]!, 'ok2'), completion(got[2]!, 'bad', { record: record('failed', '') }),
      completion(got[3]!, 'stop', { record: ABORTED.record }), completion(got[4]!, 'late', { record: record('expired', '') }),
    ]);
    const list = async (state: 'completed' | 'failed' | 'aborted' | 'expired', limit = 10) =>
      (await inspector.listJobs(Q, state, limit)).map((j) => ({ ...j, result: decoded(j.result)?.status })).sort((a, b) => a.id.localeCompare(b.id));
    expect(await list('completed')).toEqual([{ id: 'ok1', state: 'completed', level: 0, result: 'completed' }, { id: 'ok2', state: 'completed', level: 0, result: 'completed' }]);
    expect(await list('completed', 1)).toHaveLength(1);
    expect(await list('failed')).toEqual([{ id: 'bad', state: 'failed', level: 0, result: 'failed' }]);
    expect(await list('aborted')).toEqual([{ id: 'stop', state: 'aborted', level: 0, result: 'aborted' }]);
    expect(await list('expired')).toEqual([{ id: 'late', state: 'expired', level: 0, result: 'expired' }]);
    await expect(inspector.listJobs(Q, 'bogus' as never, 10)).rejects.toThrow(ConfigError);
    await expect(inspector.listJobs(Q, 'waiting', 0)).rejects.toThrow(ConfigError);
    await expect(inspector.listJobs(Q, 'waiting', 1.5)).rejects.toThrow(ConfigError);
  });

  it('lists, gets, counts, deletes and purges dead-letter entries', async () => {
    const { broker, inspector } = s();
    const out = await broker.enqueue(Q, [item({ id: 'a' }), item({ id: 'b' }), item({ id: 'c' }), item({ id: 'd' })]);
    const got = await broker.fetch(Q, 'w1', 4);
    for (let i = 0; i < 4; i++) await broker.deadLetter(Q, 'w1', deadLetter(got[i]!, out[i]!.id, { error: `Error: ${i}` }));
    const all = await inspector.dlqList(Q, { limit: 10 });
    expect(all.map((e) => [e.id, e.error])).toEqual([['a', 'Error: 0'], ['b', 'Error: 1'], ['c', 'Error: 2'], ['d', 'Error: 3']]);
    expect((await inspector.dlqList(Q, { limit: 2 })).map((e) => e.id)).toEqual(['a', 'b']);
    expect((await inspector.dlqList(Q, { limit: 2, after: all[1]!.dlqId })).map((e) => e.id)).toEqual(['c', 'd']);
    expect(await inspector.dlqList(Q, { limit: 2, after: all[3]!.dlqId })).toEqual([]);
    expect(await inspector.dlqGet(Q, all[2]!.dlqId)).toEqual(all[2]);
    expect(await inspector.dlqGet(Q, '1-0')).toBeNull();
    expect(await inspector.dlqCount(Q)).toBe(4);
    expect(await inspector.dlqDelete(Q, [])).toBe(0);
    expect(await inspector.dlqDelete(Q, [all[0]!.dlqId, '1-0', all[0]!.dlqId])).toBe(1);
    expect(await inspector.dlqCount(Q)).toBe(3);
    expect(await inspector.dlqPurge(Q)).toBe(3);
    expect(await inspector.dlqPurge(Q)).toBe(0);
    expect(await inspector.dlqList(Q, { limit: 10 })).toEqual([]);
  });

  it('replays dead letters to their level, attempts reset or kept, their failed results cleared', async () => {
    const { broker, inspector } = s();
    const [auto] = await broker.enqueue(Q, [item({ level: HIGH, data: '[1]' }), item({ id: 'c' }), item({ id: 'k', level: LOW })]);
    const got = await broker.fetch(Q, 'w1', 3);
    await broker.deadLetter(Q, 'w1', deadLetter(got[0]!, auto!.id, { attempts: 3 }));
    await broker.deadLetter(Q, 'w1', deadLetter(got[1]!, 'c', { attempts: 2 }));
    await broker.deadLetter(Q, 'w1', deadLetter(got[2]!, 'k', { attempts: 4 }));
    const [ea, ec, ek] = await inspector.dlqList(Q, { limit: 10 });
    expect(await inspector.dlqReplay(Q, [ea!.dlqId, '1-0', ec!.dlqId], true)).toEqual([auto!.id, 'c']);
    expect(await inspector.dlqReplay(Q, [ea!.dlqId], true)).toEqual([]);
    expect(await inspector.dlqReplay(Q, [ek!.dlqId], false)).toEqual(['k']);
    expect(await inspector.dlqCount(Q)).toBe(0);
    for (const id of [auto!.id, 'c', 'k']) {
      expect(await broker.getResult(Q, id)).toBeNull();
      expect((await broker.locate(Q, id)).state).toBe('waiting');
    }
    const again = await broker.fetch(Q, 'w2', 10);
    expect(again.map((d) => [d.level, headerId(d), headerAttempt(d.header), d.data])).toEqual([
      [HIGH, auto!.id, '0', '[1]'], [NORMAL, 'c', '0', '[]'], [LOW, 'k', '4', '[]'],
    ]);
    expect(again[0]!.entry).not.toBe(auto!.id);
    expect(await broker.locate(Q, auto!.id)).toMatchObject({ state: 'active', entry: again[0]!.entry, owner: 'w2' });
    // A replayed custom id is a job again: dedup holds.
    expect(await broker.enqueueOne(Q, item({ id: 'c' }))).toEqual({ id: 'c', created: false });
  });

  it("replays 'all' dead letters", async () => {
    const { broker, inspector } = s();
    const out = await broker.enqueue(Q, [item(), item(), item({ id: 'x' })]);
    const got = await broker.fetch(Q, 'w1', 3);
    for (let i = 0; i < 3; i++) await broker.deadLetter(Q, 'w1', deadLetter(got[i]!, out[i]!.id));
    expect(await inspector.dlqReplay(Q, 'all', false)).toEqual(out.map((o) => o.id));
    expect(await inspector.dlqReplay(Q, 'all', false)).toEqual([]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 3 }, dlq: 0 });
  });

  it('removes silent workers: jobs handed back, taken ones dead-lettered interrupted; not while a worker shows life', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    const [plain, once, live, healthy] = await broker.enqueue(Q, [item({ id: 'plain' }), item({ id: 'once', data: '[8]' }), item(), item()]);
    await broker.fetch(Q, 'ghost', 1);
    const [dOnce] = await broker.fetch(Q, 'ghost', 1);
    expect(await broker.take(Q, 'ghost', lease(dOnce!, 'once'))).toBe(true);
    await broker.fetch(Q, 'w-live', 1);
    await broker.fetch(Q, 'w-health', 1);
    await broker.heartbeat(workerEntry('w-health', t), NOT_YET, [{ queue: Q, record: '{}' }]);
    await broker.heartbeat(workerEntry('w-old', t), NOT_YET, []);
    // A reclaim that claims nothing does not make its caller a consumer of the queue.
    expect((await broker.reclaim(Q, 'w-looker', reclaimOpts({ minIdleMs: NOT_YET }))).claimed).toEqual([]);
    expect(await inspector.cleanupStaleWorkers(NOT_YET, [Q])).toEqual({ workers: [], jobs: 0, interrupted: [] });
    // Silent for longer than the stale time: w-live's beat right before the cleanup is younger
    // than that (these two calls within `short` of each other).
    await s().elapse(s().short + 100);
    await broker.heartbeat(workerEntry('w-live', t), NOT_YET, []);
    const out = await inspector.cleanupStaleWorkers(s().short, [Q]);
    expect({ ...out, workers: [...out.workers].sort() }).toEqual({ workers: ['ghost', 'w-health', 'w-old'], jobs: 1, interrupted: ['once'] });
    expect((await inspector.workers()).map((w) => w.id)).toEqual(['w-live']);
    expect(await broker.locate(Q, plain!.id)).toMatchObject({ state: 'waiting' });
    expect(await broker.locate(Q, live!.id)).toMatchObject({ state: 'active', owner: 'w-live' });
    expect(await broker.locate(Q, healthy!.id)).toMatchObject({ state: 'active', owner: 'w-health' });
    const [dlq] = await inspector.dlqList(Q, { limit: 10 });
    expect(dlq).toMatchObject({
      id: once!.id, reason: 'interrupted', worker: 'ghost', attempts: 0, data: '[8]', header: 'once|t|||',
      error: 'WorkerLostError: its worker died while it ran; at-most-once jobs are not run again',
    });
    expect(decoded(await broker.getResult(Q, 'once'))).toMatchObject({ status: 'failed', meta: { name: 'WorkerLostError', reason: 'interrupted', worker: 'ghost', task: 't' }, args: '[8]' });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 1 }, active: 2, dlq: 1 });
    // Handed back for a dead worker: that delivery counts as a death.
    expect(await broker.fetch(Q, 'w-live', 1)).toEqual([expect.objectContaining({ deaths: 1, header: 'plain|t|||' })]);
  });

  it('hands back every pending job of a silent worker, however many', async () => {
    const { broker, inspector } = s();
    const n = 501;
    await broker.enqueue(Q, Array.from({ length: n }, () => item()));
    expect(await broker.fetch(Q, 'ghost', n)).toHaveLength(n);
    await s().elapse(40);
    expect(await inspector.cleanupStaleWorkers(20, [Q])).toEqual({ workers: ['ghost'], jobs: n, interrupted: [] });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: n }, active: 0 });
  });
});
