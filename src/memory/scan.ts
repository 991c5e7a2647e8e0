// Scans of a queue in memory, as src/redis/scan.ts does them on Redis (same places, order and
// cursor forms): a chunk of one priority level's stream, of the delayed set by rank, or of
// the kept results.

import type { QueueRef, ScanChunk, ScannedJob, ScanPlace } from '../broker/types.js';
import { entryTime } from '../envelope.js';
import { decodeResult } from '../results.js';
import { checkScan, parseReadyCursor } from '../redis/scan.js';
import { ConfigError } from '../errors.js';
import { compareIds, jobIdOf } from './records.js';
import type { QueueState } from './state.js';
import { levelIndex } from './transitions.js';

const str = (v: string | Buffer | undefined): string | undefined => (v === undefined ? undefined : String(v));

function rank(cursor: string | undefined): number {
  const n = cursor === undefined || cursor === '' ? 0 : Number(cursor);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError('scanJobs cursor', 'a cursor a previous scan of the same place returned', cursor);
  return n;
}

export function scanMemory(q: QueueState, queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): ScanChunk {
  checkScan(place, opts.count);
  const { count } = opts;
  if (place === 'delayed') {
    const start = rank(opts.cursor);
    const jobs: ScannedJob[] = q.delayed.range(start, count).map(({ id, at }) => {
      const rec = q.records.get(id);
      return { id, state: 'delayed', level: levelIndex(queue, rec?.level), header: str(rec?.h), data: rec?.d, dueAt: at, at };
    });
    return jobs.length < count ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: String(start + jobs.length) };
  }
  if (place === 'ended') {
    const start = rank(opts.cursor);
    const all = [...q.results.entries()];
    const jobs: ScannedJob[] = all.slice(start, start + count).map(([id, raw]) => {
      try {
        const rec = decodeResult(raw);
        return { id, state: rec.status, level: 0, result: raw, at: rec.meta.finishedAt };
      } catch {
        return { id, state: 'completed', level: 0, result: raw };
      }
    });
    return start + count >= all.length ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: String(start + count) };
  }
  // Ready streams, highest priority first: levels are lowest first in the ref.
  const streams = [...queue.levels].reverse();
  let { index, entry } = parseReadyCursor(opts.cursor, streams.length);
  for (; index < streams.length; index++, entry = '') {
    const stream = q.streams.get(streams[index]!);
    if (!stream || stream.entries.size === 0) continue;
    let ids = [...stream.entries.keys()];
    if (opts.newest) ids.reverse();
    if (entry !== '') ids = ids.filter((e) => (opts.newest ? compareIds(e, entry) < 0 : compareIds(e, entry) > 0));
    const chunk = ids.slice(0, count);
    if (chunk.length === 0) continue;
    const level = streams.length - 1 - index;
    const jobs: ScannedJob[] = chunk.map((e) => {
      const f = stream.entries.get(e)!;
      const owner = stream.pending.get(e)?.owner;
      const job: ScannedJob = { id: jobIdOf(f.h, e), state: owner === undefined ? 'waiting' : 'active', level, header: str(f.h), data: f.d, at: entryTime(e), entry: e };
      if (owner !== undefined) job.owner = owner;
      return job;
    });
    const next = chunk.length < count ? (index + 1 < streams.length ? `${index + 1}:` : undefined) : `${index}:${chunk.at(-1)}`;
    return next === undefined ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: next };
  }
  return { jobs: [], scanned: 0 };
}
