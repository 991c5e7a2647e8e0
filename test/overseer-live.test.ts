// Overseer's live stream: one snapshot per tick shared by every open stream (the Redis work
// counted through the inspector), computed only while a stream is open; job events fanned out
// with an id each, and a stream that comes back with Last-Event-ID resumes without a gap or a
// repeat.

import { afterAll, describe, expect, it, vi } from 'vitest';
import { overseer } from '../src/overseer/index.js';
import { testApp, waitFor } from './helpers.js';
import { openStream, serveHandler, type SseStream } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovlive');
const { app } = t;
const alpha = app.queue('alpha').task('a', async () => 1);
const beta = app.queue('beta').task('b', async () => 2);
const handler = overseer(app, { interval: 300 });
const served = await serveHandler(handler);
const streams: SseStream[] = [];

function stream(headers?: Record<string, string>): SseStream {
  const s = openStream(`${served.url}/api/events`, headers);
  streams.push(s);
  return s;
}

afterAll(async () => {
  for (const s of streams) s.close();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer live stream', () => {
  it('computes one snapshot per tick for 25 open streams, and none once they are closed', async () => {
    await alpha.enqueue();
    await beta.enqueue();
    const counts = vi.spyOn(app.inspector, 'counts');
    const workers = vi.spyOn(app.inspector, 'workers');
    const started = Date.now();
    const before = handler.stats().snapshots;
    const many = Array.from({ length: 25 }, () => stream());
    expect(await many[0]!.status).toBe(200);
    await waitFor(() => many.every((s) => s.of('snapshot').length >= 4), { timeout: 15_000, what: '4 snapshots on every stream' });
    for (const s of many) s.close();
    await waitFor(() => handler.stats().streams === 0, { timeout: 15_000, what: 'streams closed' });
    await waitFor(() => !handler.stats().live, { timeout: 15_000, what: 'the live loop stopped' });
    const snapshots = handler.stats().snapshots - before;
    // At most one snapshot per interval (300 ms), however many streams are open...
    expect(snapshots).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 300) + 1);
    // ...the same ones on every stream (by sequence number): one computation fanned out.
    const seqs = many.map((s) => new Set(s.of('snapshot').map((x) => x.seq as number)));
    const onEvery = [...seqs[0]!].filter((seq) => seqs.every((set) => set.has(seq)));
    expect(onEvery.length).toBeGreaterThan(0);
    expect(many.reduce((n, s) => n + s.of('snapshot').length, 0)).toBeGreaterThanOrEqual(100);
    // The inspector's work is per snapshot, not per stream: two queues' counts and one worker list each.
    expect(counts.mock.calls.length).toBe(snapshots * 2);
    expect(workers.mock.calls.length).toBe(snapshots);
    const last = many[0]!.of('snapshot').at(-1);
    expect(last.queues.map((q: { name: string }) => q.name)).toEqual(['alpha', 'beta']);
    expect(last.queues[0]).toMatchObject({ readyTotal: 1, completedPerMin: 0 });
    expect(last.throughput.completed).toHaveLength(300);
    counts.mockRestore();
    workers.mockRestore();
  });

  it('sends job events with an id, and resumes from Last-Event-ID: the missed events, none twice', async () => {
    const first = stream();
    await waitFor(() => first.of('snapshot').length >= 1, { timeout: 15_000, what: 'a snapshot' });
    const before = await alpha.enqueue();
    await waitFor(() => first.of('job').some((e) => e.event.id === before.id), { timeout: 15_000, what: 'the job.enqueued event' });
    const lastId = first.messages.filter((m) => m.event === 'job').at(-1)!.id!;
    expect(lastId).toMatch(/alpha=\d+-\d+/);
    first.close();
    await waitFor(() => handler.stats().streams === 0, { timeout: 15_000, what: 'the stream closed' });

    const missed = [await alpha.enqueue(), await beta.enqueue(), await alpha.enqueue()];
    const again = stream({ 'Last-Event-ID': lastId });
    await waitFor(() => missed.every((j) => again.of('job').some((e) => e.event.id === j.id)), { timeout: 15_000, what: 'the missed events' });
    const ids = again.of('job').map((e) => `${e.queue} ${e.cursor}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(again.of('job').some((e) => e.event.id === before.id)).toBe(false);
    const later = await beta.enqueue();
    await waitFor(() => again.of('job').some((e) => e.event.id === later.id), { timeout: 15_000, what: 'a live event after the catch-up' });
    expect(again.messages.every((m) => m.id !== undefined && m.id !== '')).toBe(true);
    // A malformed Last-Event-ID starts a fresh stream.
    const fresh = stream({ 'Last-Event-ID': 'alpha=yesterday&=&%%' });
    await waitFor(() => fresh.of('snapshot').length >= 1, { timeout: 15_000, what: 'a snapshot on a fresh stream' });
  });

  it('ends its open streams when closed, and those that come after at once', async () => {
    const own = overseer(app, { interval: 300 });
    const s = await serveHandler(own);
    try {
      const open = openStream(`${s.url}/api/events`);
      await waitFor(() => open.of('snapshot').length >= 1, { timeout: 15_000, what: 'a snapshot' });
      await own.close();
      await open.ended;
      expect(own.stats()).toMatchObject({ streams: 0, live: false });
      const late = openStream(`${s.url}/api/events`);
      await late.ended;
      expect(await late.status).toBe(200);
      expect(late.of('snapshot')).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
