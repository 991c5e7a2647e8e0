// scanJobs: a queue read a bounded chunk at a time, in each place: ready jobs stream by stream
// (highest level first, oldest first or newest first), running ones marked with their owner;
// delayed ones soonest due first, with their arguments; ended ones by their kept results. Every
// job is met once over a whole scan; a bad place, count or cursor is refused.
import { expect, it } from 'vitest';
import type { ScannedJob, ScanPlace } from '../../src/broker/types.js';
import { ConfigError } from '../../src/errors.js';
import { completion, conformance, CRITICAL, decoded, HIGH, item, NOT_YET, Q, record } from './kit.js';

async function scanAll(inspector: import('../../src/broker/types.js').Inspector, place: ScanPlace, count: number, newest = false): Promise<{ jobs: ScannedJob[]; calls: number }> {
  const jobs: ScannedJob[] = [];
  let cursor: string | undefined;
  let calls = 0;
  do {
    const chunk = await inspector.scanJobs(Q, place, { cursor, count, newest });
    calls++;
    // SCAN's COUNT is a hint: a chunk of ended jobs may hold a few more.
    if (place !== 'ended') expect(chunk.jobs.length).toBeLessThanOrEqual(count);
    expect(chunk.scanned).toBeGreaterThanOrEqual(chunk.jobs.length);
    jobs.push(...chunk.jobs);
    cursor = chunk.cursor;
    // Ended jobs are found by SCAN over the whole keyspace (a shared Redis holds other tests'
    // keys): that walk takes as many calls as the keyspace needs, the others a few.
    if (calls > (place === 'ended' ? 100_000 : 100)) throw new Error('the scan never ended');
  } while (cursor !== undefined);
  return { jobs, calls };
}

conformance('scanning jobs', (s) => {
  it('reads ready jobs a chunk at a time, highest level first, oldest or newest first, running ones with their owner', async () => {
    const { broker, inspector } = s();
    const data = Array.from({ length: 7 }, (_, i) => `["n${i}"]`);
    await broker.enqueue(Q, data.map((d, i) => item({ id: `j${i}`, data: d })));
    await broker.enqueue(Q, [item({ id: 'c1', level: CRITICAL, data: '["crit"]' }), item({ id: 'h1', level: HIGH })]);
    // Fetched (at least once): still in its stream, pending for w1. (A taken at-most-once job
    // has left the stream for its lease: scans of 'ready' do not meet it.)
    await broker.fetch(Q, 'w1', 1);

    const oldest = await scanAll(inspector, 'ready', 3);
    expect(oldest.jobs.map((j) => j.id)).toEqual(['c1', 'h1', 'j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6']);
    expect(oldest.calls).toBeGreaterThanOrEqual(4);
    const c1 = oldest.jobs[0]!;
    expect(c1).toMatchObject({ id: 'c1', state: 'active', owner: 'w1', level: CRITICAL });
    expect(String(c1.data)).toBe('["crit"]');
    expect(c1.at).toBeGreaterThan(0);
    expect(c1.entry).toMatch(/^\d+-\d+$/);
    const j3 = oldest.jobs.find((j) => j.id === 'j3')!;
    expect(j3).toMatchObject({ state: 'waiting', level: 1 });
    expect(String(j3.data)).toBe('["n3"]');
    expect(j3.owner).toBeUndefined();

    const newest = await scanAll(inspector, 'ready', 3, true);
    expect(newest.jobs.map((j) => j.id)).toEqual(['c1', 'h1', 'j6', 'j5', 'j4', 'j3', 'j2', 'j1', 'j0']);
  });

  it('reads delayed jobs soonest due first, with their arguments and due time', async () => {
    const { broker, inspector } = s();
    const t = await broker.time();
    await broker.enqueue(Q, [3, 1, 4, 2, 5].map((n) => item({ id: `d${n}`, data: `[${n}]`, due: { at: t + NOT_YET * n } })));
    const { jobs } = await scanAll(inspector, 'delayed', 2);
    expect(jobs.map((j) => j.id)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(jobs[1]).toMatchObject({ state: 'delayed', dueAt: t + NOT_YET * 2, at: t + NOT_YET * 2 });
    expect(String(jobs[1]!.data)).toBe('[2]');
  });

  it('reads ended jobs by their kept results, each once', async () => {
    const { broker, inspector } = s();
    const ids = Array.from({ length: 12 }, (_, i) => `e${i}`);
    await broker.enqueue(Q, ids.map((id) => item({ id })));
    const got = await broker.fetch(Q, 'w1', 12);
    await broker.complete(Q, 'w1', got.map((d, i) => completion(d, ids[i]!, i === 5 ? { record: record('failed', '') } : {})));
    const { jobs } = await scanAll(inspector, 'ended', 4);
    expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(jobs.find((j) => j.id === 'e5')!.state).toBe('failed');
    expect(jobs.filter((j) => j.state === 'completed')).toHaveLength(11);
    expect(decoded(jobs[0]!.result)?.status).toBeDefined();
  });

  it('ends at once on an empty queue (ended ones after a walk that finds none), and refuses a bad place, count or cursor', async () => {
    const { inspector } = s();
    for (const place of ['ready', 'delayed'] as const) {
      const chunk = await inspector.scanJobs(Q, place, { count: 10 });
      expect(chunk.jobs).toEqual([]);
      expect(chunk.cursor).toBeUndefined();
    }
    // SCAN cannot tell a key it has not walked to: on a busy Redis one chunk may end empty with
    // a cursor to go on from; the whole walk meets nothing.
    expect((await scanAll(inspector, 'ended', 1000)).jobs).toEqual([]);
    await expect(inspector.scanJobs(Q, 'nowhere' as never, { count: 10 })).rejects.toThrow(ConfigError);
    await expect(inspector.scanJobs(Q, 'ready', { count: 0 })).rejects.toThrow(ConfigError);
    await expect(inspector.scanJobs(Q, 'ready', { count: 100_000 })).rejects.toThrow(ConfigError);
    await expect(inspector.scanJobs(Q, 'ready', { count: 5, cursor: 'x:y' })).rejects.toThrow(ConfigError);
    await expect(inspector.scanJobs(Q, 'delayed', { count: 5, cursor: '-3' })).rejects.toThrow(ConfigError);
  });
});
