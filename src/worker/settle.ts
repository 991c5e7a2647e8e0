// Turns an attempt's outcome into the job's recorded outcome: completed (batched through the
// acker), retried with backoff, dead-lettered, aborted, expired, or left to the worker that
// owns the job now. Every write is retried until Redis takes it (persist.ts); nothing here
// rejects, so a failing write can neither kill the worker nor leave a job without an owner.

import type { Logger } from 'pino';
import { encodeCompleted, encodeResult, type FinalStatus, type JobFacts, type ResultMeta } from '../results.js';
import { backoffDelay, type ErrorClass } from '../options.js';
import {
  BadJobError, errorFacts, JobAbortedError, JobTimeoutError, LeaseLostError, RateLimited, Retry, ShutdownError, type ErrorFacts,
} from '../errors.js';
import type { EventHub } from '../events.js';
import type { Broker, Delivery, Durability, DurableWrites, JobCounters, NodeNote } from '../broker/types.js';
import { clockOf, type Clock } from '../memory/clock.js';
import type { Queue } from '../registry.js';
import { Acker, type AckResult } from './acker.js';
import type { HeldJob, Outcome } from './attempt.js';
import { GAVE_UP, type Persistence } from './persist.js';
import { nodeFailure } from '../workflow/notes.js';

/** Settles workflow nodes' outcomes in their workflows (src/workflow/runner.ts: Workflows). */
export interface NodeSettler {
  settleNode(place: readonly [string, number, number], outcome: 'ok' | 'fail', value: string | Buffer, reason?: string): Promise<unknown>;
  /** Settles what notes say (Broker.nodeNotes); answers the notes done with (to drop). */
  settleNotes(notes: NodeNote[]): Promise<NodeNote[]>;
}

export interface SettleDeps {
  broker: Broker;
  queue: Queue<unknown>;
  consumer: string;
  events: EventHub;
  log: Logger;
  persistence: Persistence;
  /** Overrides the queue's deadLetter option (CLI --dlq / --no-dlq). */
  deadLetter?: boolean;
  /** Outcome writes wait for this durability (a queue's or app's `durability` with `outcomes`). */
  durability?: Durability;
  /** Where workflow nodes' outcomes are settled, before the job's own is recorded. */
  workflows?: () => NodeSettler;
  /** A retry was scheduled this many ms ahead (the scheduler wakes for it). */
  onRetryScheduled(delayMs: number): void;
  /** The job's outcome is recorded (or no longer this worker's to record): forget it. */
  release(job: HeldJob): void;
  /** A job stopped taking a slot while its outcome waits for the acker. */
  roomChanged(): void;
}

export type SettleStats = Omit<JobCounters, 'running' | 'held'>;

export class Settler {
  readonly stats: SettleStats = { processed: 0, completed: 0, failed: 0, retried: 0, aborted: 0, deadLettered: 0, notDurable: 0 };
  /** Held jobs whose outcome is decided and waiting in the acker: they take no slot. */
  acking = 0;
  private readonly acker: Acker;
  private readonly jsonNames = new Map<string, string>();

  /** The broker's clock: records and events tell times as the broker does (a manual clock in tests). */
  private readonly clock: Clock;

  constructor(private readonly d: SettleDeps) {
    this.clock = clockOf(d.broker);
    this.durable = d.durability && {
      durability: d.durability,
      // The outcome is recorded and stands: the job is neither run again nor failed for it.
      unconfirmed: (jobs, short) => {
        this.stats.notDurable! += jobs.length;
        d.log.warn({ jobs: jobs.slice(0, 20), count: jobs.length, replicas: d.durability!.replicas, acknowledged: short.acknowledged, err: short.cause },
          `job outcome${jobs.length === 1 ? '' : 's'} recorded but maybe not durable: ${short.reason}`);
      },
    };
    this.acker = new Acker(d.broker, d.queue, d.consumer, d.persistence, d.log, this.durable);
  }

  /** How outcome writes wait for durability, when the queue asks for it. */
  private readonly durable: DurableWrites | undefined;

  /** Resolves once every outcome handed to the acker is recorded (or given up). */
  drain(): Promise<void> {
    return this.acker.drain();
  }

  /**
   * Records what an attempt came to. A completion goes to the acker without a promise (it runs
   * once per job); anything else answers a promise to wait for, which never rejects.
   */
  settle(job: HeldJob, attempt: number, startedAt: number, outcome: Outcome): Promise<void> | undefined {
    switch (outcome.kind) {
      case 'done':
        if (job.header.opts.w) return this.completedNode(job, attempt, startedAt, outcome.value);
        this.completed(job, attempt, startedAt, outcome.value);
        return undefined;
      case 'gone':
        this.d.release(job);
        return undefined;
      case 'handback':
        job.state = 'handback';
        return undefined;
      case 'bad':
        return this.rejectBadJob(job.delivery, job.id, outcome.error, job);
      case 'expired': {
        const error = 'JobExpiredError: expired before it could start';
        this.d.events.emit('job.failed', { ...this.about(job), attempt, durationMs: 0, error, willRetry: false });
        return this.finish(job, 'expired', { name: 'JobExpiredError', message: 'expired before it could start', reason: 'expired' }, undefined, job.header.attempt);
      }
      case 'failed':
        return this.failed(job, attempt, startedAt, outcome.error);
    }
  }

  /** Completed: recorded through the acker without a promise (a stop waits on the acker). */
  private completed(job: HeldJob, attempt: number, startedAt: number, value: string | Buffer): void {
    job.state = 'settling';
    this.stats.processed++;
    this.stats.completed++;
    if (this.d.events.wants('job.completed')) {
      const at = this.clock.now();
      this.d.events.send({ type: 'job.completed', at, queue: this.d.queue.name, id: job.id, task: job.task.name, attempt, worker: this.d.consumer, durationMs: at - startedAt });
    }
    this.record(job, 'completed', undefined, value, attempt, startedAt);
  }

  /** A workflow node completed: settled in its workflow first (which may start the next stage), then recorded. */
  private async completedNode(job: HeldJob, attempt: number, startedAt: number, value: string | Buffer): Promise<void> {
    job.state = 'settling';
    if (await this.inWorkflow(job, 'ok', value)) this.completed(job, attempt, startedAt, value);
  }

  /**
   * Settles a workflow node's outcome in its workflow, before the job's own outcome is written:
   * a crash in between runs the job again and settles it again, which counts once. False when
   * the write was given up (the lease was lost, or a stop's time for writes ran out): the job is
   * released unrecorded and runs again, as after a crash.
   */
  private async inWorkflow(job: HeldJob, outcome: 'ok' | 'fail', value: string | Buffer, reason?: string): Promise<boolean> {
    const place = job.header.opts.w;
    const workflows = this.d.workflows?.();
    if (!place || !workflows) return true;
    const out = await this.d.persistence.write('settling a workflow node', () => !job.lost, () => workflows.settleNode(place, outcome, value, reason));
    if (out !== GAVE_UP) return true;
    this.d.release(job);
    return false;
  }

  /** A node that ends without completing: settled in its workflow as failed (its policy decides what that does). */
  private failNode(job: HeldJob, meta: ResultMeta, status: string): Promise<boolean> {
    const { value, reason } = nodeFailure(job.id, status, meta);
    return this.inWorkflow(job, 'fail', value, reason);
  }

  /** Decides what a failed attempt leads to: nothing (not ours), hand-back, abort, retry or the DLQ. */
  private async failed(job: HeldJob, attempt: number, startedAt: number, error: unknown): Promise<void> {
    job.state = 'settling';
    this.stats.processed++;
    const durationMs = this.clock.now() - startedAt;
    const kind = classify(error);
    if (job.lost || kind === 'lease-lost') return this.d.release(job);
    if (kind === 'shutdown') {
      if (job.delivery.entry !== '') {
        job.state = 'handback';
        return;
      }
      // An at-most-once job already left the stream: it must not run again by itself, so an
      // operator decides from the dead-letter queue.
      this.stats.failed++;
      return this.deadLetter(job, errorFacts(error), 'interrupted', attempt, startedAt);
    }
    // An abort was asked for: however the handler ended, the job is not retried.
    if (kind === 'aborted' || job.abortRequested) return this.aborted(job, describe(errorFacts(error), 'aborted'), attempt, startedAt);
    const { options } = job.task;
    const maxTries = job.header.opts.m ?? options.maxTries;
    const facts = errorFacts(error);
    const timedOut = kind === 'timeout';
    const failed = { ...this.about(job), attempt, durationMs, error: facts.text };
    if (!timedOut && matches(error, options.ignoreOn)) {
      this.stats.failed++;
      this.d.events.emit('job.failed', { ...failed, willRetry: false });
      return this.finish(job, 'failed', describe(facts, 'ignored'), undefined, attempt, startedAt);
    }
    const retryable = kind === 'retry' || timedOut || !options.retryOn || matches(error, options.retryOn);
    // Rate limited upstream (ctx.rateLimit): runs again after the hold, this attempt not spent.
    const limited = kind === 'retry' && isRateLimited(error);
    if (retryable && (attempt < maxTries || limited) && !options.atMostOnce) {
      const delay = kind === 'retry' ? (error as Retry).delay : backoffDelay(options.backoff, attempt);
      this.d.events.emit('job.failed', { ...failed, willRetry: true });
      // A node's job ended aborted by the retry script is noted there for a recoverer (its place in the record).
      const aborted = encodeResult('aborted', {
        ...describe(facts, 'aborted'), name: 'JobAbortedError', message: `aborted while its retry was being scheduled (last error: ${facts.text})`,
        task: job.task.name, attempts: attempt, finishedAt: this.clock.now(), worker: this.d.consumer, ...(job.header.opts.w ? { w: job.header.opts.w } : {}),
      }, '', this.facts(job));
      const out = await this.d.persistence.write('scheduling a retry', () => !job.lost, () =>
        this.d.broker.retry(this.d.queue, this.d.consumer, { delivery: job.delivery, id: job.id }, limited ? attempt - 1 : attempt, delay, facts.text, { record: aborted, ttl: job.task.options.resultTtl }, this.durable));
      if (out === 'scheduled') {
        this.stats.retried++;
        this.d.onRetryScheduled(delay);
        this.d.events.emit('job.retried', { ...this.about(job), attempt, delayMs: Math.round(delay), error: facts.text });
      } else if (out === 'aborted') {
        this.stats.aborted++;
        this.d.events.emit('job.aborted', this.about(job));
      }
      return this.d.release(job);
    }
    const reason = timedOut ? 'timeout' : !retryable ? 'not-retryable' : options.atMostOnce ? 'at-most-once' : 'max-tries';
    this.stats.failed++;
    this.d.events.emit('job.failed', { ...failed, willRetry: false });
    return this.deadLetter(job, facts, reason, attempt, startedAt);
  }

  /** Ends a job aborted on request, before it started or while it ran. */
  aborted(job: HeldJob, meta: ResultMeta, attempts: number, startedAt?: number): Promise<void> {
    this.stats.aborted++;
    this.d.events.emit('job.aborted', this.about(job));
    return this.finish(job, 'aborted', meta, undefined, attempts, startedAt);
  }

  private about(job: HeldJob): { queue: string; id: string; task: string; worker: string } {
    return { queue: this.d.queue.name, id: job.id, task: job.task.name, worker: this.d.consumer };
  }

  /**
   * What a record keeps of the job: its priority, enqueue time and (unless `args` is false)
   * arguments. A record that is not kept (result ttl 'none': it lives only for a waiter, at
   * most a minute) carries no arguments: they would cross to Redis for nothing, once per job.
   */
  private facts(job: HeldJob, args = true): JobFacts {
    const priority = this.d.queue.levels[job.delivery.level];
    return args ? { priority, enqueuedAt: job.header.opts.q, args: job.delivery.data } : { priority, enqueuedAt: job.header.opts.q };
  }

  /** Records a final outcome without dead-lettering (batched with other completions). */
  private async finish(job: HeldJob, status: FinalStatus, meta: ResultMeta, value: string | Buffer | undefined, attempts: number, startedAt?: number): Promise<void> {
    if (job.header.opts.w && !(await this.failNode(job, meta, status))) return;
    return new Promise((resolve) => this.record(job, status, meta, value, attempts, startedAt, resolve));
  }

  /**
   * finish() without a promise: the acker calls back once the outcome is written (this runs
   * once per completed job, so it allocates as little as it can).
   */
  private record(job: HeldJob, status: FinalStatus, meta: ResultMeta | undefined, value: string | Buffer | undefined, attempts: number, startedAt: number | undefined, then?: () => void): void {
    job.state = 'settling';
    const facts = this.facts(job, job.task.options.resultTtl !== 0);
    const record = status === 'completed'
      ? encodeCompleted(this.json(job.task.name), attempts, startedAt, this.clock.now(), this.json(this.d.consumer), value, facts)
      : encodeResult(status, { ...meta, task: job.task.name, attempts, startedAt, finishedAt: this.clock.now(), worker: this.d.consumer }, value, facts);
    const hasRecord = job.header.id !== '' || job.delivery.entry === '';
    this.acking++;
    this.acker.push({
      delivery: job.delivery, id: job.id, record, ttl: job.task.options.resultTtl, hasRecord, abortRequested: job.abortRequested,
    }, (recorded: AckResult) => {
      this.acking--;
      if (recorded === false) this.d.log.warn({ job: job.id }, 'outcome refused: the lease was lost and another worker owns the job');
      this.d.release(job);
      then?.();
    });
    this.d.roomChanged();
  }

  /** JSON of a task or worker name, made once per name. */
  private json(name: string): string {
    let out = this.jsonNames.get(name);
    if (out === undefined) this.jsonNames.set(name, (out = JSON.stringify(name)));
    return out;
  }

  private async deadLetter(job: HeldJob, err: ErrorFacts, reason: string, attempts: number, startedAt: number): Promise<void> {
    const meta = { ...describe(err, reason), task: job.task.name, attempts, startedAt, finishedAt: this.clock.now(), worker: this.d.consumer };
    if (job.header.opts.w && !(await this.failNode(job, meta, 'failed'))) return;
    const recorded = await this.d.persistence.write('dead-lettering a job', () => !job.lost, () => this.d.broker.deadLetter(this.d.queue, this.d.consumer, {
      delivery: job.delivery, id: job.id, reason, error: err.text, stack: err.stack ?? '', attempts,
      worker: this.d.consumer, record: encodeResult('failed', meta, '', this.facts(job)), ttl: job.task.options.resultTtl, useDlq: this.d.deadLetter ?? this.d.queue.options.deadLetter,
    }, this.durable));
    if (recorded === true) {
      this.stats.deadLettered++;
      this.d.events.emit('job.dead', { ...this.about(job), attempt: attempts, reason, error: err.text });
    }
    this.d.release(job);
  }

  /** A job that cannot be trusted or run goes to the dead-letter stream, never executed. */
  async rejectBadJob(delivery: Delivery, id: string, error: unknown, job?: HeldJob): Promise<void> {
    const err = errorFacts(error);
    const reason = error instanceof BadJobError ? error.reason : 'malformed';
    if (job) job.state = 'settling';
    const recorded = await this.d.persistence.write('dead-lettering a bad job', () => !job?.lost, () => this.d.broker.deadLetter(this.d.queue, this.d.consumer, {
      delivery, id, reason, error: err.text, stack: '', attempts: 0, worker: this.d.consumer,
      record: encodeResult('failed', { ...describe(err, reason), finishedAt: this.clock.now(), worker: this.d.consumer }, '', { priority: this.d.queue.levels[delivery.level], args: delivery.data }),
      ttl: this.d.queue.options.resultTtl, useDlq: true,
    }, this.durable));
    if (recorded === true) {
      this.stats.deadLettered++;
      this.d.events.emit('job.dead', {
        queue: this.d.queue.name, id, task: job?.task.name ?? taskOf(delivery), attempt: 0, worker: this.d.consumer, reason, error: err.text,
      });
    } else if (recorded === GAVE_UP) {
      this.d.log.error({ job: id }, 'could not dead-letter a bad job; it stays pending and will be reclaimed');
    }
    if (job) this.d.release(job);
  }
}

type Kind = 'lease-lost' | 'shutdown' | 'aborted' | 'timeout' | 'retry' | 'error';

/** What kind of failure a thrown value is (instanceof on a hostile proxy can throw: an ordinary error then). */
function classify(error: unknown): Kind {
  try {
    if (error instanceof LeaseLostError) return 'lease-lost';
    if (error instanceof ShutdownError) return 'shutdown';
    if (error instanceof JobAbortedError) return 'aborted';
    if (error instanceof JobTimeoutError) return 'timeout';
    if (error instanceof Retry) return 'retry';
  } catch {
    // fall through
  }
  return 'error';
}

function isRateLimited(error: unknown): boolean {
  try {
    return error instanceof RateLimited;
  } catch {
    return false;
  }
}

function matches(error: unknown, classes: readonly ErrorClass[] | undefined): boolean {
  if (!classes) return false;
  try {
    return classes.some((cls) => error instanceof cls);
  } catch {
    return false;
  }
}

function describe(err: ErrorFacts, reason: string): ResultMeta {
  return { name: err.name, message: err.message, stack: err.stack, reason };
}

/** The task name a header claims, or '' when it has none. */
function taskOf(delivery: Delivery): string {
  const h = delivery.header === undefined ? '' : String(delivery.header);
  const a = h.indexOf('|');
  return a < 0 ? '' : h.slice(a + 1, Math.max(a + 1, h.indexOf('|', a + 1)));
}
