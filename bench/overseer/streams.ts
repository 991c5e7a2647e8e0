// What open tabs cost (event streams over node:http: commands/s on the bench's Redis with 0, 1
// and TABS streams open) and how fast the payload search reads (entries scanned per second, per
// place, and the slowest single Redis command meanwhile).

import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { OverseerHandler } from '../../src/overseer/index.js';
import { openStream, type SseStream } from '../../test/support/overseer.js';
import { BASE, NO_MATCH, percentile, round, sleep, until } from './config.js';
import { callsDelta, commandStats, commandsProcessed, resetSlowlog, shape, slowest, slowlog } from './redis.js';

export interface LiveResult {
  tabs: number;
  seconds: number;
  commandsPerS: number;
  snapshotsPerS: number;
  commandsPerSnapshot: number;
  calls: Record<string, number>;
  slowestUs: number;
  slowest: string;
  /** Commands from opening the streams to the start of the window (history fill, first snapshot). */
  startCommands: number;
}

export async function measureLive(handler: OverseerHandler, admin: Redis, url: string, tabs: number, seconds: number): Promise<LiveResult> {
  const start = await commandsProcessed(admin);
  const streams: SseStream[] = [];
  for (let i = 0; i < tabs; i++) streams.push(openStream(`${url}/api/events`));
  if (tabs > 0) await until(`a snapshot on each of ${tabs} streams`, async () => streams.every((s) => s.of('snapshot').length > 0), 30_000);
  await sleep(tabs > 0 ? 2000 : 0); // the feed's start (the throughput history read) is over
  await resetSlowlog(admin);
  const callsBefore = await commandStats(admin);
  const before = await commandsProcessed(admin);
  const snapsBefore = handler.stats().snapshots;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await commandsProcessed(admin);
  const elapsed = (performance.now() - t0) / 1000;
  const snaps = handler.stats().snapshots - snapsBefore;
  const calls = callsDelta(callsBefore, await commandStats(admin), elapsed);
  const top = slowest(await slowlog(admin));
  const open = handler.stats().streams;
  for (const s of streams) s.close();
  await Promise.all(streams.map((s) => s.ended));
  if (open !== tabs) throw new Error(`${open} streams open on the dashboard, expected ${tabs}`);
  await until('the live feed to stop', async () => !handler.stats().live, 10_000);
  const commands = after - before - 1;
  return {
    tabs, seconds: round(elapsed, 2), commandsPerS: round(commands / elapsed, 1), snapshotsPerS: round(snaps / elapsed, 2),
    commandsPerSnapshot: snaps > 0 ? round(commands / snaps, 1) : 0, calls, slowestUs: top?.us ?? 0, slowest: top ? shape(top.args) : '',
    // start..before: the INFO of `start`, resetSlowlog's 3, the commandstats INFO.
    startCommands: before - start - 5,
  };
}

export interface SearchResult {
  scanned: number;
  ms: number;
  perS: number;
  ended: string;
  places: { queue: string; place: string; scanned: number; ms: number; perS: number }[];
  commands: number;
  commandsPer1000: number;
  slowestUs: number;
  slowest: string;
  /** 99th percentile of single command times, µs. */
  p99CommandUs: number;
  over1ms: number;
  over5ms: number;
  /** The slowest commands (µs and shape), and the commands over 5 ms by name. */
  top: { us: number; command: string }[];
  over5msBy: Record<string, number>;
  calls: Record<string, number>;
}

interface SearchMessage {
  type: string;
  scanned?: number;
  queue?: string;
  place?: string;
  ms?: number;
  ended?: string;
}

export async function measureSearch(handler: OverseerHandler, admin: Redis): Promise<SearchResult> {
  await resetSlowlog(admin);
  const callsBefore = await commandStats(admin);
  const before = await commandsProcessed(admin);
  const t0 = performance.now();
  const res = await handler(new Request(`${BASE}/api/search?text=${NO_MATCH}&queue=main&limit=100`));
  if (!res.ok || !res.body) throw new Error(`search: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let done: SearchMessage | undefined;
  const places: SearchResult['places'] = [];
  let at = { scanned: 0, ms: 0 };
  for (;;) {
    const { value, done: eof } = await reader.read();
    if (eof) break;
    buffer += value;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const m = JSON.parse(buffer.slice(0, nl)) as SearchMessage;
      buffer = buffer.slice(nl + 1);
      if (m.type === 'progress') {
        let p = places.at(-1);
        if (!p || p.queue !== m.queue || p.place !== m.place) places.push((p = { queue: m.queue!, place: m.place!, scanned: 0, ms: 0, perS: 0 }));
        p.scanned += m.scanned! - at.scanned;
        p.ms += m.ms! - at.ms;
        at = { scanned: m.scanned!, ms: m.ms! };
      } else if (m.type === 'done') done = m;
      else if (m.type === 'error') throw new Error(`search: ${JSON.stringify(m)}`);
    }
  }
  const ms = performance.now() - t0;
  const after = await commandsProcessed(admin);
  const calls = callsDelta(callsBefore, await commandStats(admin));
  const slow = await slowlog(admin);
  const top = slowest(slow);
  for (const p of places) p.perS = p.ms > 0 ? Math.round(p.scanned / (p.ms / 1000)) : 0;
  const scanned = done?.scanned ?? 0;
  const commands = after - before - 1;
  return {
    scanned, ms: round(ms, 0), perS: Math.round(scanned / (ms / 1000)), ended: done?.ended ?? 'no done message', places,
    commands, commandsPer1000: round((commands * 1000) / Math.max(1, scanned), 2),
    slowestUs: top?.us ?? 0, slowest: top ? shape(top.args) : '', p99CommandUs: percentile(slow.map((e) => e.us), 99),
    over1ms: slow.filter((e) => e.us > 1000).length, over5ms: slow.filter((e) => e.us > 5000).length,
    top: [...slow].sort((a, b) => b.us - a.us).slice(0, 8).map((e) => ({ us: e.us, command: shape(e.args) })),
    over5msBy: slow.filter((e) => e.us > 5000).reduce<Record<string, number>>((m, e) => {
      const name = (e.args[0] ?? '').toUpperCase();
      m[name] = (m[name] ?? 0) + 1;
      return m;
    }, {}),
    calls,
  };
}
