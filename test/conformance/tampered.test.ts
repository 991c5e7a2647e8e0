// Entries and records that are not what the scripts wrote: an entry without a header or with a
// garbled one, an entry whose fields were deleted while it was pending, a job record that lost
// fields. Every script that meets one leaves a trace in the DLQ (dead_trace) rather than lose
// the job silently, and frees what it held.
import { expect, it } from 'vitest';
import { ABORTED, completion, conformance, CRITICAL, deadLetter, item, lease, NORMAL, Q, reclaimOpts } from './kit.js';

const TRACE = (entry: string) => `BadJobError: malformed: entry ${entry} was pending but its fields are gone from the stream`;

conformance('tampered entries and records', (s) => {
  it('delivers an entry without a header, or with a garbled one, as it is; dead-lettering keeps what it had', async () => {
    const { broker, inspector } = s();
    const bare = await s().addRawEntry(Q, NORMAL, { d: '[1]' });
    // Shaped "id|task|..." as enqueue requires, but not a header a worker can read.
    const [bad] = await broker.enqueue(Q, [{ level: NORMAL, id: '', task: 'nope', header: '|nope|x', data: '[2]' }]);
    const garbage = await s().addRawEntry(Q, NORMAL, { h: 'garbage', d: '' });
    const got = await broker.fetch(Q, 'w1', 10);
    expect(got.map((d) => [d.entry, d.header, d.data])).toEqual([[bare, undefined, '[1]'], [bad!.id, '|nope|x', '[2]'], [garbage, 'garbage', '']]);
    for (const d of got) {
      expect(await broker.deadLetter(Q, 'w1', deadLetter(d, d.entry, { reason: 'malformed', attempts: 0, error: 'BadJobError: malformed' }))).toBe(true);
    }
    const dlq = await inspector.dlqList(Q, { limit: 10 });
    expect(dlq.map((e) => [e.id, e.task, e.header, e.data, e.reason])).toEqual([
      ['', '', '', '[1]', 'malformed'], ['', '', '|nope|x', '[2]', 'malformed'], ['', '', 'garbage', '', 'malformed'],
    ]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 3 });
  });

  it('meets entries whose fields were deleted while pending: retry and hand-back leave a trace, dead uses the worker\'s copy', async () => {
    const { broker, inspector } = s();
    const [a, b, c, d] = await broker.enqueue(Q, [item(), item({ id: 'b' }), item({ data: '[3]' }), item()]);
    const got = await broker.fetch(Q, 'w1', 4);
    for (const x of got) await s().dropEntry(Q, NORMAL, x.entry);
    // Counted as Redis counts them: pending, and no entry left to wait.
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 4 });
    // Still listed as held (by entry id, nothing else is known), and the group's pending order kept.
    expect(await inspector.listJobs(Q, 'active', 10)).toEqual(got.map((d) => ({ id: d.entry, state: 'active', level: NORMAL, owner: 'w1' })));
    // locate finds a job through its entry (or record): with the entry gone, it cannot tell.
    expect((await broker.locate(Q, a!.id)).state).toBe('unknown');

    expect(await broker.retry(Q, 'w1', lease(got[0]!, a!.id), 1, 0, 'Error: x', ABORTED)).toBe('refused');
    expect(await broker.requeue(Q, 'w1', [lease(got[1]!, 'b')], 3600)).toBe(1);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(got[2]!, c!.id, { attempts: 1 }))).toBe(true);
    expect(await broker.complete(Q, 'w1', [completion(got[3]!, d!.id)])).toEqual([true]);

    const dlq = await inspector.dlqList(Q, { limit: 10 });
    expect(dlq.map((e) => [e.id, e.reason, e.header, e.data, e.attempts, e.worker, e.level])).toEqual([
      [a!.id, 'malformed', `${a!.id}|||`, '', 0, 'w1', NORMAL],
      [got[1]!.entry, 'malformed', `${got[1]!.entry}|||`, '', 0, 'w1', NORMAL],
      [c!.id, 'max-tries', `${c!.id}|t|1||`, '[3]', 1, 'w1', NORMAL],
    ]);
    expect(dlq[0]!.error).toBe(TRACE(a!.id));
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 3 });
    // The custom job's record went with it: its id is free again.
    expect(await broker.locate(Q, b!.id)).toMatchObject({ state: 'unknown' });
    expect(await broker.enqueueOne(Q, item({ id: 'b' }))).toEqual({ id: 'b', created: true });
  });

  it('leaves a trace of a reclaimed entry whose fields are gone and releases its lease, claimed or poison', async () => {
    const { broker, inspector } = s();
    const [a, b] = await broker.enqueue(Q, [item(), item()]);
    await broker.fetch(Q, 'dead-1', 2);
    await s().dropEntry(Q, NORMAL, a!.id);
    await s().dropEntry(Q, NORMAL, b!.id);
    await s().elapse(40);
    expect(await broker.reclaim(Q, 'w1', reclaimOpts({ count: 1 }))).toEqual({ claimed: [], dead: [], own: [] });
    // A trace does not use the budget: the second one was looked at in the same call.
    expect(await inspector.dlqList(Q, { limit: 10 })).toMatchObject([
      { id: a!.id, header: `${a!.id}|||`, reason: 'malformed', worker: 'w1', attempts: 0 },
      { id: b!.id, header: `${b!.id}|||`, reason: 'malformed', worker: 'w1', attempts: 0 },
    ]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0 });

    const [c] = await broker.enqueue(Q, [item()]);
    await broker.fetch(Q, 'dead-2', 1);
    await s().dropEntry(Q, NORMAL, c!.id);
    await s().elapse(40);
    // Past maxRecoveries: the poison path, whose trace names the worker that died with it.
    expect(await broker.reclaim(Q, 'w1', reclaimOpts({ maxRecoveries: 0 }))).toEqual({ claimed: [], dead: [], own: [] });
    expect((await inspector.dlqList(Q, { limit: 10 }))[2]).toMatchObject({ id: c!.id, reason: 'malformed', worker: 'dead-2' });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 3 });
  });

  it('leaves a trace of a reclaimed entry without a header, and takes the entry off its stream', async () => {
    const { broker, inspector } = s();
    const bare = await s().addRawEntry(Q, NORMAL, { d: '[1]' });
    const [d] = await broker.fetch(Q, 'dead-1', 1);
    expect(d).toMatchObject({ entry: bare, header: undefined });
    await s().elapse(40);
    expect(await broker.reclaim(Q, 'w1', reclaimOpts())).toEqual({ claimed: [], dead: [], own: [] });
    expect(await inspector.dlqList(Q, { limit: 10 })).toMatchObject([{ header: `${bare}|||`, reason: 'malformed', worker: 'w1' }]);
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 0, dlq: 1 });
    expect(await inspector.listJobs(Q, 'waiting', 10)).toEqual([]);
  });

  it('promotes a delayed job whose record lost its level to the highest level', async () => {
    const { broker } = s();
    await broker.enqueueOne(Q, item({ id: 'nolevel', due: { delay: 30 } }));
    await s().editRecord(Q, 'nolevel', {}, ['l']);
    await s().elapse(40);
    await broker.promote(Q, 10);
    expect(await broker.fetch(Q, 'w1', 10)).toEqual([expect.objectContaining({ level: CRITICAL, header: 'nolevel|t|||' })]);
  });

  it('takes an entry whose fields are gone with an empty envelope', async () => {
    const { broker, inspector } = s();
    const [a] = await broker.enqueue(Q, [item()]);
    const [d] = await broker.fetch(Q, 'w1', 1);
    await s().dropEntry(Q, NORMAL, a!.id);
    expect(await broker.take(Q, 'w1', lease(d!, a!.id))).toBe(true);
    expect(await broker.locate(Q, a!.id)).toMatchObject({ state: 'active', header: '', data: '' });
    expect(await inspector.counts(Q)).toMatchObject({ waiting: { normal: 0 }, active: 1 });
  });

  it('keeps the deaths of a handed-back entry from its field r, and claims it with them', async () => {
    const { broker } = s();
    const e = await s().addRawEntry(Q, NORMAL, { h: 'r1|t|||', d: '[]', r: 2 });
    const [d] = await broker.fetch(Q, 'dead-1', 1);
    expect(d).toMatchObject({ entry: e, deaths: 2, token: '1' });
    await s().elapse(40);
    expect((await broker.reclaim(Q, 'w1', reclaimOpts({ maxRecoveries: 3 }))).claimed).toEqual([expect.objectContaining({ entry: e, token: '2', deaths: 3 })]);
    await s().elapse(40);
    expect(await broker.reclaim(Q, 'w2', reclaimOpts({ maxRecoveries: 3 }))).toMatchObject({ claimed: [], dead: ['r1'] });
  });
});
