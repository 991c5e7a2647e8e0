// Runs a queue's delivered jobs under its concurrency limit, with their timeout and abort
// signal, and hands each outcome to the settler: complete, retry, dead-letter, or hand back.
//
// A delivered job is "held" from delivery until its outcome is recorded (or it is handed
// back): buffered while it waits for a slot, running while its handler runs, settling
// while its outcome is being written. The lease keeper renews every held job's lease.
//
// A job's life is one supervised promise (start()): whatever fails in it, the handler, the
// serializer, a user's listener or a Redis write, ends as an outcome or a write retried until
// Redis takes it, never as an unhandled rejection and never as a job nobody owns.

import type { Logger } from 'pino';
import { decodeHeader, verify, type Header } from '../envelope.js';
import { BadJobError, JobAbortedError, LeaseLostError, ShutdownError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { OtelApi } from '../tracing.js';
import type { Broker, Delivery, Durability, HeldLease, JobCounters } from '../broker/types.js';
import { clockOf, type Clock } from '../memory/clock.js';
import type { Queue, AnyTask } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { Middleware } from '../types.js';
import type { ThreadPool } from './threads.js';
import { HeldList } from './heldList.js';
import { Attempts, type HeldJob, type Outcome } from './attempt.js';
import { Settler, type NodeSettler } from './settle.js';
import { GAVE_UP, Persistence } from './persist.js';
import type { ContextShared } from './jobContext.js';
import type { PoolMember, SlotPool } from './slotPool.js';

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
  /** Outcome writes wait for this durability (durability.outcomes of the queue or app). */
  durability?: Durability;
  /** The worker's pool for thread tasks. */
  threads?: ThreadPool;
  /** Where workflow nodes' outcomes are settled (src/workflow). */
  workflows?: () => NodeSettler;
  /** The limit shared with the other shards of a sharded queue (concurrency and capacity are then the pool's). */
  pool?: SlotPool;
}

export type ProcessorStats = JobCounters;

/** How long a stopping worker keeps trying to write outcomes once its handlers are done. */
const WRITE_GRACE_MS = 5000;

/**
 * Deaths from which a job is suspect: it died with a worker before this one. A suspect runs
 * alone, so a death it survives no more is its own, never a neighbour's.
 */
export function suspectAt(maxRecoveries: number): number {
  return Math.max(1, Math.min(2, maxRecoveries));
}

export class Processor implements PoolMember {
  private readonly held = new HeldList<HeldJob>();
  private readonly buffer: HeldJob[] = [];
  private running = 0;
  /** Outcomes being written (retries, dead letters, bad jobs); a stop waits for them. */
  private readonly settling = new Set<Promise<void>>();
  private accepting = true;
  private roomWaiters: { need: number; resolve: () => void }[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly persistence: Persistence;
  private readonly attempts: Attempts;
  private readonly settler: Settler;

  /** The suspect job held alone (others handed back, no fetching) until it ends. */
  private isolated: HeldJob | undefined;
  private isolatedReady = false;
  /** Resolves once no fetch is in flight; set by the queue runner. */
  quiesceFetch: () => Promise<void> = () => Promise.resolve();
  /** Called when a suspect's run ended (the recoverer looks for the next one at once). */
  onIsolationEnd: () => void = () => undefined;
  /** Called after a job left the held list (its outcome recorded, or given up). */
  onRelease: () => void = () => undefined;

  private readonly clock: Clock;

  constructor(private readonly d: ProcessorDeps) {
    this.clock = clockOf(d.broker);
    this.persistence = new Persistence(d.log);
    const shared: ContextShared = { broker: d.broker, queue: d.queue, log: d.log, workerId: d.consumer, deps: undefined, threads: d.threads };
    this.attempts = new Attempts({
      broker: d.broker, queue: d.queue, consumer: d.consumer, serializer: d.serializer, middleware: d.middleware,
      deps: d.deps, events: d.events, otel: d.otel, persistence: this.persistence, shared,
    });
    this.settler = new Settler({
      broker: d.broker, queue: d.queue, consumer: d.consumer, events: d.events, log: d.log, persistence: this.persistence,
      deadLetter: d.deadLetter, durability: d.durability, onRetryScheduled: d.onRetryScheduled, workflows: d.workflows,
      release: (job) => this.release(job), roomChanged: () => this.notifyRoom(),
    });
    d.pool?.join(this);
  }

  get capacity(): number {
    return this.d.pool ? this.d.pool.capacity : this.d.concurrency + this.d.prefetch;
  }

  /** The most jobs one fetch asks for: the capacity, or a shard's share of its queue's. */
  fetchWindow(): number {
    return this.d.pool ? this.d.pool.share() : this.capacity;
  }

  /** Whether this processor shares its limit with other shards of its queue. */
  get pooled(): boolean {
    return this.d.pool !== undefined;
  }

  /** How many more jobs this processor can hold now. */
  room(): number {
    if (!this.accepting) return 0;
    if (this.d.pool) return this.d.pool.room();
    if (this.isolated) return 0;
    return Math.max(0, this.capacity - this.busy());
  }

  /** Held jobs that take room: a job whose outcome waits to be acknowledged takes no slot, so
   * fetching overlaps the acknowledgement's round trip; past one capacity's worth of them, they count again. */
  busy(): number {
    const acking = this.settler.acking;
    return this.held.size - acking + Math.max(0, acking - this.capacity);
  }

  /** A pooled processor's room for a fetch of up to `want` jobs, in its turn among the shards, reserved until unreserve(). */
  acquire(need: number, want: number): Promise<number> {
    return this.accepting && this.d.pool ? this.d.pool.acquire(this, Math.min(need, this.d.pool.capacity), want) : Promise.resolve(0);
  }

  unreserve(n: number): void {
    this.d.pool?.release(n);
  }

  get runningCount(): number {
    return this.running;
  }

  get heldCount(): number {
    return this.held.size;
  }

  get isolating(): boolean {
    return this.isolated !== undefined;
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

  /** Jobs buffered over all the shards of its queue (its own when not sharded). */
  poolBuffered(): number {
    return this.d.pool ? this.d.pool.buffered() : this.buffer.length;
  }

  /** Whether this processor holds the entry (by level and entry id). */
  holdsEntry(level: number, entry: string): boolean {
    return this.held.findLast((j) => j.delivery.entry === entry && j.delivery.level === level) !== undefined;
  }

  /** Resolves once room() >= need (or the processor stops accepting). */
  waitForRoom(need: number): Promise<void> {
    if (this.room() >= need || !this.accepting) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ need, resolve }));
  }

  getStats(): ProcessorStats {
    return { ...this.settler.stats, running: this.running, held: this.held.size };
  }

  /**
   * Leases to renew: held jobs whose entry is still on the stream, including those whose
   * outcome is being written (a write retried through an outage must not lose its lease).
   */
  leases(): HeldLease[] {
    const out: HeldLease[] = [];
    for (const job of this.held.values()) {
      if (job.delivery.entry !== '') out.push({ delivery: job.delivery, id: job.id });
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
        // Reclaimed back by this very worker while its first run still goes on: the job
        // keeps running here under the new delivery count.
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
        this.track(this.settler.rejectBadJob(delivery, id, err));
        continue;
      }
      const job: HeldJob = {
        delivery, id, header, task, state: 'buffered', abortRequested: false, lost: false, prev: undefined, next: undefined, listed: false,
      };
      this.held.add(job);
      if (!this.accepting) job.state = 'handback';
      else if (this.isolated || this.othersIsolating()) giveBack.push(job);
      else if ((delivery.deaths ?? 0) >= suspectAt(this.d.queue.options.maxRecoveries)) {
        // A suspect: buffered jobs go back to the queue, running ones finish, fetching stops
        // (room() is 0), and it starts once nothing else is held or being fetched.
        this.isolated = job;
        giveBack.push(...this.buffer.splice(0));
        this.buffer.push(job);
        const quiet = this.d.pool ? this.d.pool.isolate(this) : this.quiesceFetch();
        void quiet.catch(() => undefined).then(() => {
          if (this.isolated !== job) return;
          this.isolatedReady = true;
          this.pump();
        });
      } else this.buffer.push(job);
    }
    if (giveBack.length) this.track(this.giveBack(giveBack));
    this.pump();
  }

  /** Hands jobs straight back to the queue while a suspect runs alone (no attempt spent, no death counted). */
  private async giveBack(jobs: HeldJob[]): Promise<void> {
    for (const job of jobs) job.state = 'handback';
    const leases = jobs.filter((j) => !j.lost && j.delivery.entry !== '');
    try {
      if (leases.length) await this.d.broker.requeue(this.d.queue, this.d.consumer, leases.map((j) => ({ delivery: j.delivery, id: j.id })), this.d.queue.resultTtl);
    } catch (err) {
      // They stay pending under this worker, and its recoverer takes them again after the idle timeout.
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
      this.track(this.settler.aborted(job, { name: 'JobAbortedError', message: 'aborted before it started', reason: 'aborted' }, job.header.attempt));
    } else if (job.state === 'running') {
      // Before the handler started (clock read, at-most-once take), the attempt sees the flag.
      job.abort?.abort(new JobAbortedError(id));
    }
    // A settling job: the outcome scripts see the abort request in Redis (retry.lua ends it aborted).
  }

  /**
   * The lease keeper found these leases gone: another worker owns the jobs now. A job whose
   * lease changed since the renewal was sent (an at-most-once job taken off its stream
   * meanwhile) is not concerned.
   */
  leaseLost(lost: HeldLease[]): void {
    for (const lease of lost) {
      const id = lease.id;
      const job = this.held.findLast((j) => j.id === id);
      // A settling job's outcome is already on its way; the fence decides whether it counts.
      if (!job || job.state === 'settling') continue;
      if (job.delivery.entry !== lease.delivery.entry || job.delivery.token !== lease.delivery.token) continue;
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
    this.d.pool?.cancel(this);
    for (const job of this.buffer) job.state = 'handback';
    this.buffer.length = 0;
    for (const w of this.roomWaiters) w.resolve();
    this.roomWaiters = [];
  }

  /**
   * Waits for running jobs up to `graceMs`, then aborts the rest for hand-back, and waits for
   * outcomes to be written: at most WRITE_GRACE_MS more when Redis does not take them.
   */
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
    this.persistence.giveUpAt(Date.now() + WRITE_GRACE_MS);
    await Promise.allSettled([...this.settling]);
    await this.settler.drain();
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
      const out = await this.persistence.write('handing jobs back', () => true, () => this.d.broker.requeue(this.d.queue, this.d.consumer, chunk.map((j) => ({ delivery: j.delivery, id: j.id })), this.d.queue.resultTtl));
      if (out !== GAVE_UP) n += out;
    }
    for (const job of [...this.held.values()]) this.release(job);
    return n;
  }

  private pump(): void {
    if (this.d.pool) return this.d.pool.pump();
    if (this.isolated) {
      this.startIsolated(0);
      return;
    }
    while (this.accepting && this.running < this.d.concurrency && this.buffer.length > 0) {
      this.start(this.buffer.shift()!);
    }
  }

  /** Whether another shard of the queue holds a suspect that runs alone. */
  private othersIsolating(): boolean {
    const alone = this.d.pool?.isolating();
    return alone !== undefined && alone !== this;
  }

  startNext(): boolean {
    if (!this.accepting || this.isolated || this.buffer.length === 0) return false;
    this.start(this.buffer.shift()!);
    return true;
  }

  startIsolated(othersHeld: number): boolean {
    const job = this.isolated;
    if (!job) return false;
    if (this.accepting && this.isolatedReady && othersHeld === 0 && this.held.size === 1 && this.buffer[0] === job) this.start(this.buffer.shift()!);
    return true;
  }

  yieldBuffer(): void {
    if (this.buffer.length > 0) this.track(this.giveBack(this.buffer.splice(0)));
  }

  /**
   * A job's whole life, supervised: nothing that fails in it escapes. (One then() on the
   * attempt, not an async wrapper: this runs once per job, and every promise hop shows.)
   */
  private start(job: HeldJob): void {
    job.state = 'running';
    this.running++;
    const attempt = job.header.attempt + 1;
    const startedAt = this.clock.now();
    this.attempts.run(job, attempt, startedAt).then(
      (outcome) => this.ended(job, attempt, startedAt, outcome, undefined),
      (err: unknown) => this.ended(job, attempt, startedAt, undefined, err),
    );
  }

  /** The attempt is over (an Outcome, or a millrace bug as `err`): free its slot and settle it. */
  private ended(job: HeldJob, attempt: number, startedAt: number, outcome: Outcome | undefined, err: unknown): void {
    try {
      this.running--;
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      this.pump();
      if (outcome === undefined) throw err;
      const settled = this.settler.settle(job, attempt, startedAt, outcome);
      if (settled) this.track(settled);
    } catch (failure) {
      // A bug in millrace itself: the job stays pending in Redis and runs again after the idle timeout.
      try {
        this.d.log.error({ err: failure, job: job.id }, 'internal error while handling a job; it stays pending and runs again after the idle timeout');
        if (job.listed) this.release(job);
      } catch {
        // Nothing is left to report to; the job is reclaimed after the idle timeout.
      }
    }
  }

  /** Keeps an outcome write in the set a stop waits for, until it ends. */
  private track(p: Promise<void>): void {
    this.settling.add(p);
    p.then(() => this.settling.delete(p), (err: unknown) => {
      this.settling.delete(p);
      this.d.log.error({ err }, 'internal error while recording a job outcome');
    });
  }

  private unbuffer(job: HeldJob): void {
    const i = this.buffer.indexOf(job);
    if (i >= 0) this.buffer.splice(i, 1);
  }

  /** Forgets a held job and lets the fetcher fill its place. */
  private release(job: HeldJob): void {
    if (!job.listed) return;
    this.held.remove(job);
    if (this.isolated === job) {
      this.isolated = undefined;
      this.isolatedReady = false;
      this.onIsolationEnd();
      // The other shards' buffered jobs were handed back: they fetch again.
      this.d.pool?.pump();
    } else if (this.isolated || this.d.pool) this.pump();
    this.notifyRoom();
    this.onRelease();
  }

  private notifyRoom(): void {
    if (this.d.pool) this.d.pool.roomChanged();
    else this.roomChangedOwn();
  }

  roomChangedOwn(): void {
    if (this.roomWaiters.length === 0) return;
    const room = this.room();
    this.roomWaiters = this.roomWaiters.filter((w) => (room >= w.need ? (w.resolve(), false) : true));
  }
}
