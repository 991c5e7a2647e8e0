// The Inspector on Redis: counts, listings and dead-letter operations for the CLI, the
// dashboard and the API.

import { compareIds } from '../broker/ids.js';
import { decodeGroupLimits } from './groups.js';
import { CONSUMER_GROUP, fairKeys, healthKey, queuesSetKey, throughputKey, workerKey, workersKey } from './keys.js';
import { addDay, planRange, type ThroughputHistory } from '../broker/history.js';
import { callScript, SCRIPTS } from './scripts.js';
import type { RedisContext } from './context.js';
import { nodeFor } from './topology.js';
import { scanJobs } from './scan.js';
import { headerIdAndTask } from '../envelope.js';
import { ConfigError } from '../errors.js';
import { decodeResult } from '../results.js';
import type { DeadLetterEntry, GroupSummary, Inspector, JobSummary, QueueCounts, QueueRef, ScanChunk, ScanPlace, StaleCleanup, WorkerEntry } from '../broker/types.js';

export class RedisInspector implements Inspector {
  constructor(private readonly ctx: RedisContext) {}

  private get conn() {
    return this.ctx.conn;
  }

  async queueNames(): Promise<string[]> {
    return (await this.conn.smembers(queuesSetKey(this.ctx.prefix))).sort();
  }

  async workers(): Promise<WorkerEntry[]> {
    const ids = await this.conn.zrange(workersKey(this.ctx.prefix), '0', '-1');
    const raws = await Promise.all(ids.map((id) => this.conn.get(workerKey(this.ctx.prefix, id))));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as WorkerEntry);
  }

  async cleanupStaleWorkers(staleMs: number, queues: QueueRef[] = []): Promise<StaleCleanup> {
    const p = this.ctx.prefix;
    const [s, us] = await (await nodeFor(this.conn, workersKey(p))).time();
    const cutoff = Number(s) * 1000 + Math.floor(Number(us) / 1000) - staleMs;
    const stale = await this.conn.zrangebyscore(workersKey(p), '-inf', `(${cutoff}`);
    const alive = new Set(await this.conn.zrangebyscore(workersKey(p), String(cutoff), '+inf'));
    for (const id of stale) await Promise.all([this.conn.zrem(workersKey(p), id), this.conn.del(workerKey(p, id))]);
    const removed = new Set(stale);
    const interrupted: string[] = [];
    let jobs = 0;
    for (const queue of queues) {
      const k = this.ctx.keys(queue);
      const silent = new Set<string>();
      for (const stream of k.streams) {
        const consumers = ((await this.conn.xinfo('CONSUMERS', stream, CONSUMER_GROUP).catch(() => [])) as unknown[][]).map(toObject);
        for (const c of consumers) if (!alive.has(String(c.name)) && Number(c.idle) >= staleMs) silent.add(String(c.name));
      }
      for (const name of silent) {
        // One atomic step per call (see dropworker.lua): hand back, dead-letter what it had
        // taken, forget the consumer; a worker that shows life meanwhile is left alone.
        for (;;) {
          const [state, n, ids] = (await callScript(this.conn, SCRIPTS.dropworker, {
            keys: {
              last_id: k.lastId, job_prefix: k.jobPrefix, aborting: k.aborting, result_prefix: k.resultPrefix, waiters: k.waiters,
              dlq: k.dlq, taken: k.taken, health: healthKey(k, name), wf_notes: k.wfNotes, watch: k.watch,
            },
            streams: k.streams,
            args: {
              group: CONSUMER_GROUP, consumer: name, done_channel: k.doneChannel, ttl: queue.resultTtl ?? 3600, queue: queue.name,
              stale_ms: Math.round(staleMs), max: 500,
            },
          })) as [string, number, string[]];
          jobs += Number(n);
          interrupted.push(...ids.map(String));
          if (state === 'done') removed.add(name);
          if (state !== 'more') break;
        }
      }
    }
    return { workers: [...removed], jobs, interrupted };
  }

  async counts(queue: QueueRef): Promise<QueueCounts> {
    const k = this.ctx.keys(queue);
    const waiting: Record<string, number> = {};
    let active = 0;
    let consumers = 0;
    for (let i = 0; i < k.streams.length; i++) {
      const [groups, len] = await Promise.all([
        this.conn.xinfo('GROUPS', k.streams[i]!).catch(() => []) as Promise<unknown[][]>,
        this.conn.xlen(k.streams[i]!),
      ]);
      const group = groups.map(toObject).find((g) => g.name === CONSUMER_GROUP);
      const pending = Number(group?.pending ?? 0);
      // Every entry on a stream is waiting or pending: the outcome scripts remove acknowledged
      // ones. The group's 'lag' is not used: Redis 7.0 keeps counting an undelivered entry
      // that was deleted (an aborted waiting job) as lag.
      waiting[k.levels[i]!] = Math.max(0, len - pending);
      active += pending;
      consumers = Math.max(consumers, Number(group?.consumers ?? 0));
    }
    // At-most-once jobs run off their stream: they are active too.
    const [delayed, dlq, taken, paused, groups] = await Promise.all([
      this.conn.zcard(k.delayed), this.conn.xlen(k.dlq), this.conn.hlen(k.taken), this.conn.exists(k.paused), this.allGroups(queue),
    ]);
    const grouped = groups.reduce((n, g) => n + g.waiting, 0);
    return { waiting, ...(grouped > 0 && { grouped }), delayed, active: active + taken, dlq, consumers, paused: paused === 1 };
  }

  async groups(queue: QueueRef, limit: number): Promise<GroupSummary[]> {
    return (await this.allGroups(queue)).slice(0, limit);
  }

  /**
   * Every group with jobs waiting (in the ring, resting or full) or paused, by key: one LLEN per
   * group (a count of the whole queue costs O(groups)).
   */
  private async allGroups(queue: QueueRef): Promise<GroupSummary[]> {
    const k = this.ctx.keys(queue);
    const [ring, rest, full, paused] = await Promise.all([
      this.conn.zrange(k.ring, '0', '-1'), this.conn.zrange(k.rest, '0', '-1'), this.conn.smembers(k.full), this.conn.smembers(k.pausedGroups),
    ]);
    const pausedSet = new Set(paused);
    const keys = [...new Set([...ring, ...rest, ...full, ...paused])].sort();
    const [lengths, limits] = await Promise.all([
      Promise.all(keys.map((g) => this.conn.llen(k.groupPrefix + g))),
      keys.length > 0 ? this.conn.hmget(k.groupLimits, ...keys) : [],
    ]);
    const out: GroupSummary[] = [];
    for (let i = 0; i < keys.length; i++) {
      const paused = pausedSet.has(keys[i]!);
      const own = limits[i];
      if (lengths[i]! > 0 || paused) out.push({ key: keys[i]!, waiting: lengths[i]!, paused, ...(own ? { limits: decodeGroupLimits(own) } : {}) });
    }
    return out;
  }

  async listJobs(queue: QueueRef, state: JobSummary['state'], limit: number): Promise<JobSummary[]> {
    if (!JOB_STATES.includes(state)) throw new ConfigError('listJobs status', JOB_STATES.join(', '), state);
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError('listJobs limit', 'an integer >= 1', limit);
    const k = this.ctx.keys(queue);
    const out: JobSummary[] = [];
    if (state === 'delayed') {
      const members = await this.conn.zrange(k.delayed, '0', String(limit - 1), 'WITHSCORES');
      for (let i = 0; i < members.length; i += 2) {
        const rec = await this.conn.hmget(k.jobPrefix + members[i], 'h', 'l');
        out.push({ id: members[i]!, state, level: queue.levels.length - Number(rec[1] ?? 1), header: rec[0] ?? undefined, dueAt: Number(members[i + 1]) });
      }
      return out;
    }
    if (state === 'active') {
      out.push(...(await this.takenJobs(queue, limit)));
      for (let i = 0; i < k.streams.length && out.length < limit; i++) out.push(...(await this.pendingJobs(queue, i, limit - out.length)));
      return out;
    }
    if (state === 'waiting') {
      for (let i = 0; i < k.streams.length && out.length < limit; i++) {
        const level = queue.levels.length - 1 - i;
        const pending = (await this.conn.xpending(k.streams[i]!, CONSUMER_GROUP, '-', '+', 10_000).catch(() => [])) as [string, string][];
        const owners = new Map(pending.map((p) => [p[0], p[1]]));
        let start = '-';
        while (out.length < limit) {
          const batch = await this.conn.xrange(k.streams[i]!, start, '+', 'COUNT', 500);
          for (const [entry, fields] of batch) {
            if (owners.has(entry) || out.length >= limit) continue;
            const header = fieldOf(fields, 'h');
            out.push({ id: idOf(header, entry), state, level, header });
          }
          if (batch.length < 500) break;
          start = `(${batch[batch.length - 1]![0]}`;
        }
      }
      // Then the jobs waiting in groups, group by group (by key), each in its order.
      for (const g of await this.allGroups(queue)) {
        if (out.length >= limit) break;
        for (const id of await this.conn.lrange(k.groupPrefix + g.key, 0, limit - out.length - 1)) {
          const rec = await this.conn.hmget(k.jobPrefix + id, 'h', 'l');
          out.push({ id, state, level: queue.levels.length - Number(rec[1] ?? 1), header: rec[0] ?? undefined });
        }
      }
      return out;
    }
    // Ended jobs are found through their kept results.
    // (On a Cluster, on the master owning the queue's slot: its keys are all there.)
    const node = await nodeFor(this.conn, k.resultPrefix);
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${k.resultPrefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        if (out.length >= limit) break;
        const raw = await this.conn.getBuffer(key);
        if (!raw) continue;
        const rec = decodeResult(raw);
        if (rec.status === state) out.push({ id: key.slice(k.resultPrefix.length), state, level: 0, result: raw });
      }
    } while (cursor !== '0' && out.length < limit);
    return out;
  }

  /**
   * The first `n` running jobs of one level's stream, in id order: XPENDING, then their fields
   * from ONE XRANGE over the span from the first to the last pending id. Acknowledged entries
   * are deleted and XREADGROUP '>' delivers in id order (a retried or handed-back job is added
   * anew at the end), so every entry of that span is pending: the span holds n entries. Should
   * it hold others all the same, it is read on from where it stopped, a bounded number of
   * times; a pending id the span does not hold has had its entry deleted (an aborted job): it
   * is listed by its entry id, as XPENDING still names it. A few commands whatever n.
   */
  private async pendingJobs(queue: QueueRef, index: number, n: number): Promise<JobSummary[]> {
    const stream = this.ctx.keys(queue).streams[index]!;
    const level = queue.levels.length - 1 - index;
    const pending = (await this.conn.xpending(stream, CONSUMER_GROUP, '-', '+', n).catch(() => [])) as [string, string][];
    if (pending.length === 0) return [];
    const last = pending.at(-1)![0];
    const fields = new Map<string, string[]>();
    let start = pending[0]![0];
    let readTo: string | undefined;
    for (let reads = 0; reads < SPAN_READS && readTo !== last; reads++) {
      const count = pending.length - fields.size + SPAN_SLACK;
      const batch = await this.conn.xrange(stream, start, last, 'COUNT', count);
      for (const [entry, f] of batch) fields.set(entry, f);
      // Fewer than asked for: the span is read to its end.
      readTo = batch.length < count ? last : batch.at(-1)![0];
      start = `(${readTo}`;
    }
    // The span not read to its end (never expected): the rest one by one, a few at most.
    if (readTo !== last) {
      const unread = pending.filter(([entry]) => !fields.has(entry) && compareIds(entry, readTo!) > 0).slice(0, MAX_SINGLE_READS);
      for (const [entry] of unread) {
        const [e] = await this.conn.xrange(stream, entry, entry);
        if (e) fields.set(entry, e[1]);
      }
    }
    return pending.map(([entry, owner]) => {
      const header = fieldOf(fields.get(entry) ?? [], 'h');
      return { id: idOf(header, entry), state: 'active', level, header, owner };
    });
  }

  /** At-most-once jobs running off their stream. */
  private async takenJobs(queue: QueueRef, limit: number): Promise<JobSummary[]> {
    const k = this.ctx.keys(queue);
    const taken = await this.conn.hgetall(k.taken);
    const out: JobSummary[] = [];
    for (const [id, value] of Object.entries(taken)) {
      if (out.length >= limit) break;
      const [h, l] = await this.conn.hmget(k.jobPrefix + id, 'h', 'l');
      out.push({ id, state: 'active', level: queue.levels.length - Number(l ?? 1), header: h ?? undefined, owner: value.slice(0, value.lastIndexOf('|')) });
    }
    return out;
  }

  scanJobs(queue: QueueRef, place: ScanPlace, opts: { cursor?: string; count: number; newest?: boolean }): Promise<ScanChunk> {
    return scanJobs(this.ctx, queue, place, opts);
  }

  async dlqList(queue: QueueRef, opts: { limit: number; after?: string }): Promise<DeadLetterEntry[]> {
    const k = this.ctx.keys(queue);
    const start = opts.after ? `(${opts.after}` : '-';
    const entries = await this.conn.xrangeBuffer(k.dlq, start, '+', 'COUNT', opts.limit);
    return entries.map(([id, fields]) => this.dlqEntry(queue, id.toString(), fields));
  }

  async dlqGet(queue: QueueRef, dlqId: string): Promise<DeadLetterEntry | null> {
    const k = this.ctx.keys(queue);
    const [e] = await this.conn.xrangeBuffer(k.dlq, dlqId, dlqId);
    return e ? this.dlqEntry(queue, e[0].toString(), e[1]) : null;
  }

  dlqCount(queue: QueueRef): Promise<number> {
    return this.conn.xlen(this.ctx.keys(queue).dlq);
  }

  async dlqReplay(queue: QueueRef, dlqIds: string[] | 'all', resetAttempts: boolean): Promise<string[]> {
    const k = this.ctx.keys(queue);
    const replayed: string[] = [];
    const replay = async (ids: string[]) => {
      const out = (await callScript(this.conn, SCRIPTS.replay, {
        keys: { dlq: k.dlq, last_id: k.lastId, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, ...fairKeys(k) },
        streams: k.streams,
        args: { reset_attempts: resetAttempts ? '1' : '0', default_level: this.ctx.luaLevel(queue, Math.max(0, queue.levels.indexOf('normal'))) },
        rest: ids,
      })) as string[];
      replayed.push(...out);
    };
    if (dlqIds !== 'all') {
      for (let i = 0; i < dlqIds.length; i += 500) await replay(dlqIds.slice(i, i + 500));
      return replayed;
    }
    for (;;) {
      const batch = await this.conn.xrange(k.dlq, '-', '+', 'COUNT', 500);
      if (batch.length === 0) return replayed;
      await replay(batch.map((e) => e[0]));
    }
  }

  async dlqDelete(queue: QueueRef, dlqIds: string[]): Promise<number> {
    if (dlqIds.length === 0) return 0;
    return this.conn.xdel(this.ctx.keys(queue).dlq, ...dlqIds);
  }

  async dlqPurge(queue: QueueRef): Promise<number> {
    const k = this.ctx.keys(queue);
    const n = await this.conn.xlen(k.dlq);
    await this.conn.del(k.dlq);
    return n;
  }

  /** GETRANGE of the needed minutes of each day's key (history.ts): one command per day. */
  async throughput(queue: QueueRef, fromMs: number, toMs: number): Promise<ThroughputHistory> {
    const k = this.ctx.keys(queue);
    const plan = planRange(fromMs, toMs);
    const out = { start: plan.start, completed: new Array<number>(plan.minutes).fill(0), failed: new Array<number>(plan.minutes).fill(0) };
    const days = await Promise.all(plan.days.map((d) => this.conn.getrangeBuffer(throughputKey(k, d.day), d.firstMinute * 8, (d.firstMinute + d.minutes) * 8 - 1)));
    plan.days.forEach((d, i) => addDay(out, d, days[i]));
    return out;
  }

  private dlqEntry(queue: QueueRef, dlqId: string, fields: Buffer[]): DeadLetterEntry {
    const f: Record<string, Buffer> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!.toString()] = fields[i + 1]!;
    const header = f.h?.toString() ?? '';
    const { id, task } = headerIdAndTask(header);
    const str = (name: string) => f[name]?.toString() ?? '';
    const data = this.ctx.binary ? (f.d ?? Buffer.alloc(0)) : str('d');
    return {
      dlqId,
      id,
      task,
      queue: str('queue') || queue.name,
      level: queue.levels.length - Number(str('level') || 1),
      reason: str('reason'),
      error: str('error'),
      stack: str('stack'),
      attempts: Number(str('attempts') || 0),
      worker: str('worker'),
      failedAt: Number(str('failed_at') || 0),
      header,
      data,
    };
  }
}

/** XRANGE reads of one level's span of running jobs, at most (see pendingJobs). */
const SPAN_READS = 3;

/** Entries a span's XRANGE reads beyond the pending ones it is to meet (others met in it, unexpected). */
const SPAN_SLACK = 16;

/** Running jobs of a level read one XRANGE each when their span could not be read whole, at most. */
const MAX_SINGLE_READS = 8;

const JOB_STATES: readonly JobSummary['state'][] = ['waiting', 'active', 'delayed', 'completed', 'failed', 'aborted', 'expired'];

function toObject(flat: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function idOf(header: string | undefined, entry: string): string {
  const bar = header ? header.indexOf('|') : -1;
  return bar > 0 ? header!.slice(0, bar) : entry;
}
