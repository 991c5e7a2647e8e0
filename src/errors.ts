// Errors a user can meet: each says what was wrong and what to do.

import { parseDuration } from './duration.js';

export class MillraceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An option or setting has a value it does not accept. */
export class ConfigError extends MillraceError {
  constructor(
    readonly option: string,
    readonly accepted: string,
    received?: unknown,
  ) {
    super(
      `invalid option '${option}'${received === undefined ? '' : ` (got ${describe(received)})`}: expected ${accepted}`,
    );
  }
}

/** Thrown by a task to run it again after `delay` ms (counts as an attempt). */
export class Retry extends MillraceError {
  readonly delay: number;
  constructor(delay: number | string = 0, message = 'retry requested by the task') {
    super(message);
    this.delay = parseDuration(delay, 'Retry delay');
  }
}

/** Thrown by a task after ctx.rateLimit(): the job runs again after the hold, its attempt not spent. */
export class RateLimited extends Retry {
  constructor(delay: number) {
    super(delay, `rate limited upstream: the queue is held for ${delay} ms`);
  }
}

/** The attempt ran past its timeout; its AbortSignal was aborted with this reason. */
export class JobTimeoutError extends MillraceError {
  constructor(readonly timeoutMs: number) {
    super(`job timed out after ${timeoutMs} ms`);
  }
}

/** The job was aborted on request (job.abort() from any process). */
export class JobAbortedError extends MillraceError {
  constructor(readonly jobId: string) {
    super(`job ${jobId} was aborted`);
  }
}

/** The worker is shutting down; the job goes back to the queue without spending an attempt. */
export class ShutdownError extends MillraceError {
  constructor() {
    super('worker is shutting down; the job is handed back to the queue');
  }
}

/** This worker lost the job's lease (it was reclaimed elsewhere); its outcome will not be recorded. */
export class LeaseLostError extends MillraceError {
  constructor(readonly jobId: string) {
    super(`lease on job ${jobId} was lost; another worker owns it now`);
  }
}

/** The job did not start before its expiry time. */
export class JobExpiredError extends MillraceError {
  constructor(readonly jobId: string) {
    super(`job ${jobId} expired before it could start`);
  }
}

/** job.result() was awaited for a job that ended in failure; carries the task's error. */
export class JobFailedError extends MillraceError {
  constructor(
    readonly jobId: string,
    readonly errorName: string,
    readonly errorMessage: string,
    readonly errorStack: string | undefined,
    readonly attempts: number,
  ) {
    super(`job ${jobId} failed after ${attempts} attempt(s): ${errorName}: ${errorMessage}`);
  }
}

/** Waiting for a result took longer than the timeout given. */
export class ResultTimeoutError extends MillraceError {
  constructor(readonly jobId: string, readonly timeoutMs: number, what: 'job' | 'workflow' = 'job') {
    super(`no result for ${what} ${jobId} within ${timeoutMs} ms`);
  }
}

/** No job with this id exists (or its result has expired). */
export class JobNotFoundError extends MillraceError {
  constructor(readonly jobId: string, readonly queue?: string) {
    super(`job ${jobId} not found${queue ? ` in queue '${queue}'` : ''} (never enqueued, or its result expired)`);
  }
}

/** A job's record could not be trusted or decoded; it goes to the dead-letter queue. */
export class BadJobError extends MillraceError {
  constructor(readonly reason: 'malformed' | 'bad-signature' | 'undecodable' | 'unknown-task', detail: string) {
    super(`${reason}: ${detail}`);
  }
}

/**
 * The jobs were written to Redis, but the durability asked for (`durability: { replicas,
 * timeout, aof }`) could not be confirmed: too few replicas acknowledged within the timeout,
 * the acknowledgement was lost with the connection, or the server refused the command (WAITAOF
 * before Redis 7.2). The jobs exist and will run unless a failover loses them; enqueueing the
 * same custom ids again is safe (an existing id is not added twice).
 */
export class NotDurableError extends MillraceError {
  constructor(
    /** Every job of the call, in call order (ids that already existed too). */
    readonly jobIds: string[],
    readonly queue: string,
    /** Replicas that had to acknowledge. */
    readonly replicas: number,
    /** Replicas that did (fsynced, with aof: true); undefined when no answer came (an error). */
    readonly acknowledged: number | undefined,
    readonly timeoutMs: number,
    /** What fell short, as a clause: "0 of 1 replicas acknowledged within 100 ms". */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${jobIds.length === 1 ? `job ${jobIds[0]} was` : `${jobIds.length} jobs (${listIds(jobIds)}) were`} written but may not be durable: ${reason}`, options);
  }
}

function listIds(ids: string[]): string {
  return ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')}, ...`;
}

/** The task's result could not be encoded by the serializer (a BigInt under JSON, a cycle): the attempt fails. */
export class ResultEncodingError extends MillraceError {
  constructor(cause: unknown) {
    super(`the task's result could not be encoded: ${errorFacts(cause).message}`, { cause });
  }
}

/** What is known of a thrown value, read so that nothing can throw again while reading it. */
export interface ErrorFacts {
  name: string;
  message: string;
  stack: string | undefined;
  /** "name: message", as events and dead-letter entries show it. */
  text: string;
}

/**
 * The name, message and stack of anything a handler may throw: Errors, strings, symbols, null,
 * objects with cycles or throwing getters. Never throws.
 */
export function errorFacts(e: unknown): ErrorFacts {
  try {
    return readFacts(e);
  } catch {
    // instanceof or `in` on a proxy whose traps throw
    return { name: 'Error', message: 'non-error thrown: (unreadable value)', stack: undefined, text: 'Error: non-error thrown: (unreadable value)' };
  }
}

function readFacts(e: unknown): ErrorFacts {
  let name = 'Error';
  let message: string;
  let stack: string | undefined;
  if (e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e && 'name' in e && isErrorLike(e))) {
    name = readString(() => (e as Error).name, 'Error') || 'Error';
    message = readString(() => (e as Error).message, '(unreadable message)');
    stack = readString(() => (e as Error).stack, '') || undefined;
  } else if (typeof e === 'string') {
    message = e;
  } else {
    message = `non-error thrown: ${show(e)}`;
  }
  return { name, message, stack, text: `${name}: ${message}` };
}

function isErrorLike(e: object): boolean {
  try {
    return typeof (e as Error).message === 'string';
  } catch {
    return false;
  }
}

function readString(read: () => unknown, fallback: string): string {
  try {
    const v = read();
    return typeof v === 'string' ? v : v === undefined ? fallback : show(v);
  } catch {
    return fallback;
  }
}

/** A short text for any value: JSON when it has one (cycles marked), else String(), else its tag. */
function show(v: unknown): string {
  try {
    const seen = new WeakSet<object>();
    const json = JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return `${x}n`;
      if (typeof x !== 'object' || x === null) return x;
      if (seen.has(x)) return '[Circular]';
      seen.add(x);
      return x;
    });
    if (json !== undefined) return json.length > 200 ? `${json.slice(0, 197)}...` : json;
  } catch {
    // a cycle, a BigInt, or a throwing toJSON
  }
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** A URL's password (`scheme://user:password@host`) replaced by `***`: error lines and listings never show it. */
export function maskUrlPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)([^@/]+)@/i, '$1***@');
}

function describe(value: unknown): string {
  try {
    const s = typeof value === 'string' ? JSON.stringify(maskUrlPassword(value)) : String(JSON.stringify(value) ?? value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeof value;
  }
}

/**
 * The outcome of a call sent in several groups: the first failure, except that when every
 * failure is a NotDurableError of one queue, one error names all their jobs (all were written).
 */
export function throwFirst(settled: PromiseSettledResult<unknown>[]): void {
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length === 0) return;
  const first = failures[0];
  if (failures.length === 1 || !failures.every((f) => f instanceof NotDurableError && f.queue === (first as NotDurableError).queue)) throw first;
  const all = failures as NotDurableError[];
  const f = all[0]!;
  throw new NotDurableError(all.flatMap((e) => e.jobIds), f.queue, f.replicas, f.acknowledged, f.timeoutMs, f.reason, { cause: f.cause });
}
