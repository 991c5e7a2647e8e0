// Runs one attempt of a held job: its expiry check on the server's clock, decoding its
// arguments, taking an at-most-once job off its stream, then the handler (through the
// execution middleware, and in a span when the enqueuer traced) under its timeout and abort
// signal, and encoding its result. Whatever happens is answered as an Outcome, never thrown:
// settle.ts turns every outcome into a recorded one.

import { AUTO_ID, entryTime, type Header } from '../envelope.js';
import { BadJobError, errorFacts, JobAbortedError, JobTimeoutError, ResultEncodingError } from '../errors.js';
import type { EventHub } from '../events.js';
import { clockOf } from '../memory/clock.js';
import { runTraced, type OtelApi } from '../tracing.js';
import type { Broker, Delivery } from '../broker/types.js';
import type { AnyTask, Queue } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { JobContext, Middleware } from '../types.js';
import type { Linked } from './heldList.js';
import { AbortState, Context, type ContextShared } from './jobContext.js';
import { GAVE_UP, type Persistence } from './persist.js';

/** A job a worker holds, from delivery until its outcome is recorded or it is handed back. */
export interface HeldJob extends Linked<HeldJob> {
  delivery: Delivery;
  id: string;
  header: Header;
  task: AnyTask;
  state: 'buffered' | 'running' | 'settling' | 'handback';
  abort?: AbortState;
  abortRequested: boolean;
  lost: boolean;
}

export type Outcome =
  | { kind: 'done'; value: string | Buffer }
  | { kind: 'failed'; error: unknown }
  | { kind: 'expired' }
  | { kind: 'bad'; error: BadJobError }
  /** No longer this worker's (its lease was lost, or an at-most-once take was refused): nothing to record. */
  | { kind: 'gone' }
  /** The worker stopped before the attempt could start: hand it back. */
  | { kind: 'handback' };

const EXPIRED: Outcome = { kind: 'expired' };
const GONE: Outcome = { kind: 'gone' };
const HANDBACK: Outcome = { kind: 'handback' };

export interface AttemptDeps {
  broker: Broker;
  queue: Queue<unknown>;
  consumer: string;
  serializer: Serializer;
  middleware: Middleware<unknown>[];
  deps: () => unknown;
  events: EventHub;
  otel: () => OtelApi | null;
  persistence: Persistence;
  shared: ContextShared;
}

export class Attempts {
  /** The execution middleware, outermost first (the list is fixed once the worker runs). */
  private executeMiddleware: Middleware<unknown>[] | undefined;

  constructor(private readonly d: AttemptDeps) {}

  /** The job's enqueue time, when its header or id tells it. */
  static enqueuedAt(job: HeldJob): number | undefined {
    return job.header.opts.q ?? (job.id === job.delivery.entry || AUTO_ID.test(job.id) ? entryTime(job.id) : undefined);
  }

  async run(job: HeldJob, attempt: number, startedAt: number): Promise<Outcome> {
    const { header, task } = job;
    const stillMine = () => !job.lost;
    // Expiry is on the server's clock, as the enqueuer set it: a skewed worker expires nothing early.
    if (header.opts.x !== undefined) {
      const now = await this.d.persistence.write('reading the Redis server clock', stillMine, () => this.d.broker.serverNow());
      if (now === GAVE_UP) return job.lost ? GONE : HANDBACK;
      if (now > header.opts.x) return EXPIRED;
    }
    let args: unknown[];
    try {
      const decoded = this.d.serializer.decode(job.delivery.data!);
      if (!Array.isArray(decoded)) throw new Error('the arguments are not a list');
      args = decoded;
    } catch (err) {
      return { kind: 'bad', error: new BadJobError('undecodable', errorFacts(err).message) };
    }
    if (task.options.atMostOnce) {
      const taken = await this.d.persistence.write('taking an at-most-once job', stillMine, () => this.d.broker.take(this.d.queue, this.d.consumer, { delivery: job.delivery, id: job.id }));
      if (taken === GAVE_UP) return job.lost ? GONE : HANDBACK;
      if (!taken) {
        job.lost = true;
        return GONE;
      }
      // Taken: it is this worker's alone now, whatever a renewal sent before said of its entry.
      job.delivery = { ...job.delivery, entry: '' };
      job.lost = false;
    }
    if (job.lost) return GONE;
    const enqueuedAt = Attempts.enqueuedAt(job);
    if (this.d.events.wants('job.started')) {
      this.d.events.send({ type: 'job.started', at: startedAt, queue: this.d.queue.name, id: job.id, task: task.name, attempt, worker: this.d.consumer, pickupMs: enqueuedAt === undefined ? undefined : startedAt - enqueuedAt });
    }
    const abort = new AbortState();
    job.abort = abort;
    // An abort asked for while the clock was read or the job taken is not lost.
    if (job.abortRequested) abort.abort(new JobAbortedError(job.id));
    this.d.shared.deps = this.d.deps();
    const timeout = header.opts.t ?? task.options.timeout;
    const cancelTimeout = clockOf(this.d.broker).timer(timeout, () => abort.abort(new JobTimeoutError(timeout)));
    const ctx = new Context(this.d.shared, abort, job.id, task.name, attempt, header.opts.m ?? task.options.maxTries, enqueuedAt, task.options.resultTtl, header.opts.g);
    try {
      const otel = header.opts.c ? this.d.otel() : null;
      const running = otel
        ? runTraced(otel, header.opts.c!, `${this.d.queue.name} process`, { 'messaging.system': 'millrace', 'messaging.destination.name': this.d.queue.name, 'millrace.task': task.name, 'millrace.job_id': job.id, 'millrace.attempt': attempt }, () => this.execute(task, ctx, args))
        : this.execute(task, ctx, args);
      const value = await abort.race(running);
      try {
        return { kind: 'done', value: this.d.serializer.encode(value) };
      } catch (err) {
        // A result the serializer cannot encode (a BigInt under JSON, a cycle) fails the attempt.
        return { kind: 'failed', error: new ResultEncodingError(err) };
      }
    } catch (error) {
      return { kind: 'failed', error: abort.aborted ? abort.reason : error };
    } finally {
      cancelTimeout();
    }
  }

  private execute(task: AnyTask, ctx: JobContext<unknown>, args: unknown[]): Promise<unknown> {
    const wrappers = (this.executeMiddleware ??= this.d.middleware.filter((mw) => mw.execute !== undefined));
    if (wrappers.length === 0) return callHandler(task, ctx, args);
    let next = () => callHandler(task, ctx, args);
    for (let i = wrappers.length - 1; i >= 0; i--) {
      const mw = wrappers[i]!;
      const inner = next;
      next = () => Promise.resolve(mw.execute!(ctx, inner));
    }
    return next();
  }
}

/** Runs a handler (or a middleware chain) as a promise, whether it is async, returns a value, or throws. */
function callHandler(task: AnyTask, ctx: JobContext<unknown>, args: unknown[]): Promise<unknown> {
  try {
    return Promise.resolve(task.handler(ctx, ...args));
  } catch (err) {
    return Promise.reject(err);
  }
}
