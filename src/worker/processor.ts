// Runs a queue's delivered jobs under its concurrency limit, with their timeout and abort
// signal, and decides each outcome: complete, retry, dead-letter, or hand back.
//
// A delivered job is "held" from delivery until its outcome is recorded (or it is handed
// back): buffered while it waits for a slot, running while its handler runs, settling
// while its outcome is being written. The lease keeper renews every held job's lease.

import type { Logger } from 'pino';
import { decodeHeader, entryTime, verify, AUTO_ID, type Header } from '../envelope.js';
import { encodeCompleted, encodeResult, type FinalStatus, type ResultMeta } from '../results.js';
import { backoffDelay } from '../options.js';
import {
  BadJobError, JobAbortedError, JobTimeoutError, LeaseLostError, Retry, ShutdownError,
} from '../errors.js';
import { Acker } from './acker.js';
import { HeldList, type Linked } from './heldList.js';
import { AbortState, Context, type ContextShared } from './jobContext.js';
import type { EventHub } from '../events.js';
import { runTraced, type OtelApi } from '../tracing.js';
import type { Broker, Delivery, HeldLease, JobCounters } from '../broker/types.js';
import type { Queue, AnyTask } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { JobContext, Middleware } from '../types.js';
import type { ThreadPool } from './threads.js';

export interface ProcessorDeps {
  broker: Broker;
  queue: Queue<unknown>;
  consumer: string;
  concurrency: number;
  prefetch: number;
  serializer: Serializer;
  signingSecret: string | undefined;
  middleware: Middleware<unknown>[];
  deps: () => unknown;
  log: Logger;
  events: EventHub;
  /** OpenTelemetry, when installed: jobs run in a span under their enqueuer's trace. */
  otel: () => OtelApi | null;
  /** Called when a retry was scheduled this many ms ahead (the scheduler wakes for it). */
  onRetryScheduled(delayMs: number): void;
  /** Overrides the queue's deadLetter option for this worker (CLI --dlq / --no-dlq). */
  deadLetter?: boolean;
  /** The worker's pool for thread tasks. */
  threads?: ThreadPool;
}

export type ProcessorStats = JobCounters;

/**
 * Deaths from which a job is suspect: it died with a worker before this one. A suspect runs
 * alone, so a death it survives no more is its own, never a neighbour's.
 */
export function suspectAt(maxRecoveries: number): number {
  return Math.max(1, Math.min(2, maxRecoveries));
}

interface HeldJob extends Linked<HeldJob> {
  delivery: Delivery;
  id: string;
  header: Header;
  task: AnyTask;
  state: 'buffered' | 'running' | 'settling' | 'handback';
  abort?: AbortState;
  abortRequested: boolean;
  lost: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class Processor {
  private readonly held = new HeldList<HeldJob>();
  private readonly buffer: HeldJob[] = [];
  private running = 0;
  /** Held jobs whose outcome is decided and waiting in the acker: they free their slot at once. */
  private acking = 0;
  /** Outcomes being written (retries, dead letters); a stop waits for them. */
  private readonly settling = new Set<Promise<void>>();
  private accepting = true;
  private readonly acker: Acker;
  private roomWaiters: { need: number; resolve: () => void }[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly stats: Omit<ProcessorStats, 'running' | 'held'> = {
    processed: 0, completed: 0, failed: 0, retried: 0, aborted: 0, deadLettered: 0,
  };

  private readonly shared: ContextShared;
  /** The suspect job held alone (others handed back, no fetching) until it ends. */
  private isolated: HeldJob | undefined;
  private isolatedReady = false;
  /** Resolves once no fetch is in flight; set by the queue runner. */
  quiesceFetch: () => Promise<void> = () => Promise.resolve();
  /** Called when a suspect's run ended (the recoverer looks for the next one at once). */
  onIsolationEnd: () => void = () => undefined;

  constructor(private readonly d: ProcessorDeps) {
    this.acker = new Acker(d.broker, d.queue, d.consumer, d.log);
    this.shared = { broker: d.broker, queue: d.queue, log: d.log, workerId: d.consumer, deps: undefined, threads: d.threads };
  }

  get capacity(): number {
    return this.d.concurrency + this.d.prefetch;
  }

  /** How many more jobs this processor can hold now. */
  room(): number {
    if (!this.accepting || this.isolated) return 0;
    // A job whose outcome waits to be acknowledged takes no slot, so fetching overlaps the
    // acknowledgement's round trip; past one capacity's worth of them, they count again.
    const busy = this.held.size - this.acking + Math.max(0, this.acking - this.capacity);
    return Math.max(0, this.capacity - busy);
  }

  /** Whether this processor holds no job at all (the one to take a suspect first). */
  idle(): boolean {
    return this.held.size === 0;
  }

  /** Whether a suspect may be handed in now (even when full: it drains for it). */
  takesSuspect(): boolean {
    return this.accepting && !this.isolated;
  }

  buffered(): number {
    return this.buffer.length;
  }

  /** Resolves once room() >= need (or the processor stops accepting). */
  waitForRoom(need: number): Promise<void> {
    if (this.room() >= need || !this.accepting) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ need, resolve }));
  }

  getStats(): ProcessorStats {
    return { ...this.stats, running: this.running, held: this.held.size };
  }

  /**
   * Leases to renew: held jobs whose entry is still on the stream. Jobs whose outcome is being
   * written are left out: their entry may be acknowledged before a renewal reaches Redis.
   */
  leases(): HeldLease[] {
    const out: HeldLease[] = [];
    for (const job of this.held.values()) {
      if (job.delivery.entry !== '' && job.state !== 'settling') out.push({ delivery: job.delivery, id: job.id });
    }
    return out;
  }

  /** Takes delivered entries; bad ones go straight to the dead-letter stream. */
  accept(deliveries: Delivery[]): void {
    const giveBack: HeldJob[] = [];
    for (const delivery of deliveries) {
      // Only a reclaim delivers an entry again (with a higher delivery count than '1').
      const mine = delivery.token === '1' ? undefined : this.held.findLast((j) => j.delivery.entry === delivery.entry);
      if (mine) {
        // Reclaimed by this very worker (its loop was blocked past the idle timeout): the job
        // still runs here, so it keeps running under the new delivery count.
        mine.delivery = { ...mine.delivery, token: delivery.token };
        continue;
      }
      let header: Header;
      let task: AnyTask | undefined;
      let id = delivery.entry;
      try {
        header = decodeHeader(delivery.header);
        id = header.id || delivery.entry;
        if (delivery.data === undefined) throw new BadJobError('malformed', 'the entry has no data field');
        if (this.d.signingSecret) verify(this.d.signingSecret, header, delivery.data);
        task = this.d.queue.tasks.get(header.task);
        if (!task) {
          throw new BadJobError('unknown-task', `no task '${header.task}' in queue '${this.d.queue.name}' (known: ${[...this.d.queue.tasks.keys()].join(', ') || 'none'})`);
        }
      } catch (err) {
        void this.rejectBadJob(delivery, id, err as Error);
        continue;
      }
      const job: HeldJob = {
        delivery, id, header, task, state: 'buffered', abortRequested: false, lost: false, prev: undefined, next: undefined, listed: false,
      };
      this.held.add(job);
      if (!this.accepting) job.state = 'handback';
      else if (this.isolated) giveBack.push(job);
      else if ((delivery.deaths ?? 0) >= suspectAt(this.d.queue.options.maxRecoveries)) {
        // A suspect: buffered jobs go back to the queue, running ones finish, fetching stops
        // (room() is 0), and it starts once nothing else is held or being fetched.
        this.isolated = job;
        giveBack.push(...this.buffer.splice(0));
        this.buffer.push(job);
        void this.quiesceFetch().catch(() => undefined).then(() => {
          if (this.isolated !== job) return;
          this.isolatedReady = true;
          this.pump();
        });
      } else this.buffer.push(job);
    }
    if (giveBack.length) void this.giveBack(giveBack);
    this.pump();
  }

  /** Hands jobs straight back to the queue while a suspect runs alone (no attempt spent, no death counted). */
  private async giveBack(jobs: HeldJob[]): Promise<void> {
    for (const job of jobs) job.state = 'handback';
    const leases = jobs.filter((j) => !j.lost && j.delivery.entry !== '');
    try {
      if (leases.length) await this.d.broker.requeue(this.d.queue, this.d.consumer, leases.map((j) => ({ delivery: j.delivery, id: j.id })));
    } catch (err) {
      // They stay pending under this worker and are reclaimed after the idle timeout.
      this.d.log.warn({ err, jobs: leases.length }, 'could not hand jobs back for a suspect job');
    }
    for (const job of jobs) if (job.listed) this.release(job);
  }

  /** An abort was requested for a job this processor may hold. */
  requestAbort(id: string): void {
    const job = this.held.findLast((j) => j.id === id);
    if (!job || job.abortRequested) return;
    job.abortRequested = true;
    if (job.state === 'buffered') {
      this.unbuffer(job);
      void this.finish(job, 'aborted', { name: 'JobAbortedError', message: 'aborted before it started' }, undefined, job.header.attempt);
    } else if (job.state === 'running') {
      job.abort?.abort(new JobAbortedError(id));
    }
  }

  /** The lease keeper found these jobs' leases gone: another worker owns them now. */
  leaseLost(ids: string[]): void {
    for (const id of ids) {
      const job = this.held.findLast((j) => j.id === id);
      // A settling job's outcome is already on its way; the fence decides whether it counts.
      if (!job || job.state === 'settling') continue;
      job.lost = true;
      this.d.log.warn({ job: id }, 'lease lost; the job belongs to another worker now');
      if (job.state === 'running') job.abort?.abort(new LeaseLostError(id));
      else if (job.state === 'buffered' || job.state === 'handback') {
        this.unbuffer(job);
        this.release(job);
      }
    }
  }

  /** Stops starting jobs; running ones go on. */
  stopAccepting(): void {
    this.accepting = false;
    for (const job of this.buffer) job.state = 'handback';
    this.buffer.length = 0;
    for (const w of this.roomWaiters) w.resolve();
    this.roomWaiters = [];
  }

  /** Waits for running jobs up to `graceMs`, then aborts the rest for hand-back. */
  async drain(graceMs: number): Promise<void> {
    if (this.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.abortRunning();
    // Aborted handlers settle on the next turns of the event loop.
    while (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.allSettled([...this.settling]);
    await this.acker.drain();
  }

  /** Aborts running jobs for hand-back (the grace period is over, or a second signal came). */
  abortRunning(): void {
    for (const job of this.held.values()) {
      if (job.state === 'running') job.abort?.abort(new ShutdownError());
    }
  }

  /** Hands every job still held straight back to the queue, without spending an attempt. */
  async handBack(): Promise<number> {
    const leases = [...this.held.values()].filter((j) => j.state === 'handback' && !j.lost && j.delivery.entry !== '');
    let n = 0;
    for (let i = 0; i < leases.length; i += 500) {
      const chunk = leases.slice(i, i + 500);
      n += await this.d.broker.requeue(this.d.queue, this.d.consumer, chunk.map((j) => ({ delivery: j.delivery, id: j.id })));
    }
    for (const job of leases) this.release(job);
    return n;
  }

  private pump(): void {
    if (this.isolated) {
      const job = this.isolated;
      if (this.accepting && this.isolatedReady && this.held.size === 1 && this.buffer[0] === job) void this.run(this.buffer.shift()!);
      return;
    }
    while (this.accepting && this.running < this.d.concurrency && this.buffer.length > 0) {
      const job = this.buffer.shift()!;
      void this.run(job);
    }
  }

  private unbuffer(job: HeldJob): void {
    const i = this.buffer.indexOf(job);
    if (i >= 0) this.buffer.splice(i, 1);
  }

  /** Forgets a held job and lets the fetcher fill its place. */
  private release(job: HeldJob): void {
    this.held.remove(job);
    if (this.isolated === job) {
      this.isolated = undefined;
      this.isolatedReady = false;
      this.onIsolationEnd();
    } else if (this.isolated) this.pump();
    this.notifyRoom();
  }

  private notifyRoom(): void {
    if (this.roomWaiters.length === 0) return;
    const room = this.room();
    this.roomWaiters = this.roomWaiters.filter((w) => (room >= w.need ? (w.resolve(), false) : true));
  }

  private async run(job: HeldJob): Promise<void> {
    job.state = 'running';
    this.running++;
    const { header, task, delivery } = job;
    const attempt = header.attempt + 1;
    const startedAt = Date.now();
    let outcome: Outcome | undefined;
    try {
      // Expiry is on the server's clock, as the enqueuer set it: a skewed worker expires nothing early.
      if (header.opts.x !== undefined && (await this.d.broker.serverNow()) > header.opts.x) {
        this.d.events.emit('job.failed', { ...this.about(job), attempt, durationMs: 0, error: 'JobExpiredError: expired before it could start', willRetry: false });
        await this.finish(job, 'expired', { name: 'JobExpiredError', message: 'expired before it could start', reason: 'expired' }, undefined, header.attempt);
        return;
      }
      let args: unknown[];
      try {
        const decoded = this.d.serializer.decode(delivery.data!);
        if (!Array.isArray(decoded)) throw new Error('the arguments are not a list');
        args = decoded;
      } catch (err) {
        await this.rejectBadJob(delivery, job.id, new BadJobError('undecodable', (err as Error).message), job);
        return;
      }
      if (task.options.atMostOnce) {
        if (!(await this.d.broker.take(this.d.queue, this.d.consumer, { delivery, id: job.id }))) {
          job.lost = true;
          return;
        }
        job.delivery = { ...delivery, entry: '' };
      }
      const enqueuedAt = header.opts.q ?? (job.id === delivery.entry || AUTO_ID.test(job.id) ? entryTime(job.id) : undefined);
      if (this.d.events.wants('job.started')) {
        this.d.events.send({ type: 'job.started', at: startedAt, queue: this.d.queue.name, id: job.id, task: task.name, attempt, worker: this.d.consumer, pickupMs: enqueuedAt === undefined ? undefined : startedAt - enqueuedAt });
      }
      const abort = new AbortState();
      job.abort = abort;
      this.shared.deps = this.d.deps();
      const timeout = header.opts.t ?? task.options.timeout;
      const timer = setTimeout(() => abort.abort(new JobTimeoutError(timeout)), timeout);
      const ctx = new Context(this.shared, abort, job.id, task.name, attempt, header.opts.m ?? task.options.maxTries, enqueuedAt, task.options.resultTtl);
      try {
        const otel = header.opts.c ? this.d.otel() : null;
        const running = otel
          ? runTraced(otel, header.opts.c!, `${this.d.queue.name} process`, { 'messaging.system': 'millrace', 'messaging.destination.name': this.d.queue.name, 'millrace.task': task.name, 'millrace.job_id': job.id, 'millrace.attempt': attempt }, () => this.execute(task, ctx, args))
          : this.execute(task, ctx, args);
        outcome = { ok: true, value: await abort.race(running) };
      } catch (error) {
        outcome = { ok: false, error: abort.aborted ? abort.reason : error };
      } finally {
        clearTimeout(timer);
      }
    } finally {
      this.running--;
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      if (outcome === undefined && job.state === 'running') this.release(job);
      this.pump();
    }
    if (outcome?.ok) {
      // Completed: recorded through the acker without a promise (a stop waits on the acker).
      job.state = 'settling';
      this.stats.processed++;
      this.stats.completed++;
      if (this.d.events.wants('job.completed')) {
        const at = Date.now();
        this.d.events.send({ type: 'job.completed', at, queue: this.d.queue.name, id: job.id, task: task.name, attempt, worker: this.d.consumer, durationMs: at - startedAt });
      }
      this.record(job, 'completed', undefined, this.d.serializer.encode(outcome.value), attempt, startedAt);
    } else if (outcome) {
      const settling = this.settle(job, attempt, startedAt, outcome);
      this.settling.add(settling);
      await settling.finally(() => this.settling.delete(settling));
    }
  }

  private about(job: HeldJob): { queue: string; id: string; task: string; worker: string } {
    return { queue: this.d.queue.name, id: job.id, task: job.task.name, worker: this.d.consumer };
  }

  private execute(task: AnyTask, ctx: JobContext<unknown>, args: unknown[]): Promise<unknown> {
    const wrappers = (this.executeMiddleware ??= this.d.middleware.filter((mw) => mw.execute !== undefined));
    if (wrappers.length === 0) return callHandler(task, ctx, args);
    let next = () => callHandler(task, ctx, args);
    for (let i = wrappers.length - 1; i >= 0; i--) {
      const mw = wrappers[i]!;
      const inner = next;
      next = () => mw.execute!(ctx, inner);
    }
    return next();
  }

  /** The execution middleware, outermost first (the list is fixed once the worker runs). */
  private executeMiddleware: Middleware<unknown>[] | undefined;


  /** Decides what a failed attempt leads to (completions are recorded in run()). */
  private async settle(job: HeldJob, attempt: number, startedAt: number, outcome: { ok: false; error: unknown }): Promise<void> {
    job.state = 'settling';
    this.stats.processed++;
    const durationMs = Date.now() - startedAt;
    const error = outcome.error;
    if (job.lost || error instanceof LeaseLostError) {
      this.release(job);
      return;
    }
    if (error instanceof ShutdownError) {
      if (job.delivery.entry !== '') {
        job.state = 'handback';
        return;
      }
      // An at-most-once job already left the stream: it must not run again by itself, so an
      // operator decides from the dead-letter queue.
      this.stats.failed++;
      await this.deadLetter(job, asError(error), 'interrupted', attempt, startedAt);
      return;
    }
    // An abort was asked for: however the handler ended, the job is not retried.
    if (error instanceof JobAbortedError || job.abortRequested) {
      this.stats.aborted++;
      this.d.events.emit('job.aborted', this.about(job));
      await this.finish(job, 'aborted', describe(error, 'aborted'), undefined, attempt, startedAt);
      return;
    }
    const { options } = job.task;
    const maxTries = job.header.opts.m ?? options.maxTries;
    const err = asError(error);
    const timedOut = error instanceof JobTimeoutError;
    const failed = { ...this.about(job), attempt, durationMs, error: `${err.name}: ${err.message}` };
    if (!timedOut && options.ignoreOn.some((cls) => error instanceof cls)) {
      this.stats.failed++;
      this.d.events.emit('job.failed', { ...failed, willRetry: false });
      await this.finish(job, 'failed', describe(err, 'ignored'), undefined, attempt, startedAt);
      return;
    }
    const retryable = error instanceof Retry || timedOut || !options.retryOn || options.retryOn.some((cls) => error instanceof cls);
    if (retryable && attempt < maxTries && !options.atMostOnce) {
      const delay = error instanceof Retry ? error.delay : backoffDelay(options.backoff, attempt);
      this.stats.retried++;
      this.d.events.emit('job.failed', { ...failed, willRetry: true });
      const ok = await this.d.broker.retry(this.d.queue, this.d.consumer, { delivery: job.delivery, id: job.id }, attempt, delay, failed.error);
      if (ok) {
        this.d.onRetryScheduled(delay);
        this.d.events.emit('job.retried', { ...this.about(job), attempt, delayMs: Math.round(delay), error: failed.error });
      }
      this.release(job);
      return;
    }
    const reason = timedOut ? 'timeout' : !retryable ? 'not-retryable' : options.atMostOnce ? 'at-most-once' : 'max-tries';
    this.stats.failed++;
    this.d.events.emit('job.failed', { ...failed, willRetry: false });
    await this.deadLetter(job, err, reason, attempt, startedAt);
  }

  /** Records a final outcome without dead-lettering (batched with other completions). */
  private finish(job: HeldJob, status: FinalStatus, meta: ResultMeta, value: string | Buffer | undefined, attempts: number, startedAt?: number): Promise<void> {
    return new Promise((resolve) => this.record(job, status, meta, value, attempts, startedAt, resolve));
  }

  /**
   * finish() without a promise: the acker calls back once the outcome is written (this runs
   * once per completed job, so it allocates as little as it can).
   */
  private record(job: HeldJob, status: FinalStatus, meta: ResultMeta | undefined, value: string | Buffer | undefined, attempts: number, startedAt: number | undefined, then?: () => void): void {
    job.state = 'settling';
    const record = status === 'completed'
      ? encodeCompleted(this.json(job.task.name), attempts, startedAt, Date.now(), this.json(this.d.consumer), value)
      : encodeResult(status, { ...meta, task: job.task.name, attempts, startedAt, finishedAt: Date.now(), worker: this.d.consumer }, value);
    const hasRecord = job.header.id !== '' || job.delivery.entry === '';
    this.acking++;
    this.acker.push({
      delivery: job.delivery, id: job.id, record, ttl: job.task.options.resultTtl, hasRecord, abortRequested: job.abortRequested,
    }, (recorded) => {
      this.acking--;
      if (!recorded) this.d.log.warn({ job: job.id }, 'outcome refused: the lease was lost and another worker owns the job');
      this.release(job);
      then?.();
    });
    this.notifyRoom();
  }

  /** JSON of a task or worker name, made once per name. */
  private json(name: string): string {
    let out = this.jsonNames.get(name);
    if (out === undefined) this.jsonNames.set(name, (out = JSON.stringify(name)));
    return out;
  }

  private readonly jsonNames = new Map<string, string>();

  private async deadLetter(job: HeldJob, err: Error, reason: string, attempts: number, startedAt: number): Promise<void> {
    const meta = { ...describe(err, reason), task: job.task.name, attempts, startedAt, finishedAt: Date.now(), worker: this.d.consumer };
    const recorded = await this.d.broker.deadLetter(this.d.queue, this.d.consumer, {
      delivery: job.delivery, id: job.id, reason, error: `${err.name}: ${err.message}`, stack: err.stack ?? '', attempts,
      worker: this.d.consumer, record: encodeResult('failed', meta), ttl: job.task.options.resultTtl, useDlq: this.d.deadLetter ?? this.d.queue.options.deadLetter,
    });
    if (recorded) {
      this.stats.deadLettered++;
      this.d.events.emit('job.dead', { ...this.about(job), attempt: attempts, reason, error: `${err.name}: ${err.message}` });
    }
    this.release(job);
  }

  /** A job that cannot be trusted or run goes to the dead-letter stream, never executed. */
  private async rejectBadJob(delivery: Delivery, id: string, err: Error, job?: HeldJob): Promise<void> {
    const reason = err instanceof BadJobError ? err.reason : 'malformed';
    this.stats.deadLettered++;
    this.d.events.emit('job.dead', {
      queue: this.d.queue.name, id, task: job?.task.name ?? taskOf(delivery), attempt: 0, worker: this.d.consumer, reason, error: `${err.name}: ${err.message}`,
    });
    try {
      await this.d.broker.deadLetter(this.d.queue, this.d.consumer, {
        delivery, id, reason, error: `${err.name}: ${err.message}`, stack: '', attempts: 0, worker: this.d.consumer,
        record: encodeResult('failed', { ...describe(err, reason), finishedAt: Date.now(), worker: this.d.consumer }),
        ttl: this.d.queue.options.resultTtl, useDlq: true,
      });
    } catch (e) {
      this.d.log.error({ err: e, job: id }, 'could not dead-letter a bad job; it stays pending and will be reclaimed');
    }
    if (job) this.release(job);
  }
}

/** Runs a handler as a promise, whether it is async, returns a value, or throws. */
function callHandler(task: AnyTask, ctx: JobContext<unknown>, args: unknown[]): Promise<unknown> {
  try {
    return Promise.resolve(task.handler(ctx, ...args));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The task name a header claims, or '' when it has none. */
function taskOf(delivery: Delivery): string {
  const h = delivery.header === undefined ? '' : String(delivery.header);
  const a = h.indexOf('|');
  return a < 0 ? '' : h.slice(a + 1, Math.max(a + 1, h.indexOf('|', a + 1)));
}

function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : `non-error thrown: ${JSON.stringify(e)}`);
}

function describe(e: unknown, reason: string): ResultMeta {
  const err = asError(e);
  return { name: err.name, message: err.message, stack: err.stack, reason };
}
