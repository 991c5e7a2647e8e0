// Scans of a queue on Redis, a bounded read per call: its ready streams (XRANGE / XREVRANGE of
// one chunk, and XPENDING over that chunk's range to tell running jobs from waiting ones), its
// delayed set (peek.lua: ranks and records in one call) and its ended jobs (SCAN over the kept
// results, MGET of the chunk). Cursors are plain text: "<stream index>:<entry id>" for ready
// jobs, a rank for delayed ones, SCAN's own cursor for ended ones.

import { CONSUMER_GROUP } from './keys.js';
import { callScript, SCRIPTS } from './scripts.js';
import type { RedisContext } from './context.js';
import { nodeFor } from './topology.js';
import { entryTime } from '../envelope.js';
import { ConfigError } from '../errors.js';
import { decodeResult } from '../results.js';
import type { QueueRef, ScanChunk, ScannedJob, ScanPlace } from '../broker/types.js';

export const SCAN_PLACES: readonly ScanPlace[] = ['ready', 'delayed', 'ended'];

/** The largest chunk one call reads. */
export const MAX_SCAN_COUNT = 5000;

export function checkScan(place: ScanPlace, count: number): void {
  if (!SCAN_PLACES.includes(place)) throw new ConfigError('scanJobs place', SCAN_PLACES.join(', '), place);
  if (!Number.isInteger(count) || count < 1 || count > MAX_SCAN_COUNT) throw new ConfigError('scanJobs count', `an integer from 1 to ${MAX_SCAN_COUNT}`, count);
}

/** A ready-stream cursor "<index>:<entry>" (entry '' for the start of that stream). */
export function parseReadyCursor(cursor: string | undefined, streams: number): { index: number; entry: string } {
  if (cursor === undefined || cursor === '') return { index: 0, entry: '' };
  const colon = cursor.indexOf(':');
  const index = Number(cursor.slice(0, colon));
  const entry = cursor.slice(colon + 1);
  if (colon < 0 || !Number.isInteger(index) || index < 0 || index > streams || (entry !== '' && !/^\d+-\d+$/.test(entry))) {
    throw new ConfigError('scanJobs cursor', 'a cursor a previous scan of the same place returned', cursor);
  }
  return { index, entry };
}

function fieldsOf(fields: (string | Buffer)[]): { h?: string; d?: string | Buffer } {
  const out: { h?: string; d?: string | Buffer } = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = String(fields[i]);
    if (name === 'h') out.h = String(fields[i + 1]);
    else if (name === 'd') out.d = fields[i + 1];
  }
  return out;
}

function idOf(header: string | undefined, entry: string): string {
  const bar = header ? header.indexOf('|') : -1;
  return bar > 0 ? header!.slice(0, bar) : entry;
}

export async function scanJobs(ctx: RedisContext, queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): Promise<ScanChunk> {
  checkScan(place, opts.count);
  if (place === 'ready') return scanReady(ctx, queue, opts.cursor, opts.count, opts.newest === true);
  if (place === 'delayed') return scanDelayed(ctx, queue, opts.cursor, opts.count);
  return scanEnded(ctx, queue, opts.cursor, opts.count);
}

async function scanReady(ctx: RedisContext, queue: QueueRef, cursor: string | undefined, count: number, newest: boolean): Promise<ScanChunk> {
  const k = ctx.keys(queue);
  let { index, entry } = parseReadyCursor(cursor, k.streams.length);
  // An empty stream moves on to the next one in the same call (at most one read per level).
  for (; index < k.streams.length; index++, entry = '') {
    const stream = k.streams[index]!;
    const level = queue.levels.length - 1 - index;
    const batch = newest
      ? await ctx.conn.xrevrangeBuffer(stream, entry ? `(${entry}` : '+', '-', 'COUNT', count)
      : await ctx.conn.xrangeBuffer(stream, entry ? `(${entry}` : '-', '+', 'COUNT', count);
    if (batch.length === 0) continue;
    const ids = batch.map(([e]) => e.toString());
    const [lo, hi] = newest ? [ids.at(-1)!, ids[0]!] : [ids[0]!, ids.at(-1)!];
    const pending = (await ctx.conn.xpending(stream, CONSUMER_GROUP, lo, hi, batch.length).catch(() => [])) as [string, string][];
    const owners = new Map(pending.map((p) => [p[0], p[1]]));
    const jobs: ScannedJob[] = batch.map(([, raw], i) => {
      const e = ids[i]!;
      const f = fieldsOf(raw);
      const data = f.d === undefined ? undefined : ctx.binary ? f.d : f.d.toString();
      const owner = owners.get(e);
      const job: ScannedJob = { id: idOf(f.h, e), state: owner === undefined ? 'waiting' : 'active', level, header: f.h, data, at: entryTime(e), entry: e };
      if (owner !== undefined) job.owner = owner;
      return job;
    });
    const next = batch.length < count ? (index + 1 < k.streams.length ? `${index + 1}:` : undefined) : `${index}:${ids.at(-1)}`;
    return next === undefined ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: next };
  }
  return { jobs: [], scanned: 0 };
}

async function scanDelayed(ctx: RedisContext, queue: QueueRef, cursor: string | undefined, count: number): Promise<ScanChunk> {
  const start = cursor === undefined || cursor === '' ? 0 : Number(cursor);
  if (!Number.isInteger(start) || start < 0) throw new ConfigError('scanJobs cursor', 'a cursor a previous scan of the same place returned', cursor);
  const k = ctx.keys(queue);
  const flat = (await callScript(ctx.conn, SCRIPTS.peek, { keys: { delayed: k.delayed, job_prefix: k.jobPrefix }, args: { start, count }, buffers: ctx.binary })) as (string | Buffer | null)[];
  const jobs: ScannedJob[] = [];
  for (let i = 0; i + 4 < flat.length; i += 5) {
    const d = flat[i + 4];
    jobs.push({
      id: String(flat[i]), state: 'delayed', level: queue.levels.length - Number(flat[i + 3] ?? 1), header: flat[i + 2] == null ? undefined : String(flat[i + 2]),
      data: d == null ? undefined : ctx.binary ? d : String(d), dueAt: Number(flat[i + 1]), at: Number(flat[i + 1]),
    });
  }
  return jobs.length < count ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: String(start + jobs.length) };
}

async function scanEnded(ctx: RedisContext, queue: QueueRef, cursor: string | undefined, count: number): Promise<ScanChunk> {
  if (cursor !== undefined && cursor !== '' && !/^\d+$/.test(cursor)) throw new ConfigError('scanJobs cursor', 'a cursor a previous scan of the same place returned', cursor);
  const k = ctx.keys(queue);
  // On a Cluster, on the master owning the queue's slot: its keys are all there.
  const node = await nodeFor(ctx.conn, k.resultPrefix);
  const [next, keys] = await node.scan(cursor || '0', 'MATCH', `${k.resultPrefix}*`, 'COUNT', count);
  const raws = keys.length === 0 ? [] : await ctx.conn.mgetBuffer(...keys);
  const jobs: ScannedJob[] = [];
  raws.forEach((raw, i) => {
    if (!raw) return;
    const text = ctx.binary ? raw : raw.toString();
    let state: ScannedJob['state'] = 'completed';
    let at: number | undefined;
    try {
      const rec = decodeResult(text);
      state = rec.status;
      at = rec.meta.finishedAt;
    } catch {
      // An unreadable record: met by its id; the reader decides.
    }
    jobs.push({ id: keys[i]!.slice(k.resultPrefix.length), state, level: 0, result: text, at });
  });
  return next === '0' ? { jobs, scanned: keys.length } : { jobs, scanned: keys.length, cursor: next };
}
