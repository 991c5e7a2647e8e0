// The Inspector in memory: counts, listings, dead-letter operations and stale-worker cleanup
// over a MemoryBroker's data, with the semantics of src/redis/inspector.ts.

import type { DeadLetterEntry, GroupSummary, Inspector, JobSummary, QueueCounts, QueueRef, ScanChunk, ScanPlace, StaleCleanup, WorkerEntry } from '../broker/types.js';
import { scanMemory } from './scan.js';
import { headerIdAndTask } from '../envelope.js';
import { ConfigError } from '../errors.js';
import { decodeResult } from '../results.js';
import type { MemoryBroker } from './broker.js';
import { dropWorker } from './reclaim.js';
import { addToGroup, groupSummaries, headerGroup } from './groups.js';
import { compareIds, headerId, headerWith, jobIdOf, type Bytes } from './records.js';
import type { DlqRecord, MemoryState, QueueState } from './state.js';
import { levelIndex } from './transitions.js';
import { storageName } from '../shards/index.js';
import { addDay, planRange, type ThroughputHistory } from '../broker/history.js';

const JOB_STATES: readonly JobSummary['state'][] = ['waiting', 'active', 'delayed', 'completed', 'failed', 'aborted', 'expired'];

const str = (v: Bytes | undefined): string | undefined => (v === undefined ? undefined : String(v));

export class MemoryInspector implements Inspector {
  private readonly state: MemoryState;

  constructor(broker: MemoryBroker) {
    this.state = broker.state;
  }

  private q(queue: QueueRef): QueueState {
    return this.state.queue(storageName(queue));
  }

  async queueNames(): Promise<string[]> {
    return [...this.state.queueNames].sort();
  }

  async workers(): Promise<WorkerEntry[]> {
    const ids = [...this.state.beats].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    return ids.flatMap((id) => {
      const raw = this.state.workerEntries.get(id);
      return raw === undefined ? [] : [JSON.parse(raw) as WorkerEntry];
    });
  }

  async cleanupStaleWorkers(staleMs: number, queues: QueueRef[] = []): Promise<StaleCleanup> {
    const cutoff = this.state.clock.now() - staleMs;
    const alive = new Set<string>();
    const removed = new Set<string>();
    for (const [id, at] of [...this.state.beats]) {
      if (at >= cutoff) {
        alive.add(id);
        continue;
      }
      this.state.beats.delete(id);
      this.state.workerEntries.delete(id);
      removed.add(id);
    }
    const interrupted: string[] = [];
    let jobs = 0;
    for (const queue of queues) {
      const q = this.q(queue);
      const now = this.state.clock.now();
      const silent = [...q.consumers].filter(([name, seen]) => !alive.has(name) && now - seen >= staleMs).map(([name]) => name);
      for (const name of silent) {
        const out = dropWorker(q, queue, name, staleMs);
        jobs += out.jobs;
        interrupted.push(...out.interrupted);
        if (out.state === 'done') removed.add(name);
      }
    }
    return { workers: [...removed], jobs, interrupted };
  }

  async counts(queue: QueueRef): Promise<QueueCounts> {
    const q = this.q(queue);
    const waiting: Record<string, number> = {};
    let active = 0;
    for (const level of [...queue.levels].reverse()) {
      const s = q.streams.get(level);
      waiting[level] = s?.waiting ?? 0;
      active += s?.pending.size ?? 0;
    }
    // At-most-once jobs run off their stream: they are active too.
    const counts: QueueCounts = { waiting, delayed: q.delayed.size, active: active + q.taken.size, dlq: q.dlq.size, consumers: q.consumers.size, paused: q.paused };
    // Jobs waiting in groups are not on a stream yet: counted apart, only when there are some.
    const grouped = q.groups.waiting;
    if (grouped > 0) counts.grouped = grouped;
    return counts;
  }

  async groups(queue: QueueRef, limit: number): Promise<GroupSummary[]> {
    return groupSummaries(this.q(queue), limit);
  }

  async listJobs(queue: QueueRef, state: JobSummary['state'], limit: number): Promise<JobSummary[]> {
    if (!JOB_STATES.includes(state)) throw new ConfigError('listJobs status', JOB_STATES.join(', '), state);
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError('listJobs limit', 'an integer >= 1', limit);
    const q = this.q(queue);
    const out: JobSummary[] = [];
    if (state === 'delayed') {
      for (const { id, at } of q.delayed.first(limit)) {
        const rec = q.records.get(id);
        out.push({ id, state, level: levelIndex(queue, rec?.level), header: str(rec?.h), dueAt: at });
      }
      return out;
    }
    if (state === 'waiting' || state === 'active') {
      if (state === 'active') {
        for (const [id, t] of q.taken) {
          if (out.length >= limit) break;
          const rec = q.records.get(id);
          out.push({ id, state, level: levelIndex(queue, rec?.level), header: str(rec?.h), owner: t.worker });
        }
      }
      for (let i = queue.levels.length - 1; i >= 0 && out.length < limit; i--) {
        const stream = q.streams.get(queue.levels[i]!);
        if (!stream) continue;
        if (state === 'active') {
          // The group's pending entries (XPENDING), in id order: one whose fields were deleted
          // from the stream is still listed, by its entry id.
          for (const [entry, p] of stream.pending) {
            if (out.length >= limit) break;
            const header = str(stream.entries.get(entry)?.h);
            out.push({ id: jobIdOf(header, entry), state, level: i, header, owner: p.owner });
          }
          continue;
        }
        for (const [entry, f] of stream.entries) {
          if (out.length >= limit) break;
          if (stream.pending.has(entry)) continue;
          const header = str(f.h);
          out.push({ id: jobIdOf(header, entry), state, level: i, header });
        }
      }
      // Then the jobs waiting in groups, group by group (by key), each in its order.
      if (state === 'waiting') {
        for (const key of [...q.groups.lists.keys()].sort()) {
          for (const id of q.groups.lists.get(key)!) {
            if (out.length >= limit) return out;
            const rec = q.records.get(id);
            out.push({ id, state, level: levelIndex(queue, rec?.level), header: str(rec?.h) });
          }
        }
      }
      return out;
    }
    // Ended jobs are found through their kept results.
    for (const [id, raw] of q.results.entries()) {
      if (out.length >= limit) break;
      if (decodeResult(raw).status === state) out.push({ id, state, level: 0, result: raw });
    }
    return out;
  }

  async scanJobs(queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): Promise<ScanChunk> {
    return scanMemory(this.q(queue), queue, place, opts);
  }

  async dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]> {
    const out: DeadLetterEntry[] = [];
    for (const [dlqId, rec] of this.q(queue).dlq) {
      if (out.length >= opts.limit) break;
      if (opts.after === undefined || compareIds(dlqId, opts.after) > 0) out.push(dlqEntry(queue, dlqId, rec));
    }
    return out;
  }

  async dlqGet(queue: QueueRef, dlqId: string): Promise<DeadLetterEntry | null> {
    const rec = this.q(queue).dlq.get(dlqId);
    return rec ? dlqEntry(queue, dlqId, rec) : null;
  }

  async dlqCount(queue: QueueRef): Promise<number> {
    return this.q(queue).dlq.size;
  }

  /**
   * replay.lua: entries back on their ready stream (attempts reset when asked), their failed
   * result cleared; a job of a group (its header's options name it) back to the end of its group.
   */
  async dlqReplay(queue: QueueRef, dlqIds: string[] | 'all', resetAttempts: boolean): Promise<string[]> {
    const q = this.q(queue);
    const fallback = queue.levels.includes('normal') ? 'normal' : queue.levels[0]!;
    const out: string[] = [];
    for (const dlqId of dlqIds === 'all' ? [...q.dlq.keys()] : dlqIds) {
      const f = q.dlq.get(dlqId);
      if (!f) continue;
      const level = queue.levels.includes(f.level) ? f.level : fallback;
      const h = resetAttempts ? headerWith(f.h, undefined, '0') : f.h;
      const group = headerGroup(h);
      if (group !== undefined) {
        // Named by its id (a new one, were its header to name none), as a grouped job always is.
        const id = headerId(h) || q.ids.next(this.state.clock.now());
        addToGroup(q, id, group, { level, h: headerWith(h, id), d: f.d });
        q.results.delete(id);
        q.dlq.delete(dlqId);
        out.push(id);
        continue;
      }
      const entry = q.append(level, { h, d: f.d });
      const id = headerId(h) || entry;
      if (id !== entry) q.setRecord(id, { st: 'queued', level, e: entry });
      q.results.delete(id);
      q.dlq.delete(dlqId);
      out.push(id);
    }
    return out;
  }

  async dlqDelete(queue: QueueRef, dlqIds: string[]): Promise<number> {
    const q = this.q(queue);
    return dlqIds.filter((id) => q.dlq.delete(id)).length;
  }

  async dlqPurge(queue: QueueRef): Promise<number> {
    const q = this.q(queue);
    const n = q.dlq.size;
    q.dlq.clear();
    return n;
  }

  async throughput(queue: QueueRef, fromMs: number, toMs: number): Promise<ThroughputHistory> {
    const q = this.q(queue);
    const plan = planRange(fromMs, toMs);
    const out = { start: plan.start, completed: new Array<number>(plan.minutes).fill(0), failed: new Array<number>(plan.minutes).fill(0) };
    for (const d of plan.days) addDay(out, d, q.throughput.get(d.day)?.subarray(d.firstMinute * 8, (d.firstMinute + d.minutes) * 8));
    return out;
  }
}

function dlqEntry(queue: QueueRef, dlqId: string, f: DlqRecord): DeadLetterEntry {
  const header = String(f.h);
  return {
    dlqId, ...headerIdAndTask(header), queue: f.queue || queue.name, level: levelIndex(queue, f.level), reason: f.reason, error: f.error,
    stack: f.stack, attempts: f.attempts, worker: f.worker, failedAt: f.failedAt, header, data: f.d,
  };
}

/** A dead-lettered header's job id and task; a malformed one was dead-lettered as found, its id still first. */
