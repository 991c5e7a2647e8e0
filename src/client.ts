// The client side of an app: enqueueing (typed or by name) and everything done to a job by
// id from any process: status, info, result, abort, unschedule, and the dead-letter queue.

import { encodeHeader, decodeHeader, entryTime, AUTO_ID, type WireOptions } from './envelope.js';
import { decodeResult, encodeResult, type ResultRecord } from './results.js';
import { durabilityOf, resolveEnqueueOptions, type EnqueueOptions, type ResolvedGroups } from './options.js';
import { JobAbortedError, JobExpiredError, JobFailedError, JobNotFoundError, ResultTimeoutError, ConfigError, throwFirst } from './errors.js';
import { Job, type JobOps } from './job.js';
import type { Serializer } from './serializer.js';
import type { AbortOutcome, Broker, DeadLetterEntry, Durability, EnqueueItem, Inspector, QueueRef, JobSummary } from './broker/types.js';
import type { JobInfo, JobStatus, Middleware, OutgoingJob } from './types.js';
import type { Queue, AnyTask } from './registry.js';
import type { ScheduleDefinition } from './cron.js';
import { currentTraceCarrier, traceCarrierNow } from './tracing.js';

export interface ClientDeps {
  broker: Broker;
  inspector: Inspector;
  serializer: Serializer;
  signingSecret: string | undefined;
  middleware: Middleware<never>[];
  /** The app's durability (a queue's or call's own overrides it). */
  durability?: Durability;
  /** The queue definition for a name, or undefined for a queue this process did not define. */
  queueNamed(name: string): Queue<unknown> | undefined;
  taskNamed(name: string): AnyTask | undefined;
}

/** The options of a call that gives none (shared: nothing writes to it). */
const NO_OPTIONS: EnqueueOptions = Object.freeze({});

/** Levels assumed for a queue no process has registered yet. */
const DEFAULT_LEVELS = ['low', 'normal', 'high', 'critical'];

export class Client implements JobOps {
  constructor(private readonly deps: ClientDeps) {}

  private readonly refs = new Map<string, QueueRef>();

  /**
   * The queue as the broker needs it. A queue this process does not define is addressed
   * with the priority levels its defining processes registered in Redis.
   */
  async ref(queue: string): Promise<QueueRef> {
    const defined = this.deps.queueNamed(queue);
    if (defined) return defined;
    const known = this.refs.get(queue);
    if (known) return known;
    const shape = await this.deps.broker.queueShape(queue);
    const ref: QueueRef = shape ? { name: queue, levels: shape.levels, shards: shape.shards } : { name: queue, levels: DEFAULT_LEVELS };
    if (shape) this.refs.set(queue, ref);
    return ref;
  }

  /** Each task's queue once its plain jobs may take the short path (see enqueueOne). */
  private readonly short = new Map<AnyTask, Queue<unknown>>();

  /**
   * One job with the task's defaults: what `task.enqueue(...)` does. The same as enqueueTask
   * on a shorter path (no promise per step) once the first call has taken the long one (which
   * registered the queue), when nothing needs the long one: no enqueue middleware, no expiry
   * (which needs the server clock), the queue defined here, the tracing lookup done.
   */
  enqueueOne(task: AnyTask, args: unknown[]): Promise<Job<unknown>> {
    const queue = this.short.get(task);
    const trace = queue ? traceCarrierNow() : null;
    if (trace === null || this.deps.middleware.some((mw) => mw.enqueue)) {
      return this.enqueueTask(task, [{ args, options: NO_OPTIONS }]).then((jobs) => {
        const defined = this.deps.queueNamed(task.queue.name);
        if (defined && task.options.expires === undefined) this.short.set(task, defined);
        return jobs[0]!;
      });
    }
    try {
      const item = this.toItem({ queue: queue!.name, task: task.name, args, options: NO_OPTIONS }, queue!, trace);
      const durability = durabilityOf(undefined, queue!.options.durability, this.deps.durability);
      return this.deps.broker.enqueueOne(queue!, item, durability).then((out) => new Job(this, queue!.name, out.id, true));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Enqueues jobs of one task, through the enqueue middleware, in one round trip. */
  async enqueueTask(task: AnyTask, calls: { args: unknown[]; options: EnqueueOptions }[]): Promise<Job<unknown>[]> {
    return this.enqueueJobs(calls.map((c) => ({ queue: task.queue.name, task: task.name, args: c.args, options: c.options })));
  }

  /** Enqueues by task name, without the task's code. */
  async enqueueByName(name: string, args: unknown[], options: EnqueueOptions & { queue?: string } = {}): Promise<Job<unknown>> {
    const { queue: queueOpt, ...rest } = options;
    const queue = queueOpt ?? this.deps.taskNamed(name)?.queue.name;
    if (!queue) throw new ConfigError('enqueueByName.queue', `the queue of task '${name}' (this process does not define the task)`);
    if (!Array.isArray(args)) throw new ConfigError('enqueueByName.args', 'an array of task arguments', args);
    return (await this.enqueueJobs([{ queue, task: name, args, options: rest }]))[0]!;
  }

  /** Enqueues a workflow's nodes (src/workflow), through the enqueue middleware like any job. */
  enqueueNodes(jobs: OutgoingJob[]): Promise<Job<unknown>[]> {
    return this.enqueueJobs(jobs);
  }

  private async enqueueJobs(jobs: OutgoingJob[]): Promise<Job<unknown>[]> {
    // Only a custom id can already exist; its flags are kept in send order per queue+id, since
    // one bulk call may name the same custom id twice. Auto ids are always new.
    let created: Map<string, boolean[]> | undefined;
    const send = async (batch: OutgoingJob[]): Promise<string[]> => {
      const trace = await currentTraceCarrier();
      // Expiry deadlines are on the Redis server's clock, as workers judge them (no await otherwise).
      const now = this.expiring(batch) ? await this.deps.broker.serverNow() : Date.now();
      // Jobs grouped by queue and durability (usually one group); every item is validated before any is sent.
      const groups: { ref: QueueRef; defined: boolean; durability: Durability | undefined; indexes: number[]; items: EnqueueItem[] }[] = [];
      for (let index = 0; index < batch.length; index++) {
        const job = batch[index]!;
        const defined = this.deps.queueNamed(job.queue);
        // A queue this process defines is known without asking Redis.
        const ref = groups.find((g) => g.ref.name === job.queue)?.ref ?? defined ?? (await this.ref(job.queue));
        const { item, durability: own } = this.resolveItem(job, ref, trace, now);
        const durability = durabilityOf(own, defined?.options.durability, this.deps.durability);
        let group = groups.find((g) => g.ref === ref && g.durability?.key === durability?.key);
        if (!group) {
          group = { ref, defined: defined !== undefined, durability, indexes: [], items: [] };
          groups.push(group);
        }
        group.indexes.push(index);
        group.items.push(item);
      }
      const ids: string[] = new Array(batch.length);
      const sendGroup = async ({ ref, defined, durability, indexes, items }: (typeof groups)[number]): Promise<void> => {
        await this.deps.broker.registerQueue(ref, defined);
        const out = await this.deps.broker.enqueue(ref, items, undefined, durability);
        for (let i = 0; i < out.length; i++) {
          const o = out[i]!;
          ids[indexes[i]!] = o.id;
          if (items[i]!.id === '') continue;
          const key = `${ref.name}\u0000${o.id}`;
          const flags = (created ??= new Map()).get(key);
          if (flags) flags.push(o.created);
          else created.set(key, [o.created]);
        }
      };
      if (groups.length === 1) await sendGroup(groups[0]!);
      else throwFirst(await Promise.allSettled(groups.map(sendGroup)));
      return ids;
    };
    const ids = await this.enqueueChain(send)(jobs);
    return ids.map((id, i) => new Job(this, jobs[i]!.queue, id, created?.get(`${jobs[i]!.queue}\u0000${id}`)?.shift() ?? true));
  }

  /** `send` wrapped in the enqueue middleware, outermost first. */
  private enqueueChain(send: (batch: OutgoingJob[]) => Promise<string[]>): (batch: OutgoingJob[]) => Promise<string[]> {
    let chain = send;
    const mws = this.deps.middleware;
    for (let i = mws.length - 1; i >= 0; i--) {
      const mw = mws[i]!;
      if (!mw.enqueue) continue;
      const next = chain;
      chain = (batch) => mw.enqueue!(batch, next);
    }
    return chain;
  }

  /** Whether a job of the batch has an expiry. */
  private expiring(batch: OutgoingJob[]): boolean {
    for (const j of batch) {
      if (j.options?.expires !== undefined || this.deps.queueNamed(j.queue)?.tasks.get(j.task)?.options.expires !== undefined) return true;
    }
    return false;
  }

  private toItem(job: OutgoingJob, ref: QueueRef, trace?: Record<string, string>, now = Date.now()): EnqueueItem {
    return this.resolveItem(job, ref, trace, now).item;
  }

  /** The job as the broker takes it, and the durability its options ask for (undefined: none said). */
  private resolveItem(job: OutgoingJob, ref: QueueRef, trace?: Record<string, string>, now = Date.now()): { item: EnqueueItem; durability: Durability | false | undefined } {
    const defined = this.deps.queueNamed(job.queue);
    const task = defined?.tasks.get(job.task);
    const defaultPriority = task?.options.priority ?? (ref.levels.includes('normal') ? 'normal' : ref.levels[0]!);
    const o = resolveEnqueueOptions(job.options, ref.levels, defaultPriority, task?.options.expires, now);
    const data = this.deps.serializer.encode(job.args);
    // Most jobs carry no per-job options: no object for them.
    let wire: WireOptions | undefined;
    if (o.timeout !== undefined) (wire ??= {}).t = o.timeout;
    if (o.maxTries !== undefined) (wire ??= {}).m = o.maxTries;
    if (o.expiresAt !== undefined) (wire ??= {}).x = o.expiresAt;
    if (o.id !== '' || o.due !== undefined) (wire ??= {}).q = Date.now();
    if (trace) (wire ??= {}).c = trace;
    if (job.workflow) (wire ??= {}).w = job.workflow;
    const group = groupOf(job, o.group, defined !== undefined, defined?.options.groups);
    if (group !== undefined) (wire ??= {}).g = group;
    const item: EnqueueItem = { level: o.level, id: o.id, task: job.task, header: encodeHeader(o.id, job.task, wire, data, this.deps.signingSecret), data, due: o.due };
    if (group !== undefined) item.group = group;
    return { item, durability: o.durability };
  }

  /** Enqueues a cron schedule's job; with a tick, only if no worker enqueued that tick yet. */
  async enqueueScheduled(def: ScheduleDefinition, tick: number | undefined, id: string): Promise<boolean> {
    const ref = await this.ref(def.queue);
    const item = this.toItem({ queue: def.queue, task: def.task, args: def.args, options: { id, priority: def.priority } }, ref);
    const durability = durabilityOf(undefined, this.deps.queueNamed(def.queue)?.options.durability, this.deps.durability);
    const out = await this.deps.broker.enqueue(ref, [item], tick === undefined ? undefined : { schedule: def.name, tick }, durability);
    return out[0]?.created ?? false;
  }

  job<R = unknown>(queue: string, id: string): Job<R> {
    return new Job<R>(this, queue, id);
  }

  async status(queue: string, id: string): Promise<JobStatus> {
    const loc = await this.deps.broker.locate(await this.ref(queue), id);
    if (loc.state === 'ended') return loc.result ? decodeResult(loc.result).status : 'unknown';
    return loc.state;
  }

  async info(queue: string, id: string): Promise<JobInfo> {
    const ref = await this.ref(queue);
    const loc = await this.deps.broker.locate(ref, id);
    if (loc.state === 'unknown') throw new JobNotFoundError(id, queue);
    const result = loc.result ? decodeResult(loc.result) : undefined;
    let task: string | undefined = result?.meta.task;
    let args: unknown[] | undefined;
    let attempts = result?.meta.attempts ?? 0;
    let enqueuedAt: number | undefined = AUTO_ID.test(id) ? entryTime(id) : result?.meta.q;
    const priority = loc.state === 'ended' ? result?.meta.p : ref.levels[loc.level];
    // A finished job's record keeps its arguments; a live one has them in its entry.
    const data = loc.state === 'ended' ? result?.args : loc.data;
    if (loc.header !== undefined && loc.state !== 'ended') {
      try {
        const h = decodeHeader(loc.header);
        task = h.task;
        attempts = h.attempt;
        enqueuedAt = h.opts.q ?? enqueuedAt;
      } catch {
        // A tampered record: show what is known; the worker will dead-letter it.
      }
    }
    if (data !== undefined && data.length > 0) {
      try {
        const decoded = this.deps.serializer.decode(data);
        if (Array.isArray(decoded)) args = decoded;
      } catch {
        // Undecodable arguments: the worker dead-letters such a job.
      }
    }
    const status: JobStatus = loc.state === 'ended' ? (result?.status ?? 'unknown') : loc.state;
    return {
      id,
      queue,
      status,
      task,
      args,
      priority,
      attempts,
      enqueuedAt,
      dueAt: loc.dueAt ?? undefined,
      worker: loc.owner || result?.meta.worker || undefined,
      deliveries: loc.deliveries,
      abortRequested: loc.abortRequested,
      lastError: loc.record.err,
      startedAt: result?.meta.startedAt,
      finishedAt: result?.meta.finishedAt,
      result: result?.status === 'completed' ? this.decodeValue(result) : undefined,
      error: result && result.status !== 'completed' ? errorOf(result) : undefined,
    };
  }

  async result(queue: string, id: string, timeoutMs: number): Promise<unknown> {
    const raw = await this.deps.broker.waitForResult(await this.ref(queue), id, timeoutMs);
    if (raw === null) throw new ResultTimeoutError(id, timeoutMs);
    if (raw === 'not_found') throw new JobNotFoundError(id, queue);
    const rec = decodeResult(raw);
    switch (rec.status) {
      case 'completed':
        return this.decodeValue(rec);
      case 'aborted':
        throw new JobAbortedError(id);
      case 'expired':
        throw new JobExpiredError(id);
      default:
        throw new JobFailedError(id, rec.meta.name ?? 'Error', rec.meta.message ?? '', rec.meta.stack, rec.meta.attempts ?? 0);
    }
  }

  private decodeValue(rec: ResultRecord): unknown {
    return this.deps.serializer.decode(rec.value);
  }

  async abort(queue: string, id: string): Promise<AbortOutcome> {
    const ref = await this.ref(queue);
    const ttl = this.deps.queueNamed(queue)?.options.resultTtl ?? 3600;
    const record = encodeResult('aborted', { finishedAt: Date.now(), name: 'JobAbortedError', message: 'aborted before it started' });
    return this.deps.broker.abort(ref, id, record, ttl);
  }

  async promote(queue: string, id: string): Promise<boolean> {
    return this.deps.broker.promoteJob(await this.ref(queue), id);
  }

  async unschedule(queue: string, id: string): Promise<boolean> {
    return this.deps.broker.unschedule(await this.ref(queue), id);
  }

  async progress(queue: string, id: string): Promise<unknown> {
    const raw = await this.deps.broker.getProgress(await this.ref(queue), id);
    return raw === null ? undefined : JSON.parse(raw);
  }

  async logs(queue: string, id: string, start: number, end: number): Promise<string[]> {
    return this.deps.broker.getLogs(await this.ref(queue), id, start, end);
  }

  async listJobs(queue: string, state: JobSummary['state'], limit = 100): Promise<JobSummary[]> {
    return this.deps.inspector.listJobs(await this.ref(queue), state, limit);
  }

  /** Dead-letter queue operations for one queue. */
  deadLetters(queue: string): DeadLetterQueue {
    return new DeadLetterQueue(this.deps.inspector, () => this.ref(queue));
  }
}

export class DeadLetterQueue {
  constructor(
    private readonly inspector: Inspector,
    private readonly resolve: () => Promise<QueueRef>,
  ) {}

  async list(options: { limit?: number; after?: string } = {}): Promise<DeadLetterEntry[]> {
    return this.inspector.dlqList(await this.resolve(), { limit: options.limit ?? 100, after: options.after });
  }
  async show(dlqId: string): Promise<DeadLetterEntry | null> {
    return this.inspector.dlqGet(await this.resolve(), dlqId);
  }
  async count(): Promise<number> {
    return this.inspector.dlqCount(await this.resolve());
  }
  /** Puts entries back on the queue; returns the replayed job ids. */
  async replay(dlqIds: string | string[] | 'all', options: { resetAttempts?: boolean } = {}): Promise<string[]> {
    const ids = dlqIds === 'all' ? 'all' : Array.isArray(dlqIds) ? dlqIds : [dlqIds];
    return this.inspector.dlqReplay(await this.resolve(), ids, options.resetAttempts ?? false);
  }
  async delete(dlqIds: string | string[]): Promise<number> {
    return this.inspector.dlqDelete(await this.resolve(), Array.isArray(dlqIds) ? dlqIds : [dlqIds]);
  }
  async purge(): Promise<number> {
    return this.inspector.dlqPurge(await this.resolve());
  }
}

function errorOf(rec: ResultRecord): JobInfo['error'] {
  return { name: rec.meta.name ?? rec.status, message: rec.meta.message ?? '', stack: rec.meta.stack, reason: rec.meta.reason };
}

/**
 * A job's group: the enqueue's `group`, else the queue's `groups.key` of its arguments. A queue
 * this process defines without groups takes none (its workers would not wait for grouped jobs).
 */
function groupOf(job: OutgoingJob, given: string | undefined, definedHere: boolean, groups: ResolvedGroups | undefined): string | undefined {
  if (given !== undefined) {
    if (!groups && definedHere) throw new ConfigError('enqueue.group', `a queue defined with the groups option (queue '${job.queue}' has none)`, given);
    return given;
  }
  const key = groups?.key;
  if (!key) return undefined;
  const group = key(job.args, job.task);
  if (group !== undefined && (typeof group !== 'string' || group.length < 1 || group.length > 200)) {
    throw new ConfigError(`queue '${job.queue}'.groups.key`, 'a function returning a string of 1-200 characters, or undefined for no group', group);
  }
  return group;
}
