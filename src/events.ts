// The typed map of lifecycle events, and the in-process hub that fans them out to logs,
// metrics and the Redis event stream. One map, so every consumer sees the same shapes.

import { parseStorageName } from './shards/index.js';

export interface EventMap {
  'worker.started': { worker: string; queues: string[]; hostname: string; pid: number };
  'worker.stopped': { worker: string; queues: string[]; handedBack: number };
  'job.enqueued': { queue: string; id: string; task: string };
  'job.started': { queue: string; id: string; task: string; attempt: number; worker: string; pickupMs?: number };
  'job.completed': { queue: string; id: string; task: string; attempt: number; worker: string; durationMs: number };
  /** An attempt failed; `willRetry` tells whether job.retried follows. */
  'job.failed': { queue: string; id: string; task: string; attempt: number; worker: string; durationMs: number; error: string; willRetry: boolean };
  'job.retried': { queue: string; id: string; task: string; attempt: number; worker: string; delayMs: number; error: string };
  'job.dead': { queue: string; id: string; task: string; attempt: number; worker: string; reason: string; error: string };
  'job.aborted': { queue: string; id: string; task: string; worker: string };
}

export type EventType = keyof EventMap;

/** One event: its type, epoch ms, and its fields. */
export type MillraceEvent = { [K in EventType]: { type: K; at: number } & EventMap[K] }[EventType];
export type EventOf<K extends EventType> = Extract<MillraceEvent, { type: K }>;

type Listener = (event: MillraceEvent) => unknown;

/** Where a listener's failure goes: the hub's owner logs it; it never reaches the emitter. */
export type ListenerErrorHandler = (err: unknown, event: MillraceEvent) => void;

export class EventHub {
  private readonly typed = new Map<EventType, Set<Listener>>();
  private readonly any = new Set<Listener>();

  /**
   * Listeners are user code run inside a job's path: one that throws (or returns a promise that
   * rejects) must not strand the job or kill the worker, so its failure is handed here.
   */
  constructor(
    private onListenerError: ListenerErrorHandler = reportToStderr,
    /** The clock of the events' `at` (a memory broker's manual clock, in a worker on one). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Sets where listener failures go (the worker's logger). */
  onError(handler: ListenerErrorHandler): void {
    this.onListenerError = handler;
  }

  on<K extends EventType>(type: K, fn: (event: EventOf<K>) => unknown): () => void {
    let set = this.typed.get(type);
    if (!set) this.typed.set(type, (set = new Set()));
    set.add(fn as Listener);
    return () => set.delete(fn as Listener);
  }

  onAny(fn: (event: MillraceEvent) => unknown): () => void {
    this.any.add(fn);
    return () => this.any.delete(fn);
  }

  /** Whether anyone listens to events of this type (so the caller may skip building one). */
  wants(type: EventType): boolean {
    return this.any.size > 0 || (this.typed.get(type)?.size ?? 0) > 0;
  }

  /** Delivers a whole event built by the caller (the hot path: one object, a fixed shape). */
  send(event: MillraceEvent): void {
    const typed = this.typed.get(event.type);
    if (typed) for (const fn of typed) this.call(fn, event);
    for (const fn of this.any) this.call(fn, event);
  }

  emit<K extends EventType>(type: K, fields: EventMap[K]): void {
    if (!this.wants(type)) return;
    this.send({ type, at: this.now(), ...fields } as MillraceEvent);
  }

  private call(fn: Listener, event: MillraceEvent): void {
    try {
      const out = fn(event);
      if (out !== undefined && typeof (out as PromiseLike<unknown>)?.then === 'function') {
        (out as PromiseLike<unknown>).then(undefined, (err: unknown) => this.report(err, event));
      }
    } catch (err) {
      this.report(err, event);
    }
  }

  private report(err: unknown, event: MillraceEvent): void {
    try {
      this.onListenerError(err, event);
    } catch {
      // A failing error handler has nowhere left to report to.
    }
  }
}

function reportToStderr(err: unknown, event: MillraceEvent): void {
  process.stderr.write(`millrace: a listener of ${event.type} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

// ---- The stored form: a batch of events as compact rows ----
//
// A stream entry holds one batch: field `e` is a JSON array of rows [type, at, ...values] in
// the order of FIELDS below, without the queue (the stream is the queue's) and, for job
// events, without the worker when field `w` names it once for the whole batch. Rows are a
// third the size of objects and quicker to write and read. A row may also be an object (an
// event as is). A job.enqueued row with a count after the task stands for that many auto ids
// in a row ("ms-seq", "ms-seq+1", ...): the enqueue script writes a batch of one task so.

const FIELDS: { [K in EventType]: readonly (keyof EventMap[K])[] } = {
  'worker.started': ['worker', 'queues', 'hostname', 'pid'],
  'worker.stopped': ['worker', 'queues', 'handedBack'],
  'job.enqueued': ['id', 'task'],
  'job.started': ['id', 'task', 'attempt', 'pickupMs'],
  'job.completed': ['id', 'task', 'attempt', 'durationMs'],
  'job.failed': ['id', 'task', 'attempt', 'durationMs', 'error', 'willRetry'],
  'job.retried': ['id', 'task', 'attempt', 'delayMs', 'error'],
  'job.dead': ['id', 'task', 'attempt', 'reason', 'error'],
  'job.aborted': ['id', 'task'],
};

/** Rows of one queue's batch, and the worker they share (job events omit it). */
export function packEvents(events: readonly MillraceEvent[], worker: string): string {
  const rows: unknown[][] = [];
  for (const e of events) {
    const fields = FIELDS[e.type] as readonly string[];
    const row: unknown[] = [e.type, e.at];
    const rec = e as unknown as Record<string, unknown>;
    for (const f of fields) row.push(rec[f] ?? null);
    // A job event by another worker than the batch's (not written by millrace itself) keeps its own.
    if (fields[0] === 'id' && 'worker' in e && e.worker !== worker) row.push(e.worker);
    rows.push(row);
  }
  return JSON.stringify(rows);
}

/** The events of a stored batch, whole again; `undefined` when it is not a batch millrace wrote. */
export function unpackEvents(json: string, stream: string, worker: string | undefined): MillraceEvent[] | undefined {
  // A shard's stream ("hot#3/6") holds events of its queue ("hot").
  const queue = parseStorageName(stream).name;
  let batch: unknown;
  try {
    batch = JSON.parse(json);
  } catch {
    return undefined;
  }
  const out: MillraceEvent[] = [];
  for (const row of Array.isArray(batch) ? batch : [batch]) {
    if (!Array.isArray(row)) {
      out.push(row as MillraceEvent);
      continue;
    }
    const type = row[0] as EventType;
    const fields = FIELDS[type] as readonly string[] | undefined;
    if (!fields) continue;
    if (type === 'job.enqueued' && typeof row[4] === 'number') {
      // A run of consecutive auto ids ("ms-seq" onwards, by the shard count on a shard) enqueued together for one task.
      const [ms, seq] = String(row[2]).split('-');
      const step = typeof row[5] === 'number' ? row[5] : 1;
      for (let k = 0; k < row[4]; k++) out.push({ type, at: row[1] as number, queue, id: `${ms}-${Number(seq) + k * step}`, task: row[3] as string });
      continue;
    }
    const e: Record<string, unknown> = { type, at: row[1] };
    if (fields[0] === 'id') e.queue = queue;
    fields.forEach((f, i) => {
      const v = row[i + 2];
      if (v !== null && v !== undefined) e[f] = v;
    });
    if (fields[0] === 'id' && type !== 'job.enqueued') e.worker = row[fields.length + 2] ?? worker;
    out.push(e as unknown as MillraceEvent);
  }
  return out;
}
