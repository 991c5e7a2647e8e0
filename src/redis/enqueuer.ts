// The enqueue path of the Redis broker: enqueues of one turn coalesced per queue into one call
// of enqueue.lua (durable ones through the Confirmer, then WAITed), each caller answered its
// own outcomes; a call token makes a call sent again answer its first run's reply.

import { randomBytes } from 'node:crypto';
import { callKey, cronTickKey, fairKeys } from './keys.js';
import { callScript, SCRIPTS } from './scripts.js';
import type { Conn } from './topology.js';
import type { RedisContext } from './context.js';
import type { Durability, EnqueueItem, EnqueueOutcome, QueueRef } from '../broker/types.js';
import { inChunks, type Confirmer, type DurableCaller } from './durability.js';
import { shardCount } from '../shards/index.js';

/** Jobs one coalesced enqueue call carries at most; larger enqueues go on their own. */
const COALESCE_MAX = 1000;
/**
 * A batch is sent as soon as it holds this many jobs, so the batches of a burst overlap:
 * Redis runs one while this process builds the next (measured: single enqueue with 50 in
 * flight, median of 5, 38k jobs/s sending once per turn, 51k sending every 16).
 */
const COALESCE_EARLY = 16;

/** A caller's part of a coalesced batch: `count` jobs from `from`; one job's caller (`one`) gets its outcome alone. */
type Caller = DurableCaller;

interface EnqueueBatch {
  items: EnqueueItem[];
  callers: Caller[];
  /** A caller asked for durability: the batch goes through the durable connection, then WAITs. */
  durable: boolean;
}

export class Enqueuer {
  constructor(
    private readonly ctx: RedisContext,
    private readonly eventsMaxLen: number,
    /** Durable writes and their WAITs, on a connection of their own (opened on first use). */
    private readonly durable: () => Confirmer,
  ) {}

  /**
   * Enqueues made in the same turn of the event loop for the same queue go to Redis together,
   * in one script call: many callers each awaiting one job (a web server's requests, say) cost
   * one round trip and one script run instead of one each. Each caller gets its own outcomes;
   * the script adds the jobs in call order. A cron tick (guarded) is sent on its own.
   */
  enqueue(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }, durability?: Durability): Promise<EnqueueOutcome[]> {
    if (cron || items.length >= COALESCE_MAX) {
      if (!durability) return this.enqueueNow(queue, items, cron);
      return new Promise((resolve, reject) => void this.durable().enqueue(queue.name, this.ctx.keys(queue).lastId,
        [{ from: 0, count: items.length, resolve, one: undefined, reject, durability }], (conn) => inChunks(items, (part) => this.enqueueNow(queue, part, cron, conn))));
    }
    return new Promise((resolve, reject) => this.join(queue, items, { from: 0, count: items.length, resolve, one: undefined, reject, durability }));
  }

  enqueueOne(queue: QueueRef, item: EnqueueItem, durability?: Durability): Promise<EnqueueOutcome> {
    return new Promise((one, reject) => this.join(queue, item, { from: 0, count: 1, resolve: undefined, one, reject, durability }));
  }

  /** Adds a caller and its jobs to this turn's batch for the queue. */
  private join(queue: QueueRef, jobs: EnqueueItem[] | EnqueueItem, caller: Caller): void {
    const batch = this.batchFor(queue, caller.count);
    caller.from = batch.items.length;
    batch.callers.push(caller);
    if (caller.durability) batch.durable = true;
    if (Array.isArray(jobs)) for (const it of jobs) batch.items.push(it);
    else batch.items.push(jobs);
    // A durable batch waits for the turn's end: its callers share one script call and one WAIT.
    if (batch.items.length >= COALESCE_EARLY && !batch.durable) this.flushEnqueues(queue, batch);
  }

  /** The batch of this turn for the queue, with room for `count` more jobs. */
  private batchFor(queue: QueueRef, count: number): EnqueueBatch {
    let batch = this.coalescing.get(queue);
    if (!batch || batch.items.length + count > COALESCE_MAX) {
      if (batch) this.flushEnqueues(queue, batch);
      batch = { items: [], callers: [], durable: false };
      this.coalescing.set(queue, batch);
      if (!this.enqueueFlushScheduled) {
        this.enqueueFlushScheduled = true;
        // After the current microtasks: every caller resumed in this turn has added its jobs.
        process.nextTick(() => {
          this.enqueueFlushScheduled = false;
          for (const [ref, b] of this.coalescing) this.flushEnqueues(ref, b);
        });
      }
    }
    return batch;
  }

  private readonly coalescing = new Map<QueueRef, EnqueueBatch>();
  private enqueueFlushScheduled = false;

  private flushEnqueues(queue: QueueRef, batch: EnqueueBatch): void {
    if (this.coalescing.get(queue) === batch) this.coalescing.delete(queue);
    if (batch.durable) {
      void this.durable().enqueue(queue.name, this.ctx.keys(queue).lastId, batch.callers, (conn) => this.enqueueNow(queue, batch.items, undefined, conn));
      return;
    }
    this.enqueueNow(queue, batch.items).then(
      (out) => {
        for (const c of batch.callers) {
          if (c.one) c.one(out[c.from]!);
          else c.resolve!(c.count === out.length ? out : out.slice(c.from, c.from + c.count));
        }
      },
      (err: unknown) => {
        for (const c of batch.callers) c.reject(err);
      },
    );
  }

  /** Tokens of enqueue calls: unique per process (random) and per call (a counter). */
  private readonly callPrefix = randomBytes(6).toString('base64url');
  private calls = 0;

  private nextCallToken(): string {
    return this.callPrefix + (this.calls++).toString(36);
  }

  private async enqueueNow(queue: QueueRef, items: EnqueueItem[], cron?: { schedule: string; tick: number }, conn: Conn = this.ctx.conn): Promise<EnqueueOutcome[]> {
    const k = this.ctx.keys(queue);
    const rest: (string | number | Buffer)[] = [];
    // Per job its level, and '1' when its task is not the one of the job before (see enqueue.lua).
    let plan = '';
    let dues = '';
    let groups: (string | false)[] | undefined;
    for (let j = 0; j < items.length; j++) {
      const it = items[j]!;
      plan += String.fromCharCode(48 + this.ctx.luaLevel(queue, it.level)) + (j > 0 && it.task === items[j - 1]!.task ? '0' : '1');
      if (it.due !== undefined) dues += `${j + 1}:${'delay' in it.due ? `+${Math.round(it.due.delay)}` : Math.round(it.due.at)},`;
      if (it.group !== undefined) (groups ??= new Array<string | false>(items.length).fill(false))[j] = it.group;
      rest.push(it.header, it.data);
    }
    const out = (await callScript(conn, SCRIPTS.enqueue, {
      keys: {
        last_id: k.lastId, delayed: k.delayed, job_prefix: k.jobPrefix, result_prefix: k.resultPrefix, events: k.events,
        guard: cronTickKey(k, cron?.schedule ?? ''), call: callKey(k, this.nextCallToken()), ...fairKeys(k),
      },
      streams: k.streams,
      args: { queue: queue.name, events_max: this.eventsMaxLen, tick: cron ? Math.round(cron.tick) : '', plan, dues, channel: k.abortChannel, groups: groups ? JSON.stringify(groups) : '' },
      rest,
    })) as [number, number, string] | [];
    const result: EnqueueOutcome[] = [];
    if (out.length === 0) return result; // a cron tick already enqueued
    const [ms, seq, flags] = out;
    const step = shardCount(queue);
    let next = Number(seq);
    for (let i = 0; i < items.length; i++) {
      const flag = flags.charCodeAt(i); // '0' existed, '1' added taking the next id, '2' added without
      const id = items[i]!.id;
      result.push({ id: id === '' ? `${ms}-${next}` : id, created: flag !== 48 });
      if (flag === 49) next += step;
    }
    return result;
  }
}
