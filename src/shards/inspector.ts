// The inspector over sharded queues: a sharded queue's counts, job lists and dead letters are
// its shards' merged (counts summed, with each shard's kept in `shards`; lists merged in the
// order one queue would give). A dead letter of a shard is named "<entry>@<shard>", so it can
// be shown, replayed and deleted by that id alone, and listing resumes after it.

import type { DeadLetterEntry, Inspector, JobSummary, QueueCounts, QueueRef, StaleCleanup, WorkerEntry } from '../broker/types.js';
import { entryTime, AUTO_ID } from '../envelope.js';
import { ConfigError } from '../errors.js';
import { expand, needsRouting, shardRefs } from './index.js';

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
    return {
      waiting, delayed: sum('delayed'), active: sum('active'), dlq: sum('dlq'), consumers: Math.max(0, ...shards.map((s) => s.consumers)),
      paused: shards.some((s) => s.paused), shards,
    };
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

  async dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]> {
    if (!needsRouting(queue)) return this.inner.dlqList(queue, opts);
    const after = opts.after === undefined ? undefined : this.parse(queue, opts.after);
    const lists = await Promise.all(shardRefs(queue).map(async (q, s) => {
      // After (entry, shard) in (entry, shard) order: a later shard's entries from that entry on.
      const from = after === undefined ? undefined : s <= after.shard ? after.entry : before(after.entry);
      return (await this.inner.dlqList(q, { limit: opts.limit, after: from })).map((e) => ({ e, s }));
    }));
    return lists.flat()
      .sort((a, b) => compareEntries(a.e.dlqId, b.e.dlqId) || a.s - b.s)
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

/** Stream ids "ms-seq" in stream order. */
function compareEntries(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
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
