// The inspector over sharded queues: a sharded queue's counts, job lists and dead letters are
// its shards' merged (counts summed, with each shard's kept in `shards`; lists merged in the
// order one queue would give). A dead letter of a shard is named "<entry>@<shard>", so it can
// be shown, replayed and deleted by that id alone, and listing resumes after it.

import { compareIds } from '../broker/ids.js';
import type { DeadLetterEntry, GroupSummary, Inspector, JobSummary, QueueCounts, QueueRef, ScanChunk, ScannedJob, ScanPlace, StaleCleanup, WorkerEntry } from '../broker/types.js';
import { entryTime, AUTO_ID } from '../envelope.js';
import { ConfigError } from '../errors.js';
import { expand, needsRouting, shardRefs } from './index.js';
import type { ThroughputHistory } from '../broker/history.js';

const DLQ_MARK = '@';

export class ShardInspector implements Inspector {
  constructor(readonly inner: Inspector) {}

  queueNames(): Promise<string[]> {
    return this.inner.queueNames();
  }

  workers(): Promise<WorkerEntry[]> {
    return this.inner.workers();
  }

  cleanupStaleWorkers(staleMs: number, queues: QueueRef[]): Promise<StaleCleanup> {
    return this.inner.cleanupStaleWorkers(staleMs, queues.flatMap(expand));
  }

  async counts(queue: QueueRef): Promise<QueueCounts> {
    if (!needsRouting(queue)) return this.inner.counts(queue);
    const shards = await Promise.all(shardRefs(queue).map((q) => this.inner.counts(q)));
    const waiting: Record<string, number> = {};
    for (const s of shards) for (const [level, n] of Object.entries(s.waiting)) waiting[level] = (waiting[level] ?? 0) + n;
    const sum = (k: 'delayed' | 'active' | 'dlq') => shards.reduce((a, s) => a + s[k], 0);
    const grouped = shards.reduce((a, s) => a + (s.grouped ?? 0), 0);
    return {
      waiting, ...(grouped > 0 && { grouped }), delayed: sum('delayed'), active: sum('active'), dlq: sum('dlq'), consumers: Math.max(0, ...shards.map((s) => s.consumers)),
      paused: shards.some((s) => s.paused), shards,
    };
  }

  async groups(queue: QueueRef, limit: number): Promise<GroupSummary[]> {
    if (!needsRouting(queue)) return this.inner.groups(queue, limit);
    // A group's jobs may be on every shard (a sharded queue cannot limit its groups: options.ts).
    const byKey = new Map<string, GroupSummary>();
    for (const list of await Promise.all(shardRefs(queue).map((q) => this.inner.groups(q, limit)))) {
      for (const g of list) {
        const seen = byKey.get(g.key);
        if (seen) byKey.set(g.key, { key: g.key, waiting: seen.waiting + g.waiting, paused: seen.paused || g.paused });
        else byKey.set(g.key, g);
      }
    }
    return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, limit);
  }

  async listJobs(queue: QueueRef, state: JobSummary['state'], limit: number): Promise<JobSummary[]> {
    if (!needsRouting(queue)) return this.inner.listJobs(queue, state, limit);
    const lists = await Promise.all(shardRefs(queue).map((q) => this.inner.listJobs(q, state, limit)));
    let merged: JobSummary[];
    if (state === 'delayed') merged = lists.flat().sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0));
    else if (state === 'waiting' || state === 'active') merged = lists.flat().sort((a, b) => b.level - a.level || timeOf(a.id) - timeOf(b.id));
    else merged = interleave(lists);
    return merged.slice(0, limit);
  }

  /**
   * Shard by shard (cursor "<shard>/<the shard's cursor>"); newest-first ready jobs are merged
   * over every shard instead (cursor: the shards' cursors joined by ','), as one queue lists them.
   */
  async scanJobs(queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): Promise<ScanChunk> {
    if (!needsRouting(queue)) return this.inner.scanJobs(queue, place, opts);
    const shards = shardRefs(queue);
    if (place === 'ready' && opts.newest) return this.newestReady(queue, shards, opts.cursor, opts.count);
    const bad = () => new ConfigError('scanJobs cursor', `a cursor a previous scan of sharded queue '${queue.name}' returned`, opts.cursor);
    const slash = opts.cursor ? opts.cursor.indexOf('/') : 0;
    const shard = opts.cursor ? Number(opts.cursor.slice(0, slash)) : 0;
    if (slash < 0 || !Number.isInteger(shard) || shard < 0 || shard >= shards.length) throw bad();
    const inner = opts.cursor ? opts.cursor.slice(slash + 1) || undefined : undefined;
    const chunk = await this.inner.scanJobs(shards[shard]!, place, { ...opts, cursor: inner });
    const next = chunk.cursor !== undefined ? `${shard}/${chunk.cursor}` : shard + 1 < shards.length ? `${shard + 1}/` : undefined;
    return next === undefined ? { jobs: chunk.jobs, scanned: chunk.scanned } : { jobs: chunk.jobs, scanned: chunk.scanned, cursor: next };
  }

  private async newestReady(queue: QueueRef, shards: QueueRef[], cursor: string | undefined, count: number): Promise<ScanChunk> {
    // Per shard: its cursor, '' for its start, '-' once it is read to its end.
    const cursors = cursor ? cursor.split(',') : shards.map(() => '');
    if (cursors.length !== shards.length) throw new ConfigError('scanJobs cursor', `a cursor a previous scan of sharded queue '${queue.name}' returned`, cursor);
    const chunks = await Promise.all(shards.map((q, s) => (cursors[s] === '-' ? undefined : this.inner.scanJobs(q, 'ready', { cursor: cursors[s] || undefined, count, newest: true }))));
    // Only the highest level met this call: a shard whose chunk is of a lower level may still
    // hold newer jobs of the higher one in a later call (its read moved on when its stream ended).
    const top = Math.max(-1, ...chunks.flatMap((c) => (c && c.jobs.length > 0 ? [c.jobs[0]!.level] : [])));
    const met = chunks.flatMap((c, s) => (c ? c.jobs.filter((job) => job.level === top).map((job) => ({ job, s })) : []));
    met.sort((a, b) => b.job.level - a.job.level || (b.job.at ?? 0) - (a.job.at ?? 0) || compareIds(b.job.entry ?? '0-0', a.job.entry ?? '0-0'));
    const taken = met.slice(0, count);
    const next = shards.map((q, s) => {
      const c = chunks[s];
      if (!c || c.jobs.length === 0) return '-';
      const last = taken.filter((t) => t.s === s).at(-1)?.job;
      // A shard all of whose chunk was taken goes on from its own cursor; one partly taken, from its last job taken.
      if (last === undefined) return cursors[s]!;
      if (last === c.jobs.at(-1)) return c.cursor ?? '-';
      return `${q.levels.length - 1 - last.level}:${last.entry}`;
    });
    const jobs: ScannedJob[] = taken.map((t) => t.job);
    return next.every((c) => c === '-') ? { jobs, scanned: jobs.length } : { jobs, scanned: jobs.length, cursor: next.join(',') };
  }

  async dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]> {
    if (!needsRouting(queue)) return this.inner.dlqList(queue, opts);
    const after = opts.after === undefined ? undefined : this.parse(queue, opts.after);
    const lists = await Promise.all(shardRefs(queue).map(async (q, s) => {
      // After (entry, shard) in (entry, shard) order: a later shard's entries from that entry on.
      const from = after === undefined ? undefined : s <= after.shard ? after.entry : before(after.entry);
      return (await this.inner.dlqList(q, { limit: opts.limit, after: from })).map((e) => ({ e, s }));
    }));
    return lists.flat()
      .sort((a, b) => compareIds(a.e.dlqId, b.e.dlqId) || a.s - b.s)
      .slice(0, opts.limit)
      .map(({ e, s }) => named(e, s));
  }

  async dlqGet(queue: QueueRef, dlqId: string): Promise<DeadLetterEntry | null> {
    if (!needsRouting(queue)) return this.inner.dlqGet(queue, dlqId);
    const { entry, shard } = this.parse(queue, dlqId);
    const e = await this.inner.dlqGet(shardRefs(queue)[shard]!, entry);
    return e && named(e, shard);
  }

  async dlqCount(queue: QueueRef): Promise<number> {
    const counts = await Promise.all(expand(queue).map((q) => this.inner.dlqCount(q)));
    return counts.reduce((a, b) => a + b, 0);
  }

  async dlqReplay(queue: QueueRef, dlqIds: string[] | 'all', resetAttempts: boolean): Promise<string[]> {
    if (!needsRouting(queue)) return this.inner.dlqReplay(queue, dlqIds, resetAttempts);
    const shards = shardRefs(queue);
    const ids = dlqIds === 'all' ? shards.map(() => 'all' as const) : this.byShard(queue, dlqIds);
    const out = await Promise.all(shards.map((q, s) => (ids[s] === 'all' || ids[s]!.length > 0 ? this.inner.dlqReplay(q, ids[s]!, resetAttempts) : [])));
    return out.flat();
  }

  async dlqDelete(queue: QueueRef, dlqIds: string[]): Promise<number> {
    if (!needsRouting(queue)) return this.inner.dlqDelete(queue, dlqIds);
    const ids = this.byShard(queue, dlqIds);
    const out = await Promise.all(shardRefs(queue).map((q, s) => (ids[s]!.length > 0 ? this.inner.dlqDelete(q, ids[s]!) : 0)));
    return out.reduce((a, b) => a + b, 0);
  }

  async dlqPurge(queue: QueueRef): Promise<number> {
    const out = await Promise.all(expand(queue).map((q) => this.inner.dlqPurge(q)));
    return out.reduce((a, b) => a + b, 0);
  }

  /** A sharded queue's history: its shards' summed minute by minute. */
  async throughput(queue: QueueRef, fromMs: number, toMs: number): Promise<ThroughputHistory> {
    if (!needsRouting(queue)) return this.inner.throughput(queue, fromMs, toMs);
    const [first, ...rest] = await Promise.all(shardRefs(queue).map((q) => this.inner.throughput(q, fromMs, toMs)));
    for (const h of rest) {
      h.completed.forEach((n, i) => (first!.completed[i]! += n));
      h.failed.forEach((n, i) => (first!.failed[i]! += n));
    }
    return first!;
  }

  private parse(queue: QueueRef, dlqId: string): { entry: string; shard: number } {
    const mark = dlqId.lastIndexOf(DLQ_MARK);
    const shard = mark < 0 ? NaN : Number(dlqId.slice(mark + 1));
    if (!Number.isInteger(shard) || shard < 0 || shard >= shardRefs(queue).length) {
      throw new ConfigError('dead-letter id', `an id of sharded queue '${queue.name}' as listed: "<entry>${DLQ_MARK}<shard>", shard 0-${shardRefs(queue).length - 1}`, dlqId);
    }
    return { entry: dlqId.slice(0, mark), shard };
  }

  private byShard(queue: QueueRef, dlqIds: string[]): string[][] {
    const out = shardRefs(queue).map((): string[] => []);
    for (const id of dlqIds) {
      const { entry, shard } = this.parse(queue, id);
      out[shard]!.push(entry);
    }
    return out;
  }
}

function named(e: DeadLetterEntry, shard: number): DeadLetterEntry {
  return { ...e, dlqId: `${e.dlqId}${DLQ_MARK}${shard}` };
}

function timeOf(id: string): number {
  return AUTO_ID.test(id) ? entryTime(id) : 0;
}


/** The stream id just before `entry`, so an exclusive start there includes `entry` itself. */
function before(entry: string): string {
  const [ms, seq] = entry.split('-').map(BigInt) as [bigint, bigint];
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/** Lists taken in turn, one item of each at a time. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  for (let i = 0; out.length < lists.reduce((a, l) => a + l.length, 0); i++) {
    for (const l of lists) if (i < l.length) out.push(l[i]!);
  }
  return out;
}
