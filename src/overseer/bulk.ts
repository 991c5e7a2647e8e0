// Bulk actions over a queue's dead letters (replay or delete; all of them or those a filter
// keeps) as operations that run in the background of the dashboard process and report their
// progress. An operation reads the dead letters a chunk at a time (SEARCH_CHUNK.dead entries, one
// XRANGE through the public DeadLetterQueue.list, via Searcher.deadLetters), replays or deletes
// the chunk's matches in batches of at most BATCH ids, and gives the event loop back between
// chunks: one Redis call of bounded size in flight at a time, so Redis is never held long,
// whatever the size of the set.
//
// Idempotent: replay.lua (and the memory broker) skip, atomically, an id no longer in the DLQ,
// so an entry is replayed at most once, whoever else replays or deletes it meanwhile (a single
// replay, another dashboard, the CLI). And a walk goes only as far as the entries that were
// there when it began (`until`: the server's clock at its start, which stamps the entries' ids),
// so the jobs a replay puts back that fail again, and dead letters added meanwhile, are left for
// another operation.
//
// Operations are kept in this process only: they do not survive a restart of the dashboard (a
// running one stops with it, after its current batch). That is safe: running the same action
// again replays or deletes only what is still in the DLQ and matches.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { OverseerData } from './data.js';
import { Searcher, type SearchFilter } from './search.js';

export type OperationKind = 'replay' | 'delete';
export type OperationState = 'running' | 'done' | 'cancelled' | 'failed';

/** A dead-letter filter as given (each field as search's: exact task and reason, a substring of the arguments or error, a failure-time window). */
export interface BulkFilter {
  task?: string;
  reason?: string;
  text?: string;
  from?: number;
  to?: number;
}

export interface Operation {
  id: string;
  kind: OperationKind;
  queue: string;
  /** What it acts on: every dead letter there at its start, or those the filter keeps. */
  filter: BulkFilter | 'all';
  state: OperationState;
  /** Dead letters in the queue when it began. */
  total: number;
  /** Entries read so far (of those there at its start). */
  scanned: number;
  /** Entries the filter kept so far. */
  matched: number;
  /** Replayed or deleted so far (a match that someone else replayed or deleted meanwhile is not counted). */
  done: number;
  startedAt: number;
  endedAt?: number;
  error?: string;
  /** Who started it (as the audit log says: anonymous, token, user:<name>). */
  who: string;
  cancelledBy?: string;
}

/**
 * Ids per replay or delete call: a replay script of 100 ids holds Redis about 1.5 ms (500 held
 * it 7 ms: npm run bench:overseer).
 */
export const BATCH = 100;

/** Finished operations are kept this long (ms)… */
export const KEEP_MS = 3_600_000;
/** …and this many at most. */
export const KEEP_MAX = 100;

/** Another operation runs on the queue (the route answers 409). */
export class OperationConflict extends Error {
  constructor(readonly running: Operation) {
    super(
      `a ${running.kind} of dead letters (operation ${running.id}, started by ${running.who}) is already running on queue '${running.queue}' ` +
        `(${running.done} of ${running.total} done): wait for it to end or cancel it`,
    );
  }
}

interface Entry {
  op: Operation;
  stop: AbortController;
  /** Resolves when the operation has ended (never rejects). */
  finished: Promise<void>;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits for `p`, or `ms` at most (the timer cleared either way, so it holds no process open). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function shown(f: SearchFilter | 'all'): BulkFilter | 'all' {
  if (f === 'all') return 'all';
  const out: BulkFilter = {};
  for (const k of ['task', 'reason', 'text', 'from', 'to'] as const) if (f[k] !== undefined) (out as Record<string, unknown>)[k] = f[k];
  return out;
}

const copy = (op: Operation): Operation => ({ ...op, filter: op.filter === 'all' ? 'all' : { ...op.filter } });

/** The bulk operations of one dashboard handler. */
export class BulkOperations {
  /** In start order (a Map keeps insertion order). */
  private readonly ops = new Map<string, Entry>();
  private readonly searcher: Searcher;
  private closed = false;

  constructor(
    private readonly data: OverseerData,
    private readonly log: Logger,
  ) {
    this.searcher = new Searcher(data);
  }

  /**
   * Starts replaying or deleting the queue's dead letters (all, or those `filter` keeps) and
   * answers at once with the operation; throws OperationConflict while another runs on the queue.
   */
  async start(kind: OperationKind, queue: string, filter: SearchFilter | 'all', who: string): Promise<Operation> {
    if (this.closed) throw new Error('the dashboard is closing');
    const running = this.runningOn(queue);
    if (running) throw new OperationConflict(copy(running));
    const op: Operation = { id: randomUUID(), kind, queue, filter: shown(filter), state: 'running', total: 0, scanned: 0, matched: 0, done: 0, startedAt: Date.now(), who };
    const stop = new AbortController();
    // Held from here (before any await), so that two requests cannot both start one.
    const entry: Entry = { op, stop, finished: Promise.resolve() };
    this.ops.set(op.id, entry);
    let until: number;
    try {
      [until, op.total] = await Promise.all([this.data.app.broker.time(), this.data.app.deadLetters(queue).count()]);
    } catch (err) {
      this.end(op, 'failed', err);
      throw err;
    }
    this.log.info({ who, action: `dlq.${kind}.start`, at: new Date(op.startedAt).toISOString(), operation: op.id, queue, filter: op.filter, total: op.total }, `overseer: dlq.${kind}.start`);
    entry.finished = this.run(entry, filter, until);
    return copy(op);
  }

  /** Reads the dead letters there at the start a chunk at a time and acts on each chunk's matches. */
  private async run(entry: Entry, filter: SearchFilter | 'all', until: number): Promise<void> {
    const { op, stop } = entry;
    // Entries stamped in the start's millisecond were there before it: none this walk causes can be.
    await sleep(2);
    const f: SearchFilter = filter === 'all' ? { queues: [op.queue], status: 'dead', limit: Infinity } : filter;
    try {
      for await (const { hits, scanned } of this.searcher.deadLetters(f, op.queue, stop.signal, until)) {
        op.scanned += scanned;
        op.matched += hits.length;
        const ids = hits.map((hit) => hit.dlqId!);
        for (let i = 0; i < ids.length && !stop.signal.aborted; i += BATCH) {
          const batch = ids.slice(i, i + BATCH);
          op.done += op.kind === 'replay' ? (await this.data.replay(op.queue, batch)).length : await this.data.deleteDeadLetters(op.queue, batch);
        }
        // Other requests (and other queues' operations) get their turn between chunks.
        await nextTurn();
      }
      this.end(op, stop.signal.aborted ? 'cancelled' : 'done');
    } catch (err) {
      this.end(op, stop.signal.aborted ? 'cancelled' : 'failed', err);
    }
  }

  private end(op: Operation, state: Exclude<OperationState, 'running'>, err?: unknown): void {
    op.state = state;
    op.endedAt = Date.now();
    if (err !== undefined) op.error = (err as Error)?.message ?? String(err);
    const fields = {
      who: op.who, action: `dlq.${op.kind}.end`, at: new Date(op.endedAt).toISOString(), operation: op.id, queue: op.queue, filter: op.filter,
      state, total: op.total, scanned: op.scanned, matched: op.matched, done: op.done, ms: op.endedAt - op.startedAt, cancelledBy: op.cancelledBy, error: op.error,
    };
    if (state === 'failed') this.log.error({ ...fields, err }, `overseer: dlq.${op.kind}.end`);
    else this.log.info(fields, `overseer: dlq.${op.kind}.end`);
    this.prune();
  }

  /** Drops finished operations older than KEEP_MS, then the oldest beyond KEEP_MAX (running ones are kept). */
  private prune(now = Date.now()): void {
    const finished = [...this.ops.values()].filter((e) => e.op.state !== 'running');
    let over = finished.length - KEEP_MAX;
    for (const e of finished) {
      if (over > 0 || now - e.op.endedAt! > KEEP_MS) {
        this.ops.delete(e.op.id);
        over--;
      }
    }
  }

  /** The operation running on the queue, if any. */
  private runningOn(queue: string): Operation | undefined {
    for (const e of this.ops.values()) if (e.op.queue === queue && e.op.state === 'running') return e.op;
    return undefined;
  }

  /** Recent operations, newest first. */
  list(): Operation[] {
    this.prune();
    return [...this.ops.values()].reverse().map((e) => copy(e.op));
  }

  get(id: string): Operation | undefined {
    this.prune();
    const e = this.ops.get(id);
    return e && copy(e.op);
  }

  /**
   * Cancels a running operation: it stops after its current call (at most one batch) and ends
   * 'cancelled'; answers it as it is then (waiting up to waitMs for it to end), or undefined
   * when there is no such operation. An ended one is answered as it is.
   */
  async cancel(id: string, who: string, waitMs = 2000): Promise<Operation | undefined> {
    const e = this.ops.get(id);
    if (!e) return undefined;
    if (e.op.state === 'running' && !e.stop.signal.aborted) {
      e.op.cancelledBy = who;
      this.log.info({ who, action: 'operation.cancel', at: new Date().toISOString(), operation: id, queue: e.op.queue, kind: e.op.kind }, 'overseer: operation.cancel');
      e.stop.abort();
      await within(e.finished, waitMs);
    }
    return copy(e.op);
  }

  /** Cancels every running operation and waits (up to waitMs) for them to end. */
  async close(waitMs = 5000): Promise<void> {
    this.closed = true;
    const running = [...this.ops.values()].filter((e) => e.op.state === 'running');
    for (const e of running) e.stop.abort();
    await within(Promise.all(running.map((e) => e.finished)), waitMs);
  }
}
