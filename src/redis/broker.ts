// The Broker on Redis: every state transition is one Lua script (see ./lua), called through
// the typed wrapper in ./scripts.ts.

import type { Logger } from 'pino';
import { CONSUMER_GROUP, cronTickKey, fairKeys, healthKey, levelsKey, queuesSetKey, schedulesChannel, schedulesKey, throughputKey, throughputSeenKey, workerKey, workersKey } from './keys.js';
import { dayOf, HISTORY_TTL_S, minuteOfDay, SEEN_TTL_MS, type EndedTotals } from '../broker/history.js';
import { callScript, SCRIPTS } from './scripts.js';
import { RedisWorkflows } from './workflows.js';
import { Enqueuer } from './enqueuer.js';
import { encodeGroupLimits } from './groups.js';
import { Notices, type Listener } from './notices.js';
import { connect } from './connection.js';
import { isCluster, nodeFor, type Conn } from './topology.js';
import { RedisContext } from './context.js';
import { RedisEventReader } from './events.js';
import { settleWithin, StreamReader } from './reader.js';
import type { RedisSettings } from '../settings.js';
import type {
  NodeNote,
  AbortOutcome, BlockingReader, Broker, Completion, DeadLetter, Delivery, EnqueueItem, EnqueueOutcome,
  EventReader, Fetched, HeldLease, Location, QueueRef, QueueShape, ReclaimOptions, ReclaimOutcome, RetryOutcome, WorkerEntry,
  Durability, DurableWrites, GroupOverride, StoredDocument,
} from '../broker/types.js';
import { packEvents, type MillraceEvent } from '../events.js';
import { Confirmer } from './durability.js';
import { parseShape, shapeText } from '../shards/index.js';


export class RedisBroker implements Broker {
  readonly ctx: RedisContext;
  /** Notices published by the scripts, on a subscriber connection of their own. */
  private readonly pubsub: Notices;
  private readonly readers = new Set<BlockingReader>();
  private readonly registered = new Set<string>();

  private readonly eventsMaxLen: number;
  readonly log: Logger | undefined;

  constructor(
    private readonly settings: RedisSettings,
    options: { prefix: string; binary: boolean; eventsMaxLen: number; log?: Logger },
  ) {
    this.log = options.log;
    this.ctx = new RedisContext(connect(settings, 'commands', false, this.log), options.prefix, options.binary);
    this.eventsMaxLen = options.eventsMaxLen;
    this.pubsub = new Notices(() => connect(settings, 'subscriber', true, this.log));
    this.workflows = new RedisWorkflows(this.ctx, (channel, fn) => this.pubsub.notices(channel, fn));
    this.enqueuer = new Enqueuer(this.ctx, options.eventsMaxLen, () => this.durable);
  }

  private readonly enqueuer: Enqueuer;

  readonly workflows: RedisWorkflows;

  private get conn(): Conn {
    return this.ctx.conn;
  }

  async registerQueue(queue: QueueRef, defines: boolean): Promise<void> {
    if (this.registered.has(queue.name)) return;
    const p = this.ctx.prefix;
    const levels = shapeText(queue);
    // Read before writing: a registration that changes nothing writes nothing, so a worker can
    // start on a full Redis (where every write that may add memory is refused) and drain it.
    const [known, stored] = await Promise.all([
      this.conn.sismember(queuesSetKey(p), queue.name),
      defines ? this.conn.hget(levelsKey(p), queue.name) : undefined,
    ]);
    await Promise.all([
      known === 1 ? undefined : this.conn.sadd(queuesSetKey(p), queue.name),
      defines && stored !== levels ? this.conn.hset(levelsKey(p), queue.name, levels) : undefined,
    ]);
    this.registered.add(queue.name);
  }

  async queueShape(queue: string): Promise<QueueShape | undefined> {
    return parseShape(await this.conn.hget(levelsKey(this.ctx.prefix), queue));
  }

  async ensureGroups(queue: QueueRef): Promise<void> {
    // One script: writes nothing where the groups exist, and creates them on a full Redis too.
    await callScript(this.conn, SCRIPTS.groups, { keys: {}, streams: this.ctx.keys(queue).streams, args: { group: CONSUMER_GROUP } });
  }

  enqueue(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }, durability?: Durability): Promise<EnqueueOutcome[]> {
    return this.enqueuer.enqueue(queue, items, cron, durability);
  }

  enqueueOne(queue: QueueRef, item: EnqueueItem, durability?: Durability): Promise<EnqueueOutcome> {
    return this.enqueuer.enqueueOne(queue, item, durability);
  }

  /** Durable writes and their WAITs, on a connection of their own (opened on first use). */
  private get durable(): Confirmer {
    this.confirmer ??= new Confirmer(() => connect(this.settings, 'durable', false, this.log));
    return this.confirmer;
  }

  private confirmer: Confirmer | undefined;

  /** An outcome write: on the durable connection, then confirmed, when `durable` says so. */
  private outcome<T>(key: string, durable: DurableWrites | undefined, ids: (out: T) => string[], send: (conn: Conn) => Promise<T>): Promise<T> {
    return durable ? this.durable.write(key, durable, ids, send) : send(this.conn);
  }

  async fetch(queue: QueueRef, consumer: string, count: number): Promise<Fetched> {
    const k = this.ctx.keys(queue);
    const out = (await callScript(this.conn, SCRIPTS.fetch, {
      keys: {
        paused: k.paused, taken: k.taken, rate: k.rate, hold: k.hold, job_prefix: k.jobPrefix, last_id: k.lastId,
        held_prefix: k.heldPrefix, group_rate_prefix: k.groupRatePrefix, group_limits: k.groupLimits, group_credit: k.groupCredit, ...fairKeys(k),
      },
      streams: k.streams,
      args: {
        group: CONSUMER_GROUP, consumer, count, cap: queue.globalConcurrency ?? 0, rate_max: queue.rateLimit?.max ?? 0, rate_per: queue.rateLimit?.perMs ?? 0,
        grouped: queue.groups ? 1 : 0, group_cap: queue.groups?.concurrency ?? 0,
        group_rate_max: queue.groups?.rateLimit?.max ?? 0, group_rate_per: queue.groups?.rateLimit?.perMs ?? 0,
      },
      buffers: this.ctx.binary,
    })) as unknown[];
    if (out.length === 1 && out[0] === -1) return Object.assign([], { paused: true as const });
    if (out.length === 1 && out[0] === -2) return Object.assign([], { capped: true as const });
    // A group at its cap: where a read waits for the bell its permit's return rings.
    if (out[0] === -2) return Object.assign([], { capped: true as const, after: out.slice(1).map(String) });
    if (out.length === 2 && out[0] === -4) return Object.assign([], { limitedMs: Number(out[1]) });
    // Every group rests: how long, and where a read may wait meanwhile for another group's job.
    if (out[0] === -4) return Object.assign([], { limitedMs: Number(out[1]), after: out.slice(2).map(String) });
    if (out[0] === -3) return Object.assign([], { after: out.slice(1).map(String) });
    const got: Delivery[] = [];
    for (let i = 0; i + 4 < out.length; i += 5) got.push(this.ctx.deliveryOf(queue, out[i] as number, out[i + 1], out[i + 2], out[i + 3], out[i + 4]));
    return got;
  }

  blockingReader(queue: QueueRef, consumer: string): BlockingReader {
    const reader = new StreamReader(this, this.settings, queue, consumer);
    this.readers.add(reader);
    return reader;
  }

  forgetReader(reader: BlockingReader): void {
    this.readers.delete(reader);
  }

  async complete(queue: QueueRef, consumer: string, items: Completion[], durable?: DurableWrites): Promise<boolean[]> {
    const k = this.ctx.keys(queue);
    const rest: (string | number | Buffer)[] = [];
    const levels: number[] = [];
    for (const c of items) {
      const flags = (c.hasRecord ? 1 : 0) + (c.abortRequested ? 2 : 0);
      const entry = c.delivery.entry;
      const level = this.ctx.luaLevel(queue, c.delivery.level);
      if (entry !== '' && !levels.includes(level)) levels.push(level);
      rest.push(`${level}|${entry}|${c.delivery.token}|${flags}|${c.ttl}|${c.id === entry ? '' : c.id}`, c.record);
    }
    const out = (await this.outcome(k.lastId, durable, (o: unknown) => items.filter((_, i) => (o as number[])[i] === 1).map((c) => c.id), (conn) => callScript(conn, SCRIPTS.complete, {
      keys: { result_prefix: k.resultPrefix, job_prefix: k.jobPrefix, waiters: k.waiters, aborting: k.aborting, taken: k.taken, wf_notes: k.wfNotes, watch: k.watch, full: k.full, bell: k.bell },
      streams: k.streams,
      args: { group: CONSUMER_GROUP, consumer, done_channel: k.doneChannel, levels: levels.join(',') },
      rest,
    }))) as number[];
    return out.map((v) => v === 1);
  }

  async retry(queue: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string, ifAborted: { record: string | Buffer; ttl: number }, durable?: DurableWrites): Promise<RetryOutcome> {
    const k = this.ctx.keys(queue);
    const level = this.ctx.luaLevel(queue, lease.delivery.level);
    const out = await this.outcome(k.lastId, durable, (o) => (o === 1 || o === 2 ? [lease.id] : []), (conn) => callScript(conn, SCRIPTS.retry, {
      keys: {
        delayed: k.delayed, job_prefix: k.jobPrefix, last_id: k.lastId, stream: k.streams[level - 1]!, aborting: k.aborting,
        result_prefix: k.resultPrefix, waiters: k.waiters, dlq: k.dlq, wf_notes: k.wfNotes, watch: k.watch, full: k.full, bell: k.bell,
      },
      args: {
        group: CONSUMER_GROUP, consumer, entry: lease.delivery.entry, token: lease.delivery.token, id: lease.id,
        level, attempt, delay: Math.max(0, Math.round(delayMs)), error, aborted: ifAborted.record, ttl: ifAborted.ttl,
        done_channel: k.doneChannel, queue: queue.name, channel: k.abortChannel,
      },
    }));
    return out === 1 ? 'scheduled' : out === 2 ? 'aborted' : 'refused';
  }

  async deadLetter(queue: QueueRef, consumer: string, item: DeadLetter, durable?: DurableWrites): Promise<boolean> {
    const k = this.ctx.keys(queue);
    const level = this.ctx.luaLevel(queue, item.delivery.level);
    const out = await this.outcome(k.lastId, durable, (o) => (o === 1 ? [item.id] : []), (conn) => callScript(conn, SCRIPTS.dead, {
      keys: { dlq: k.dlq, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, waiters: k.waiters, stream: k.streams[level - 1]!, aborting: k.aborting, taken: k.taken, wf_notes: k.wfNotes, watch: k.watch, full: k.full, bell: k.bell },
      args: {
        group: CONSUMER_GROUP, consumer, entry: item.delivery.entry, token: item.delivery.token, id: item.id,
        done_channel: k.doneChannel, queue: queue.name, level, reason: item.reason, error: item.error, stack: item.stack,
        attempts: item.attempts, worker: item.worker, record: item.record, ttl: item.ttl, use_dlq: item.useDlq ? '1' : '0',
        h: item.delivery.header ?? '', d: item.delivery.data ?? '',
      },
    }));
    return out === 1;
  }

  async take(queue: QueueRef, consumer: string, lease: HeldLease): Promise<boolean> {
    const k = this.ctx.keys(queue);
    const level = this.ctx.luaLevel(queue, lease.delivery.level);
    const out = await callScript(this.conn, SCRIPTS.take, {
      keys: { job_prefix: k.jobPrefix, stream: k.streams[level - 1]!, taken: k.taken },
      args: { group: CONSUMER_GROUP, consumer, entry: lease.delivery.entry, token: lease.delivery.token, id: lease.id, level },
    });
    return out === 1;
  }

  async requeue(queue: QueueRef, consumer: string, leases: HeldLease[], ttl: number): Promise<number> {
    if (leases.length === 0) return 0;
    const k = this.ctx.keys(queue);
    return (await callScript(this.conn, SCRIPTS.requeue, {
      keys: { last_id: k.lastId, job_prefix: k.jobPrefix, aborting: k.aborting, result_prefix: k.resultPrefix, waiters: k.waiters, dlq: k.dlq, wf_notes: k.wfNotes, watch: k.watch },
      streams: k.streams,
      args: { group: CONSUMER_GROUP, consumer, done_channel: k.doneChannel, ttl, queue: queue.name },
      rest: this.leaseArgs(queue, leases),
    })) as number;
  }

  async touch(queue: QueueRef, consumer: string, leases: HeldLease[]): Promise<{ lost: string[]; abort: string[] }> {
    if (leases.length === 0) return { lost: [], abort: [] };
    const k = this.ctx.keys(queue);
    const [lost, abort] = (await callScript(this.conn, SCRIPTS.touch, {
      keys: { aborting: k.aborting, job_prefix: k.jobPrefix },
      streams: k.streams,
      args: { group: CONSUMER_GROUP, consumer },
      rest: this.leaseArgs(queue, leases),
    })) as [string[], string[]];
    return { lost, abort };
  }

  private leaseArgs(queue: QueueRef, leases: HeldLease[]): (string | number)[] {
    const rest: (string | number)[] = [];
    for (const l of leases) rest.push(this.ctx.luaLevel(queue, l.delivery.level), l.delivery.entry, l.delivery.token, l.id);
    return rest;
  }

  async reclaim(queue: QueueRef, consumer: string, opts: ReclaimOptions): Promise<ReclaimOutcome> {
    const k = this.ctx.keys(queue);
    const orphans: (string | number)[] = [];
    for (const o of opts.orphans ?? []) orphans.push(this.ctx.luaLevel(queue, o.level), o.entry);
    const [claimed, dead, own, notes] = (await callScript(this.conn, SCRIPTS.reclaim, {
      keys: { dlq: k.dlq, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, waiters: k.waiters, aborting: k.aborting, wf_notes: k.wfNotes, watch: k.watch },
      streams: k.streams,
      args: {
        group: CONSUMER_GROUP, consumer, min_idle: Math.round(opts.minIdleMs), count: opts.count,
        max_recoveries: opts.maxRecoveries, done_channel: k.doneChannel, queue: queue.name, ttl: opts.ttl,
        suspect_at: opts.suspectAt ?? opts.maxRecoveries + 1, suspect_idle: Math.round(opts.suspectMinIdleMs ?? opts.minIdleMs),
        since: Math.round(opts.since ?? 0),
      },
      rest: orphans,
      buffers: this.ctx.binary,
    })) as [[number, string | Buffer, unknown[], number, number][], (string | Buffer)[], (number | string | Buffer)[], number];
    const mine: { level: number; entry: string; idleMs: number }[] = [];
    for (let i = 0; i + 2 < own.length; i += 3) mine.push({ level: this.ctx.levelOf(queue, Number(own[i])), entry: String(own[i + 1]), idleMs: Number(own[i + 2]) });
    return {
      claimed: claimed.map(([level, entry, fields, token, deaths]) => ({ ...this.ctx.delivery(queue, level, entry, fields, String(token)), deaths: Number(deaths) })),
      dead: dead.map(String),
      own: mine,
      ...(Number(notes) > 0 ? { notes: Number(notes) } : {}),
    };
  }

  async nodeNotes(queue: QueueRef, count: number): Promise<NodeNote[]> {
    const key = this.ctx.keys(queue).wfNotes;
    const [, flat] = this.ctx.binary ? await this.conn.hscanBuffer(key, '0', 'COUNT', count) : await this.conn.hscan(key, '0', 'COUNT', count);
    const out: NodeNote[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: String(flat[i]!), meta: flat[i + 1]! });
    return out;
  }

  async watchJob(queue: QueueRef, id: string, place: readonly [string, number, number]): Promise<string | Buffer | null> {
    const k = this.ctx.keys(queue);
    const out = (await callScript(this.conn, SCRIPTS.watch, {
      keys: { result_prefix: k.resultPrefix, watch: k.watch }, args: { id, place: JSON.stringify(place) }, buffers: this.ctx.binary,
    })) as [number, (string | Buffer)?];
    return Number(out[0]) === 1 ? out[1]! : null;
  }

  async dropNodeNotes(queue: QueueRef, notes: NodeNote[]): Promise<void> {
    if (notes.length === 0) return;
    await callScript(this.conn, SCRIPTS.unnote, { keys: { wf_notes: this.ctx.keys(queue).wfNotes }, args: {}, rest: notes.flatMap((n) => [n.id, n.meta]) });
  }

  async promote(queue: QueueRef, count: number): Promise<{ moved: number; nextDueMs: number }> {
    const k = this.ctx.keys(queue);
    const [moved, next] = (await callScript(this.conn, SCRIPTS.promote, {
      keys: { delayed: k.delayed, last_id: k.lastId, job_prefix: k.jobPrefix, dlq: k.dlq, ...fairKeys(k) },
      streams: k.streams,
      args: { count, queue: queue.name },
    })) as [number, number];
    return { moved, nextDueMs: next };
  }

  async abort(queue: QueueRef, id: string, record: string | Buffer, ttl: number): Promise<AbortOutcome> {
    const k = this.ctx.keys(queue);
    return (await callScript(this.conn, SCRIPTS.abort, {
      keys: { delayed: k.delayed, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, waiters: k.waiters, aborting: k.aborting, wf_notes: k.wfNotes, watch: k.watch, ...fairKeys(k) },
      streams: k.streams,
      args: { id, group: CONSUMER_GROUP, done_channel: k.doneChannel, abort_channel: k.abortChannel, record, ttl },
    })) as AbortOutcome;
  }

  async promoteJob(queue: QueueRef, id: string): Promise<boolean> {
    const k = this.ctx.keys(queue);
    // Due at 0: promote.lua moves it at the workers' next look, with everything a due job gets
    // (its record, its priority, a retry's attempt); the notice wakes their schedulers for it.
    if ((await this.conn.zadd(k.delayed, 'XX', 'CH', 0, id)) === 1) {
      // On a Cluster notices are sharded (the scripts' SPUBLISH; subscribers SSUBSCRIBE).
      await (isCluster(this.conn) ? this.conn.spublish(k.abortChannel, '|due') : this.conn.publish(k.abortChannel, '|due'));
      return true;
    }
    return (await this.conn.zscore(k.delayed, id)) !== null;
  }

  async unschedule(queue: QueueRef, id: string): Promise<boolean> {
    const k = this.ctx.keys(queue);
    const out = await callScript(this.conn, SCRIPTS.unschedule, {
      keys: { delayed: k.delayed, job_prefix: k.jobPrefix },
      args: { id },
    });
    return out === 1;
  }

  async locate(queue: QueueRef, id: string): Promise<Location> {
    const k = this.ctx.keys(queue);
    const out = (await callScript(this.conn, SCRIPTS.locate, {
      keys: { delayed: k.delayed, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, aborting: k.aborting },
      streams: k.streams,
      args: { id, group: CONSUMER_GROUP },
      buffers: this.ctx.binary,
    })) as unknown[];
    const flat = out[6] as (string | Buffer)[];
    const record: Record<string, string> = {};
    const raw: Record<string, string | Buffer> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) {
      raw[String(flat[i])] = flat[i + 1]!;
      record[String(flat[i])] = String(flat[i + 1]);
    }
    const level = Number(out[1]);
    const fields = out[10] ? this.ctx.delivery(queue, 1, '', out[10]) : undefined;
    return {
      state: String(out[0]) as Location['state'],
      level: level > 0 ? this.ctx.levelOf(queue, level) : 0,
      entry: String(out[2]),
      owner: String(out[3]),
      deliveries: Number(out[4]),
      idleMs: Number(out[5]),
      record,
      result: (out[7] as string | Buffer | null) || null,
      dueAt: Number(out[8]) >= 0 ? Number(out[8]) : null,
      abortRequested: Number(out[9]) === 1,
      header: fields?.header ?? raw.h,
      data: fields?.data ?? raw.d,
    };
  }

  async getResult(queue: QueueRef, id: string): Promise<string | Buffer | null> {
    const key = this.ctx.keys(queue).resultPrefix + id;
    return this.ctx.binary ? this.conn.getBuffer(key) : this.conn.get(key);
  }

  async waitForResult(queue: QueueRef, id: string, timeoutMs: number): Promise<string | Buffer | null | 'not_found'> {
    const k = this.ctx.keys(queue);
    let settle!: (v: string | Buffer | null | 'not_found') => void;
    const done = new Promise<string | Buffer | null | 'not_found'>((resolve) => (settle = resolve));
    // The result is read again whenever a PUBLISH may have been missed: on its message, after
    // the subscriber connection came back (a reset loses what was published meanwhile), and
    // once more before giving up.
    const check = () => void this.getResult(queue, id).then((r) => r !== null && settle(r), () => undefined);
    const onDone: Listener = (message) => {
      if (message === id) check();
    };
    await this.pubsub.listen(k.doneChannel, onDone);
    const offResync = this.pubsub.onResync(check);
    const timer = setTimeout(() => void this.getResult(queue, id).then(settle, () => settle(null)), timeoutMs);
    try {
      // Mark the wait before reading, so a result landing in between is published to us (and
      // kept a minute even when the task keeps no results).
      const ttl = timeoutMs + 5000;
      await this.conn.zadd(k.waiters, 'GT', (await this.serverNow()) + ttl, id);
      const existing = await this.getResult(queue, id);
      if (existing !== null) settle(existing);
      else if ((await this.locate(queue, id)).state === 'unknown') {
        // No such job (never enqueued, or its result expired): say so now, not at the timeout.
        settle((await this.getResult(queue, id)) ?? 'not_found');
      }
      return await done;
    } finally {
      clearTimeout(timer);
      offResync();
      this.pubsub.unlisten(k.doneChannel, onDone);
    }
  }

  async onAbort(
    queues: QueueRef[], onAbort: (queue: string, id: string) => void, onResync?: () => void, onPause?: (queue: QueueRef, paused: boolean) => void,
    onHold?: (queue: QueueRef) => void, onDue?: (queue: QueueRef) => void,
  ): Promise<() => Promise<void>> {
    const subs = queues.map((q) => [this.ctx.keys(q).abortChannel, (message: string) => {
      if (message === '|pause' || message === '|resume') onPause?.(q, message === '|pause');
      else if (message === '|hold') onHold?.(q);
      else if (message === '|due') onDue?.(q);
      else onAbort(q.name, message);
    }] as const);
    for (const [channel, fn] of subs) await this.pubsub.listen(channel, fn);
    const offResync = onResync && this.pubsub.onResync(onResync);
    return async () => {
      offResync?.();
      for (const [channel, fn] of subs) this.pubsub.unlisten(channel, fn);
    };
  }

  async hold(queue: QueueRef, ms: number): Promise<void> {
    const k = this.ctx.keys(queue);
    await callScript(this.conn, SCRIPTS.hold, { keys: { hold: k.hold }, args: { ms: Math.max(1, Math.ceil(ms)), channel: k.abortChannel } });
  }

  async heldFor(queue: QueueRef): Promise<number> {
    return Math.max(0, await this.conn.pttl(this.ctx.keys(queue).hold));
  }

  async setPaused(queue: QueueRef, paused: boolean): Promise<void> {
    const k = this.ctx.keys(queue);
    await callScript(this.conn, SCRIPTS.pause, { keys: { paused: k.paused }, args: { paused: paused ? '1' : '0', channel: k.abortChannel } });
  }

  async setGroupPaused(queue: QueueRef, group: string, paused: boolean): Promise<void> {
    await this.groupctl(queue, paused ? 'pause' : 'resume', group, 0);
  }

  async holdGroup(queue: QueueRef, group: string, ms: number): Promise<void> {
    await this.groupctl(queue, 'hold', group, Math.max(1, Math.ceil(ms)));
  }

  async setGroupLimits(queue: QueueRef, group: string, limits: GroupOverride | undefined): Promise<void> {
    const k = this.ctx.keys(queue);
    const tx = this.conn.multi();
    if (limits === undefined) tx.hdel(k.groupLimits, group);
    else tx.hset(k.groupLimits, group, encodeGroupLimits(limits));
    // A worker waiting for resting groups looks again (a raised cap or rate may let it serve).
    tx.xadd(k.bell, 'MAXLEN', '1', '*', 'b', '1');
    await tx.exec();
  }

  private async groupctl(queue: QueueRef, action: 'pause' | 'resume' | 'hold', group: string, ms: number): Promise<void> {
    const k = this.ctx.keys(queue);
    await callScript(this.conn, SCRIPTS.groupctl, { keys: fairKeys(k), args: { action, group, ms } });
  }

  async isPaused(queue: QueueRef): Promise<boolean> {
    return (await this.conn.exists(this.ctx.keys(queue).paused)) === 1;
  }

  async time(): Promise<number> {
    const sent = Date.now();
    // On a Cluster, the clock of the master the heartbeat script runs on (the registry's slot).
    const [s, us] = await (await nodeFor(this.conn, workersKey(this.ctx.prefix))).time();
    const server = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    this.noteServerTime(server, sent);
    return server;
  }

  // Offset of the server's clock from this process' (server - local), measured at the midpoint
  // of a round trip; expiry is judged on it so a skewed host neither expires jobs early nor late.
  private clockOffset = 0;
  private clockAt = 0;
  private clockSync: Promise<unknown> | undefined;

  private noteServerTime(server: number, sent: number): void {
    const now = Date.now();
    this.clockOffset = server - Math.round((sent + now) / 2);
    this.clockAt = now;
  }

  async serverNow(): Promise<number> {
    if (this.clockAt === 0) {
      // No measurement yet: every caller waits for the first one (one TIME for all of them),
      // since an offset of 0 on a skewed host expires jobs early or late. A failed measurement
      // rejects its callers; the next caller measures again.
      this.clockSync ??= this.time().finally(() => (this.clockSync = undefined));
      await this.clockSync;
    } else if (Date.now() - this.clockAt > 60_000 && !this.clockSync) {
      // Later measurements refresh in the background (heartbeats refresh it too).
      this.clockSync = this.time().catch(() => undefined).finally(() => (this.clockSync = undefined));
    }
    // Never behind what it answered before: a new measurement can put the offset a few ms back
    // (its round trip split unevenly on a loaded host), and a clock going backwards would make a
    // caller comparing two readings see time run back.
    const now = Date.now() + this.clockOffset;
    if (now < this.lastServerNow) return this.lastServerNow;
    this.lastServerNow = now;
    return now;
  }

  private lastServerNow = 0;

  async heartbeat(entry: WorkerEntry, ttlMs: number, health: { queue: QueueRef; record: string; ended?: EndedTotals }[]): Promise<void> {
    const p = this.ctx.prefix;
    // The minute the jobs ended since the last beat are counted in, by the server's clock.
    const now = health.some((h) => h.ended) ? await this.serverNow() : 0;
    const sent = Date.now();
    await Promise.all([
      callScript(this.conn, SCRIPTS.heartbeat, {
        keys: { workers: workersKey(p), worker: workerKey(p, entry.id) },
        args: { id: entry.id, entry: JSON.stringify(entry), ttl: Math.round(ttlMs) },
      }).then((server) => this.noteServerTime(Number(server), sent)),
      ...health.map((h) => {
        const k = this.ctx.keys(h.queue);
        const e = h.ended;
        // One script per queue: the health record and the history share the queue's slot.
        return callScript(this.conn, SCRIPTS.health, {
          keys: { health: healthKey(k, entry.id), seen: throughputSeenKey(k, entry.id), history: throughputKey(k, dayOf(now)) },
          args: {
            record: h.record, ttl: Math.round(ttlMs), completed: e ? e.completed : '', failed: e?.failed ?? 0,
            landed_completed: e?.landedCompleted ?? 0, landed_failed: e?.landedFailed ?? 0, minute: minuteOfDay(now), history_ttl: HISTORY_TTL_S, seen_ttl: SEEN_TTL_MS,
          },
        });
      }),
    ]);
  }

  async removeWorker(workerId: string, queues: QueueRef[]): Promise<void> {
    const p = this.ctx.prefix;
    await Promise.all([
      this.conn.zrem(workersKey(p), workerId),
      this.conn.del(workerKey(p, workerId)),
      ...queues.map((q) => this.conn.del(healthKey(this.ctx.keys(q), workerId), throughputSeenKey(this.ctx.keys(q), workerId))),
    ]);
  }

  async publishEvents(queue: QueueRef, events: MillraceEvent[], worker: string): Promise<void> {
    if (this.eventsMaxLen <= 0 || events.length === 0) return;
    // One entry per batch; the cap in entries is scaled so about eventsMaxLen events stay
    // (trimmed as the enqueue script does: by whole nodes only when the cap is large).
    const cap = Math.max(1, Math.ceil(this.eventsMaxLen / events.length));
    await this.conn.xadd(this.ctx.keys(queue).events, 'MAXLEN', cap < 100 ? '=' : '~', cap, '*', 'w', worker, 'e', packEvents(events, worker));
  }

  eventReader(): EventReader {
    return new RedisEventReader(connect(this.settings, 'events', true, this.log), this.ctx);
  }

  async saveSchedule(name: string, definition: string): Promise<void> {
    await this.conn.hset(schedulesKey(this.ctx.prefix), name, definition);
    await this.schedulesChanged();
  }

  async deleteSchedule(name: string, queue: QueueRef): Promise<boolean> {
    const [removed] = await Promise.all([
      this.conn.hdel(schedulesKey(this.ctx.prefix), name),
      this.conn.del(cronTickKey(this.ctx.keys(queue), name)),
    ]);
    await this.schedulesChanged();
    return removed === 1;
  }

  /** Tells the workers' cron schedulers (asleep until their next tick) that the schedules changed. */
  private async schedulesChanged(): Promise<void> {
    const channel = schedulesChannel(this.ctx.prefix);
    await (isCluster(this.conn) ? this.conn.spublish(channel, '|changed') : this.conn.publish(channel, '|changed'));
  }

  onSchedulesChanged(fn: () => void): () => void {
    let off: (() => Promise<void>) | undefined;
    let gone = false;
    // Subscribed in the background (the hook is synchronous); a notice missed meanwhile is one
    // the cron scheduler's first look reads anyway.
    void this.pubsub.notices(schedulesChannel(this.ctx.prefix), fn).then(async (o) => {
      if (gone) await o();
      else off = o;
    }, () => undefined);
    return () => {
      gone = true;
      void off?.().catch(() => undefined);
    };
  }

  async schedules(): Promise<Record<string, string>> {
    return this.conn.hgetall(schedulesKey(this.ctx.prefix));
  }

  // A document is `<prefix>:<kind>:<id>`; its kind's index `<prefix>:<kind>s` is a sorted set of
  // ids scored by save time (server ms). Separate commands, not a MULTI: on a Cluster the two
  // keys are in different slots.
  async saveDocument(kind: string, id: string, json: string, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.round(ttlMs));
    const now = await this.serverNow();
    const index = `${this.ctx.prefix}:${kind}s`;
    await this.conn.set(`${this.ctx.prefix}:${kind}:${id}`, json, 'PX', ttl);
    const [, , left] = await Promise.all([
      this.conn.zadd(index, now, id),
      this.conn.zremrangebyscore(index, '-inf', `(${now - ttl}`),
      this.conn.pttl(index),
    ]);
    // The index lives as long as its longest-kept document (never shortened by a shorter ttl).
    if (left < ttl) await this.conn.pexpire(index, ttl);
  }

  async loadDocument(kind: string, id: string): Promise<string | null> {
    return this.conn.get(`${this.ctx.prefix}:${kind}:${id}`);
  }

  async listDocuments(kind: string, limit: number): Promise<StoredDocument[]> {
    const index = `${this.ctx.prefix}:${kind}s`;
    const out: StoredDocument[] = [];
    let from = 0;
    // Ids whose document expired before the index was pruned are dropped (and removed); a few
    // rounds at most fill the page up again.
    for (let round = 0; round < 3 && out.length < limit; round++) {
      const ids = await this.conn.zrevrange(index, from, from + limit - out.length - 1);
      if (ids.length === 0) break;
      const docs = await Promise.all(ids.map((id) => this.conn.get(`${this.ctx.prefix}:${kind}:${id}`)));
      const gone = ids.filter((_, i) => docs[i] === null);
      ids.forEach((id, i) => docs[i] !== null && out.push({ id, json: docs[i]! }));
      if (gone.length > 0) await this.conn.zrem(index, ...gone);
      from += ids.length - gone.length;
    }
    return out;
  }

  async setProgress(queue: QueueRef, id: string, progress: string, ttlMs: number): Promise<void> {
    await this.conn.set(this.ctx.keys(queue).progressPrefix + id, progress, 'PX', Math.round(ttlMs));
  }

  getProgress(queue: QueueRef, id: string): Promise<string | null> {
    return this.conn.get(this.ctx.keys(queue).progressPrefix + id);
  }

  async appendLog(queue: QueueRef, id: string, line: string, maxLines: number, ttlMs: number): Promise<void> {
    const key = this.ctx.keys(queue).logPrefix + id;
    await this.conn.multi().rpush(key, line).ltrim(key, -maxLines, -1).pexpire(key, Math.round(ttlMs)).exec();
  }

  getLogs(queue: QueueRef, id: string, start: number, end: number): Promise<string[]> {
    return this.conn.lrange(this.ctx.keys(queue).logPrefix + id, start, end);
  }

  async evictionPolicy(): Promise<string | undefined> {
    try {
      const reply = (await this.conn.config('GET', 'maxmemory-policy')) as string[];
      return reply[1];
    } catch {
      return undefined; // CONFIG renamed or not allowed (managed Redis)
    }
  }

  async ping(): Promise<number> {
    const start = performance.now();
    await this.conn.ping();
    return performance.now() - start;
  }

  async close(): Promise<void> {
    this.pubsub.stop();
    for (const r of [...this.readers]) await r.close();
    await this.confirmer?.close();
    // QUIT waits for the replies still due; an unreachable Redis never sends them (the
    // subscriber waits for Redis forever): past a moment, the connection is just dropped.
    await Promise.all([this.conn, this.pubsub.connection].map(async (c) => {
      if (c && !(await settleWithin(c.quit(), 1000))) c.disconnect();
    }));
  }
}
