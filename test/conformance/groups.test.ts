// Fair groups (QueueRef.groups, EnqueueItem.group): a job of a group waits in it until a fetch
// serves the group's turn; groups with jobs are served round robin, one job each per turn,
// after the ready entries; each group within its concurrency cap (a permit is its job's lease:
// held while the job is fetched or running, given back when it ends, is retried later or
// dead-lettered) and its rate limit; a paused or held group waits while the others are served.
// A grouped job's life goes on as any job's once served; a retry later, a promotion and a DLQ
// replay bring it back to its group. Counts, status and abort see the jobs waiting in groups.
import { expect, it } from 'vitest';
import type { Delivery, Fetched, QueueRef } from '../../src/broker/types.js';
import { ABORTED, completion, conformance, deadLetter, decoded, HIGH, item, lease, NOT_YET, Q } from './kit.js';

const G: QueueRef = { ...Q, groups: {} };
const CAPPED: QueueRef = { ...Q, groups: { concurrency: 2 } };
const LIMITED: QueueRef = { ...Q, groups: { rateLimit: { max: 2, perMs: 1000 } } };

/** The group of each delivery, from its header's options. */
const groupsOf = (got: Delivery[]) => got.map((d) => (JSON.parse(String(d.header).split('|')[4]!) as { g: string }).g);
/** The id a header names (a grouped job's header always names its id). */
const headerIdOf = (d: Delivery) => String(d.header).split('|')[0]!;
const idsOf = (got: Delivery[]) => got.map(headerIdOf);

/** Fetches one job at a time until none comes, returning each one's group. */
async function drainOneByOne(fetch: () => Promise<Fetched>): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await fetch();
    if (got.length === 0) return out;
    out.push(...groupsOf(got));
  }
}

conformance('fair groups', (s) => {
  it('serves the groups with jobs round robin, one job each per turn, in the order each group got them', async () => {
    const { broker } = s();
    const out = await broker.enqueue(G, [
      ...Array.from({ length: 5 }, () => item({ group: 'big' })),
      item({ group: 'small' }), item({ group: 'small' }), item({ id: 'c1', group: 'tiny' }),
    ]);
    expect(out.every((o) => o.created)).toBe(true);
    const first = await broker.fetch(G, 'w1', 4);
    expect(groupsOf(first)).toEqual(['big', 'small', 'tiny', 'big']);
    // Each job's header names its id (an auto id too: it was handed out at enqueue).
    expect(idsOf(first)).toEqual([out[0]!.id, out[5]!.id, 'c1', out[1]!.id]);
    expect(await drainOneByOne(() => broker.fetch(G, 'w2', 1))).toEqual(['small', 'big', 'big', 'big']);
    expect(await broker.fetch(G, 'w2', 5)).toHaveLength(0);
  });

  it('serves ready entries first, then the groups; a new group joins the round at its end', async () => {
    const { broker } = s();
    await broker.enqueue(G, [item({ group: 'a' }), item({ group: 'a' }), item({ group: 'a' }), item({ group: 'b' })]);
    expect(groupsOf(await broker.fetch(G, 'w1', 1))).toEqual(['a']);
    const [plain] = await broker.enqueue(G, [item({ level: HIGH }), item({ group: 'c' })]);
    const next = await broker.fetch(G, 'w1', 3);
    expect(next[0]!.entry).toBe(plain!.id);
    expect(groupsOf(next.slice(1))).toEqual(['b', 'a']);
    expect(await drainOneByOne(() => broker.fetch(G, 'w1', 1))).toEqual(['c', 'a']);
  });

  it('holds each group to its concurrency cap over every consumer; a permit comes back as its job ends or is retried later', async () => {
    const { broker } = s();
    await broker.enqueue(CAPPED, [...Array.from({ length: 5 }, (_, i) => item({ id: `a${i}`, group: 'a' })), item({ id: 'b0', group: 'b' }), item({ id: 'b1', group: 'b' }), item({ id: 'b2', group: 'b' })]);
    const w1 = await broker.fetch(CAPPED, 'w1', 3);
    const w2 = await broker.fetch(CAPPED, 'w2', 10);
    expect([...idsOf(w1), ...idsOf(w2)]).toEqual(['a0', 'b0', 'a1', 'b1']);
    // Every group with jobs is at its cap: nothing, and the fetcher asks again shortly.
    const none = await broker.fetch(CAPPED, 'w3', 10);
    expect(none).toHaveLength(0);
    expect(none.capped).toBe(true);
    expect(await broker.complete(CAPPED, 'w1', [completion(w1[0]!, 'a0')])).toEqual([true]);
    expect(idsOf(await broker.fetch(CAPPED, 'w3', 10))).toEqual(['a2']);
    // A retry later gives the permit back; the job goes back to its group when it is due.
    expect(await broker.retry(CAPPED, 'w1', lease(w1[1]!, 'b0'), 1, NOT_YET, 'Error: again', ABORTED)).toBe('scheduled');
    expect(idsOf(await broker.fetch(CAPPED, 'w3', 10))).toEqual(['b2']);
    expect(await broker.promoteJob(CAPPED, 'b0')).toBe(true);
    expect((await broker.promote(CAPPED, 10)).moved).toBe(1);
    expect((await broker.fetch(CAPPED, 'w3', 10)).capped).toBe(true);
    expect(await broker.locate(CAPPED, 'b0')).toMatchObject({ state: 'waiting' });
    // A dead letter gives its permit back too: b0 is served, at its next attempt.
    expect(await broker.deadLetter(CAPPED, 'w2', deadLetter(w2[0]!, 'b1'))).toBe(true);
    const b0 = await broker.fetch(CAPPED, 'w3', 10);
    expect(idsOf(b0)).toEqual(['b0']);
    expect(String(b0[0]!.header).split('|')[2]).toBe('1');
  });

  it("a read waiting on a group at its cap wakes when a permit comes back: a job of it completes, is retried later or dead-lettered", async () => {
    const { broker } = s();
    const ONE: QueueRef = { ...Q, groups: { concurrency: 1 } };
    await broker.enqueue(ONE, ['a0', 'a1', 'a2', 'a3'].map((id) => item({ id, group: 'a' })));
    const reader = broker.blockingReader(ONE, 'w2');
    try {
      let held = (await broker.fetch(ONE, 'w1', 10))[0]!;
      let owner = 'w1';
      for (const end of ['complete', 'retry', 'dead'] as const) {
        const full: Fetched = await broker.fetch(ONE, 'w2', 10);
        expect(full.capped).toBe(true);
        expect(full.after).toHaveLength(ONE.levels.length + 1);
        const read = reader.read(10, 5000, full.after);
        await new Promise((r) => setTimeout(r, 50));
        const id = headerIdOf(held);
        if (end === 'complete') expect(await broker.complete(ONE, owner, [completion(held, id)])).toEqual([true]);
        else if (end === 'retry') expect(await broker.retry(ONE, owner, lease(held, id), 1, NOT_YET, 'Error: again', ABORTED)).toBe('scheduled');
        else expect(await broker.deadLetter(ONE, owner, deadLetter(held, id))).toBe(true);
        const got = await read;
        expect(got).toHaveLength(1);
        held = got[0]!;
        owner = 'w2';
      }
      expect(headerIdOf(held)).toBe('a3');
    } finally {
      await reader.close();
    }
  });

  it("gives a permit back when its job's record names an entry that is gone (neither on its stream nor pending)", async () => {
    const { broker } = s();
    await broker.enqueue(CAPPED, [item({ id: 'a0', group: 'a' }), item({ id: 'a1', group: 'a' }), item({ id: 'a2', group: 'a' })]);
    const got = await broker.fetch(CAPPED, 'w1', 10);
    expect(idsOf(got)).toEqual(['a0', 'a1']);
    // An entry deleted from the stream but still pending is still held (its lease stands).
    await s().dropEntry(CAPPED, got[0]!.level, got[0]!.entry);
    expect((await broker.fetch(CAPPED, 'w1', 10)).capped).toBe(true);
    await s().editRecord(CAPPED, 'a1', { e: '1-1' });
    expect(idsOf(await broker.fetch(CAPPED, 'w1', 10))).toEqual(['a2']);
  });

  it('holds each group to its rate limit, saying how long until the next token; other groups are served meanwhile', async () => {
    const { broker } = s();
    await broker.enqueue(LIMITED, [...Array.from({ length: 4 }, () => item({ group: 'a' })), item({ group: 'b' })]);
    // A fetch with room for more than one turn of each group takes a group's turns together.
    expect(groupsOf(await broker.fetch(LIMITED, 'w1', 10))).toEqual(['a', 'a', 'b']);
    const limited = await broker.fetch(LIMITED, 'w1', 10);
    expect(limited).toHaveLength(0);
    expect(limited.limitedMs).toBeGreaterThan(0);
    expect(limited.limitedMs).toBeLessThanOrEqual(1000);
    // Where to wait meanwhile: a read there wakes for a job of another group.
    expect(limited.after).toHaveLength(LIMITED.levels.length + 1);
    const reader = broker.blockingReader(LIMITED, 'w1');
    try {
      const read = reader.read(10, 5000, limited.after);
      await new Promise((r) => setTimeout(r, 50));
      await broker.enqueue(LIMITED, [item({ group: 'c' })]);
      expect(groupsOf(await read)).toEqual(['c']);
    } finally {
      await reader.close();
    }
    await s().elapse(limited.limitedMs! + 20);
    expect(groupsOf(await broker.fetch(LIMITED, 'w1', 10))).toEqual(['a']);
  });

  it('applies the limits a group has of its own over the queue\'s, and the queue\'s again once they are taken away', async () => {
    const { broker, inspector } = s();
    const ONE: QueueRef = { ...Q, groups: { concurrency: 1 } };
    await broker.enqueue(ONE, [...['v0', 'v1', 'v2', 'v3'].map((id) => item({ id, group: 'vip' })), ...['f0', 'f1', 'f2'].map((id) => item({ id, group: 'free' }))]);
    await broker.setGroupLimits(ONE, 'vip', { concurrency: 3 });
    expect((await broker.fetch(ONE, 'w1', 10)).map((d) => headerIdOf(d)).sort()).toEqual(['f0', 'v0', 'v1', 'v2']);
    expect((await broker.fetch(ONE, 'w1', 10)).capped).toBe(true);
    expect((await inspector.groups(ONE, 10)).find((g) => g.key === 'vip')).toEqual({ key: 'vip', waiting: 1, paused: false, limits: { concurrency: 3 } });
    // No cap at all for free (null), a rate of its own for vip: free's two come, vip waits for a token.
    await broker.setGroupLimits(ONE, 'free', { concurrency: null });
    await broker.setGroupLimits(ONE, 'vip', { concurrency: null, rateLimit: { max: 1, perMs: 1000 } });
    const next = await broker.fetch(ONE, 'w1', 10);
    expect(next.map((d) => headerIdOf(d)).sort()).toEqual(['f1', 'f2', 'v3']);
    await broker.enqueue(ONE, [item({ id: 'v4', group: 'vip' })]);
    const limited = await broker.fetch(ONE, 'w1', 10);
    expect(limited).toHaveLength(0);
    expect(limited.limitedMs).toBeGreaterThan(300);
    // Taken away: the queue's cap of 1 again, and vip holds 4 running jobs: nothing for it.
    await broker.setGroupLimits(ONE, 'vip', undefined);
    await s().elapse(limited.limitedMs! + 20);
    expect((await broker.fetch(ONE, 'w1', 10)).capped).toBe(true);
    expect((await inspector.groups(ONE, 10)).find((g) => g.key === 'vip')).toEqual({ key: 'vip', waiting: 1, paused: false });
  });

  it("serves a weighted group its weight's worth of jobs per turn, across fetches", async () => {
    const { broker } = s();
    await broker.enqueue(G, [...Array.from({ length: 7 }, () => item({ group: 'heavy' })), ...Array.from({ length: 3 }, () => item({ group: 'light' }))]);
    await broker.setGroupLimits(G, 'heavy', { weight: 3 });
    expect(await drainOneByOne(() => broker.fetch(G, 'w1', 1))).toEqual(['heavy', 'heavy', 'heavy', 'light', 'heavy', 'heavy', 'heavy', 'light', 'heavy', 'light']);
  });

  it('a paused group waits while the others are served; a held group waits for its hold', async () => {
    const { broker, inspector } = s();
    await broker.enqueue(G, [item({ group: 'a' }), item({ group: 'a' }), item({ group: 'b' }), item({ group: 'c' })]);
    await broker.setGroupPaused(G, 'a', true);
    await broker.holdGroup(G, 'c', 300);
    expect(groupsOf(await broker.fetch(G, 'w1', 10))).toEqual(['b']);
    await broker.enqueue(G, [item({ group: 'a' })]);
    const held = await broker.fetch(G, 'w1', 10);
    expect(held).toHaveLength(0);
    expect(held.limitedMs).toBeGreaterThan(0);
    expect(held.limitedMs).toBeLessThanOrEqual(300);
    expect(await inspector.groups(G, 10)).toEqual([
      { key: 'a', waiting: 3, paused: true },
      { key: 'c', waiting: 1, paused: false },
    ]);
    await s().elapse(held.limitedMs! + 20);
    expect(groupsOf(await broker.fetch(G, 'w1', 10))).toEqual(['c']);
    await broker.setGroupPaused(G, 'a', false);
    expect(groupsOf(await broker.fetch(G, 'w1', 10))).toEqual(['a', 'a', 'a']);
    expect(await inspector.groups(G, 10)).toEqual([]);
  });

  it('counts, locates and aborts a job waiting in its group', async () => {
    const { broker, inspector } = s();
    const [x, y] = await broker.enqueue(G, [item({ group: 'a', data: '[1]' }), item({ id: 'y', group: 'a', data: '[2]' }), item()]);
    expect(await inspector.counts(G)).toMatchObject({ waiting: { normal: 1 }, grouped: 2 });
    // Listed as waiting after the streams' jobs, at their level, their headers naming them.
    const listed = await inspector.listJobs(G, 'waiting', 10);
    expect(listed.map((j) => [j.id === x!.id || j.id === 'y' ? j.id : 'plain', j.level])).toEqual([['plain', 1], [x!.id, 1], ['y', 1]]);
    expect(listed[1]!.header?.startsWith(`${x!.id}|t|`)).toBe(true);
    expect((await inspector.listJobs(G, 'waiting', 2)).map((j) => j.id)).toHaveLength(2);
    const at = await broker.locate(G, x!.id);
    expect(at).toMatchObject({ state: 'waiting', level: 1 });
    expect(String(at.data)).toBe('[1]');
    expect(await broker.abort(G, 'y', ABORTED.record, 3600)).toBe('aborted');
    expect(decoded(await broker.getResult(G, 'y'))).toMatchObject({ status: 'aborted', args: '[2]' });
    expect(await broker.locate(G, y!.id)).toMatchObject({ state: 'ended' });
    expect(await inspector.counts(G)).toMatchObject({ grouped: 1 });
    const got = await broker.fetch(G, 'w1', 10);
    expect(got).toHaveLength(2);
    expect(idsOf(got.slice(1))).toEqual([x!.id]);
    expect((await inspector.counts(G)).grouped ?? 0).toBe(0);
  });

  it('a job replayed from the DLQ goes back to its group', async () => {
    const { broker, inspector } = s();
    await broker.enqueue(CAPPED, [item({ id: 'a0', group: 'a' }), item({ id: 'a1', group: 'a' }), item({ id: 'a2', group: 'a' })]);
    const got = await broker.fetch(CAPPED, 'w1', 10);
    expect(idsOf(got)).toEqual(['a0', 'a1']);
    expect(await broker.deadLetter(CAPPED, 'w1', deadLetter(got[0]!, 'a0'))).toBe(true);
    const [dlq] = await inspector.dlqList(CAPPED, { limit: 1 });
    expect(await inspector.dlqReplay(CAPPED, [dlq!.dlqId], true)).toEqual(['a0']);
    expect(await inspector.counts(CAPPED)).toMatchObject({ grouped: 2 });
    expect(idsOf(await broker.fetch(CAPPED, 'w1', 10))).toEqual(['a2']);
    expect((await broker.fetch(CAPPED, 'w1', 10)).capped).toBe(true);
  });

  it('says where the streams and the groups bell end when it has nothing; the blocking read then wakes for a grouped job', async () => {
    const { broker } = s();
    const empty: Fetched = await broker.fetch(G, 'w1', 5);
    expect(empty).toHaveLength(0);
    expect(empty.after).toHaveLength(G.levels.length + 1);
    const reader = broker.blockingReader(G, 'w1');
    try {
      const read = reader.read(5, 5000, empty.after);
      await new Promise((r) => setTimeout(r, 50));
      await broker.enqueue(G, [item({ id: 'late', group: 'z' })]);
      expect(idsOf(await read)).toEqual(['late']);
    } finally {
      await reader.close();
    }
  });
});
