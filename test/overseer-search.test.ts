// The dashboard's search (GET /api/search): NDJSON streamed as it scans, over waiting, delayed,
// dead-lettered and ended jobs of every queue (a sharded one too), by payload substring, task,
// status, reason and time window; it says how much it scanned, stops at its limit, stops when
// the client goes, and answers a bad parameter with a 400 naming it. On the real Redis.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { OverseerData, type OverseerApp } from '../src/overseer/data.js';
import { Searcher, type SearchFilter } from '../src/overseer/search.js';
import type { SearchMessage } from '../src/overseer/types.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovsearch');
const { app } = t;
const idle = app.queue('idle');
const store = idle.task('store', async (_ctx, order: { customer: string; sku: string }) => order.sku);
const later = idle.task('later', async (_ctx, note: string) => note);
const work = app.queue('work', { maxTries: 1 });
const charge = work.task('charge', async (_ctx, card: string) => {
  if (card.startsWith('bad')) throw new Error(`card ${card} declined`);
  return `charged ${card}`;
});
const hot = app.queue('hot', { shards: 4 });
const spread = hot.task('spread', async (_ctx, n: number, tag: string) => `${n}${tag}`);

const tracker = workers({ heartbeatInterval: 200 });
let handler: OverseerHandler;
let served: Served;
const BULK = 2500;

async function search(query: string): Promise<{ status: number; messages: SearchMessage[]; type: string | null }> {
  const res = await fetch(`${served.url}/api/search?${query}`);
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, messages: [JSON.parse(text)], type: res.headers.get('content-type') };
  return { status: res.status, messages: text.trim().split('\n').map((l) => JSON.parse(l) as SearchMessage), type: res.headers.get('content-type') };
}

const hits = (messages: SearchMessage[]) => messages.flatMap((m) => (m.type === 'match' ? [m.hit] : []));
const done = (messages: SearchMessage[]) => messages.at(-1) as Extract<SearchMessage, { type: 'done' }>;

beforeAll(async () => {
  handler = overseer(app, { log: app.log });
  served = await serveHandler(handler);
  // Waiting: many orders, one with a needle in its arguments.
  await store.enqueueMany(Array.from({ length: BULK }, (_, i) => [{ customer: i === 1234 ? 'needle-corp' : `c${i}`, sku: `sku-${i}` }] as [{ customer: string; sku: string }]));
  await later.with({ delay: '1h' }).enqueue('remind needle-corp tomorrow');
  await later.with({ delay: '2h' }).enqueue('nothing to see');
  await spread.enqueueMany([[1, 'plain'], [2, 'needle-in-shard'], [3, 'plain']]);
  await tracker.start(app, { queues: ['work'] });
  await charge.enqueueMany([['bad-needle-1'], ['bad-2'], ['good-needle-3'], ['good-4']]);
  await waitFor(async () => (await app.deadLetters('work').count()) === 2 && (await app.inspector.counts(work)).active === 0, { what: 'two dead letters' });
});

afterAll(async () => {
  await tracker.stopAll();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer search', () => {
  it('finds a substring of the arguments in waiting, delayed, dead-lettered and ended jobs of every queue', async () => {
    const { status, messages, type } = await search('text=needle');
    expect(status).toBe(200);
    expect(type).toContain('application/x-ndjson');
    expect(messages[0]).toMatchObject({ type: 'start' });
    expect((messages[0] as { total: number }).total).toBeGreaterThanOrEqual(BULK + 2 + 3 + 2);
    const found = hits(messages).map((h) => [h.queue, h.state, h.task]).sort();
    expect(found).toEqual([
      // The failed job: its dead letter and its kept result.
      ['hot', 'waiting', 'spread'], ['idle', 'delayed', 'later'], ['idle', 'waiting', 'store'], ['work', 'completed', 'charge'], ['work', 'dead', 'charge'], ['work', 'failed', 'charge'],
    ].sort());
    const waiting = hits(messages).find((h) => h.queue === 'idle' && h.state === 'waiting')!;
    expect(waiting.snippet).toContain('needle-corp');
    expect(waiting.at).toBeGreaterThan(Date.now() - 600_000);
    const dead = hits(messages).find((h) => h.state === 'dead')!;
    expect(dead).toMatchObject({ reason: 'max-tries', attempt: 1 });
    expect(dead.snippet).toContain('declined');
    expect(dead.dlqId).toMatch(/^\d+-\d+$/);
    // Progress after chunks, and the end with what it read.
    expect(messages.filter((m) => m.type === 'progress').length).toBeGreaterThanOrEqual(3);
    const end = done(messages);
    expect(end).toMatchObject({ type: 'done', ended: 'complete', matched: 6 });
    expect(end.scanned).toBeGreaterThanOrEqual(BULK + 2 + 3 + 2 + 2);
  });

  it('filters by queue, status, task, reason and time window', async () => {
    expect(hits((await search('queue=idle&status=delayed')).messages).map((h) => h.task)).toEqual(['later', 'later']);
    expect(hits((await search('status=dead&text=declined')).messages).map((h) => h.id)).toHaveLength(2);
    expect(hits((await search('status=dead&reason=timeout')).messages)).toEqual([]);
    const ended = hits((await search('queue=work&status=completed')).messages);
    expect(ended).toHaveLength(2);
    expect(hits((await search('queue=work&status=failed&text=declined')).messages)).toHaveLength(2);
    expect(ended.every((h) => h.task === 'charge')).toBe(true);
    expect(hits((await search('queue=idle&task=later')).messages)).toHaveLength(2);
    // Delayed jobs are placed by their due time: only the one due within 90 minutes.
    const soon = hits((await search(`queue=idle&status=delayed&from=${Date.now()}&to=${Date.now() + 90 * 60_000}`)).messages);
    expect(soon).toHaveLength(1);
    expect(hits((await search(`queue=hot&to=${new Date(Date.now() - 3600_000).toISOString()}`)).messages)).toEqual([]);
    expect(hits((await search('queue=hot')).messages)).toHaveLength(3);
  });

  it('stops at its limit and says so', async () => {
    const { messages } = await search('queue=idle&status=waiting&limit=7');
    expect(hits(messages)).toHaveLength(7);
    expect(done(messages)).toMatchObject({ ended: 'limit', matched: 7 });
  });

  it('stops reading when cancelled: over HTTP when the client goes, and as a generator on its signal', async () => {
    const stop = new AbortController();
    const res = await fetch(`${served.url}/api/search?queue=idle&text=zzz-never`, { signal: stop.signal });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"type":"start"');
    stop.abort();
    await expect(reader.read()).rejects.toThrow();

    const data = new OverseerData(app as unknown as OverseerApp, undefined, 10_000);
    const cancel = new AbortController();
    const f: SearchFilter = { queues: ['idle'], text: 'zzz-never', limit: 100 };
    const seen: SearchMessage[] = [];
    for await (const m of new Searcher(data).run(f, cancel.signal)) {
      seen.push(m);
      if (m.type === 'progress') cancel.abort();
    }
    expect(done(seen)).toMatchObject({ ended: 'cancelled', matched: 0 });
    expect(done(seen).scanned).toBeLessThan(BULK);
  });

  it('lists the queues for the search form in one read (GET /api/queues)', async () => {
    const res = await fetch(`${served.url}/api/queues`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: string[] };
    expect(body.queues).toEqual([...body.queues].sort());
    expect(body.queues).toEqual(expect.arrayContaining([...app.queues.keys()]));
  });

  it('refuses a bad parameter with a 400 naming it', async () => {
    for (const [query, names] of [
      ['status=sleeping', "'status'"], ['limit=0', "'limit'"], ['from=yesterday', "'from'"], [`text=${'x'.repeat(201)}`, "'text'"], ['from=20&to=10', "'from'"],
    ]) {
      const { status, messages } = await search(query!);
      expect(status, query).toBe(400);
      expect((messages[0] as unknown as { error: string }).error).toContain(names);
    }
    expect((await search('queue=nope')).status).toBe(404);
  });
});
