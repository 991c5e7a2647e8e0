// Everything the dashboard reads from, and does to, the queues: through the app's public API
// and its Inspector only (never a Redis client), so that another broker or topology changes
// this one module. Values come out as plain JSON-ready objects, arguments redacted.

import type { Millrace } from '../app.js';
import type { DeadLetterEntry, GroupSummary, JobSummary, QueueRef, ScanPlace, StoredEvent, WorkerEntry } from '../broker/types.js';
import { ConfigError } from '../errors.js';
import type { ScheduleInfo } from '../cron.js';
import { queueRef } from '../cli/app.js';
import { readyOf } from '../cli/commands/queues.js';
import { decodeHeader } from '../envelope.js';
import { decodeResult } from '../results.js';
import type { JobInfo } from '../types.js';
import type { DeadLetterView, JobDetail, JobPage, JobRow, QueueView, WorkerView } from './types.js';

export type { DeadLetterView, JobDetail, JobPage, JobRow, QueueView, WorkerView } from './types.js';

/** The app as the dashboard uses it (an app of any dependencies type). */
export type OverseerApp = Millrace<unknown>;

/** Replaces a job's arguments before they are shown (e.g. to hide secrets). */
export type Redactor = (args: unknown, job: { queue: string; id: string; task: string | undefined }) => unknown;

/** How long a queue's registered levels are trusted before they are read again. */
const REF_TTL_MS = 60_000;

export const JOB_STATES: readonly JobSummary['state'][] = ['waiting', 'active', 'delayed', 'completed', 'failed', 'aborted', 'expired'];

/** The deepest page offset the running jobs' listing serves (each page reads every job before it). */
export const MAX_OFFSET = 10_000;

/** Chunks one page of jobs reads at most. */
const PAGE_READS = 5;

/** Kept results read per chunk when a page lists ended jobs of one status (SCAN's COUNT). */
const ENDED_CHUNK = 500;

export class OverseerData {
  private readonly refs = new Map<string, { ref: QueueRef; until: number }>();

  constructor(
    readonly app: OverseerApp,
    private readonly redact: Redactor | undefined,
    private readonly staleAfterMs: number,
  ) {}

  /**
   * A queue as the inspector needs it: this app's definition, else as registered in Redis (the
   * CLI's look-up), remembered for a minute so the live snapshot does not ask every second.
   */
  async ref(name: string): Promise<QueueRef> {
    const defined = this.app.queues.get(name);
    if (defined) return defined;
    const known = this.refs.get(name);
    if (known && known.until > Date.now()) return known.ref;
    const ref = await queueRef(this.app, name);
    this.refs.set(name, { ref, until: Date.now() + REF_TTL_MS });
    return ref;
  }

  /** Queues this app defines and those seen under its prefix, sorted. */
  async queueNames(): Promise<string[]> {
    return [...new Set([...this.app.queues.keys(), ...(await this.app.inspector.queueNames())])].sort();
  }

  async hasQueue(name: string): Promise<boolean> {
    return this.app.queues.has(name) || (await this.app.inspector.queueNames()).includes(name);
  }

  async queues(names: string[], workers: WorkerEntry[]): Promise<QueueView[]> {
    return Promise.all(
      names.map(async (name) => {
        const ref = await this.ref(name);
        const counts = await this.app.inspector.counts(ref);
        return {
          name,
          levels: [...ref.levels].reverse(),
          ...readyOf(ref.levels, counts),
          delayed: counts.delayed,
          running: counts.active,
          dlq: counts.dlq,
          consumers: counts.consumers,
          workers: workers.filter((w) => w.queues.includes(name)).length,
          // From the counts themselves: no read of its own per queue and tick.
          paused: counts.paused === true,
        };
      }),
    );
  }

  async workers(): Promise<WorkerView[]> {
    return this.workerViews(await this.app.workers());
  }

  workerViews(entries: WorkerEntry[], now = Date.now()): WorkerView[] {
    return entries
      .map((w) => {
        const heartbeatAgeMs = Math.max(0, now - w.heartbeatAt);
        return { ...w, heartbeatAgeMs, stale: heartbeatAgeMs > this.staleAfterMs };
      })
      .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.pid - b.pid || a.id.localeCompare(b.id));
  }

  /**
   * One page of a queue's jobs in one state, from `cursor` (a page's `next`). Waiting jobs come
   * newest first (highest priority first), delayed ones soonest due first, ended ones as their
   * results are met (each page sorted by finish time, newest first): read through scanJobs a
   * bounded chunk at a time, so a page costs a few commands however many jobs the queue holds.
   * Running jobs (few: at most the workers' concurrency) are paged by offset (listJobs takes no
   * cursor): each page lists those before it again, but in a few commands whatever the offset
   * (per priority, XPENDING and one XRANGE over the pending span; see RedisInspector.listJobs).
   * Ended jobs of one status: at most `limit` per page (see endedJobs).
   */
  async jobs(queue: string, state: JobSummary['state'], limit: number, cursor: string | undefined): Promise<JobPage> {
    const ref = await this.ref(queue);
    if (state === 'active') {
      const offset = cursor === undefined ? 0 : Number(cursor);
      if (!/^\d{1,5}$/.test(cursor ?? '0') || offset > MAX_OFFSET) throw new ConfigError('cursor', "a page's 'next' of running jobs", cursor);
      const summaries = await this.app.inspector.listJobs(ref, state, offset + limit + 1);
      const page = summaries.slice(offset, offset + limit).map((s) => this.row(ref, s));
      const next = summaries.length > offset + limit && offset + limit < MAX_OFFSET ? String(offset + limit) : undefined;
      return next === undefined ? { jobs: page } : { jobs: page, next };
    }
    if (state !== 'waiting' && state !== 'delayed') return this.endedJobs(ref, state, limit, cursor);
    const place: ScanPlace = state === 'waiting' ? 'ready' : 'delayed';
    const rows: JobRow[] = [];
    let at = cursor;
    // A page of waiting jobs skips running ones: a few more chunks then, but never more than
    // these (the page comes shorter, with its `next`).
    for (let reads = 0; reads < PAGE_READS; reads++) {
      const chunk = await this.app.inspector.scanJobs(ref, place, { cursor: at, count: limit - rows.length, newest: true });
      for (const j of chunk.jobs) if (j.state === state) rows.push(this.row(ref, j));
      at = chunk.cursor;
      if (at === undefined || rows.length >= limit) break;
    }
    return at === undefined ? { jobs: rows } : { jobs: rows, next: at };
  }

  /**
   * A page of ended jobs of one status: at most `limit` of them, from chunks of the kept results
   * (ENDED_CHUNK keys each, PAGE_READS chunks at most). A chunk may hold more matches than the
   * page takes: the page's `next` is then "<matches of that chunk already shown>:<the cursor the
   * chunk was read from>", and the next page reads that chunk again and skips them (a chunk read
   * again from the same cursor holds the same keys, unless Redis resized its table meanwhile: a
   * job may then be shown twice or not at all, as with any scan).
   */
  private async endedJobs(ref: QueueRef, state: JobSummary['state'], limit: number, cursor: string | undefined): Promise<JobPage> {
    const colon = cursor === undefined ? 1 : cursor.indexOf(':');
    const shown = cursor === undefined ? 0 : Number(cursor.slice(0, colon));
    if (cursor !== undefined && (colon < 0 || !/^\d{1,4}$/.test(cursor.slice(0, colon)) || shown >= ENDED_CHUNK)) {
      throw new ConfigError('cursor', "a page's 'next' of ended jobs", cursor);
    }
    let at = cursor === undefined ? undefined : cursor.slice(colon + 1) || undefined;
    let skip = shown;
    const rows: JobRow[] = [];
    let next: string | undefined;
    for (let reads = 0; reads < PAGE_READS; reads++) {
      const chunk = await this.app.inspector.scanJobs(ref, 'ended', { cursor: at, count: ENDED_CHUNK, newest: true });
      const matches = chunk.jobs.filter((j) => j.state === state);
      const taken = matches.slice(skip, skip + limit - rows.length);
      rows.push(...taken.map((j) => this.row(ref, j)));
      if (skip + taken.length < matches.length) {
        // The page is full within this chunk: the next one reads it again, past these.
        next = `${skip + taken.length}:${at ?? ''}`;
        break;
      }
      skip = 0;
      at = chunk.cursor;
      next = at === undefined ? undefined : `0:${at}`;
      if (at === undefined) break;
      if (rows.length >= limit) break;
    }
    rows.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
    return next === undefined ? { jobs: rows } : { jobs: rows, next };
  }

  private row(ref: QueueRef, s: JobSummary): JobRow {
    let task: string | undefined;
    let attempt: number | undefined;
    let finishedAt: number | undefined;
    let priority = ref.levels[s.level];
    if (s.header !== undefined) {
      try {
        const h = decodeHeader(s.header);
        task = h.task;
        attempt = h.attempt;
      } catch {
        // A malformed entry: listed without its task; the worker dead-letters it.
      }
    }
    if (s.result !== undefined) {
      try {
        const rec = decodeResult(s.result);
        task = rec.meta.task;
        attempt = rec.meta.attempts;
        finishedAt = rec.meta.finishedAt;
        priority = rec.meta.p;
      } catch {
        // An unreadable record: listed by id only.
      }
    }
    return { id: s.id, state: s.state, priority, task, attempt, dueAt: s.dueAt, worker: s.owner, finishedAt };
  }

  /** A job's info, progress and log lines; undefined when no such job is known. */
  async job(queue: string, id: string): Promise<JobDetail | undefined> {
    const handle = this.app.job(queue, id);
    let info: JobInfo;
    try {
      info = await handle.info();
    } catch (err) {
      if ((err as Error).name === 'JobNotFoundError') return undefined;
      throw err;
    }
    const [progress, logs] = await Promise.all([handle.progress(), handle.logs()]);
    return { ...info, args: this.redacted(info.args, queue, id, info.task), progress, logs };
  }

  /** The queues holding a job of this exact id (automatic ids may repeat across queues). */
  async findJob(id: string): Promise<{ queue: string; id: string; queues: string[] } | undefined> {
    const jobs = await this.app.findJobs(id);
    return jobs.length === 0 ? undefined : { queue: jobs[0]!.queue, id, queues: jobs.map((j) => j.queue) };
  }

  async abort(queue: string, id: string): Promise<string> {
    return this.app.job(queue, id).abort();
  }

  /** Makes a delayed job ready now; false when it is not delayed. */
  async promote(queue: string, id: string): Promise<boolean> {
    return this.app.job(queue, id).promote();
  }

  /** Pauses (workers stop fetching; running jobs finish) or resumes a queue; answers whether it is paused now. */
  async setPaused(queue: string, paused: boolean): Promise<boolean> {
    if (paused) await this.app.pause(queue);
    else await this.app.resume(queue);
    return this.app.isPaused(queue);
  }

  /** The queue's fair groups with jobs waiting or paused, by key (with their own limits). */
  async groups(queue: string, limit: number): Promise<GroupSummary[]> {
    return this.app.groups(queue, { limit });
  }

  /** Pauses or resumes one group of a queue (one script sets the mark: what it was asked is what holds). */
  async setGroupPaused(queue: string, group: string, paused: boolean): Promise<boolean> {
    if (paused) await this.app.pauseGroup(queue, group);
    else await this.app.resumeGroup(queue, group);
    return paused;
  }

  async deadLetters(queue: string, limit: number, after: string | undefined): Promise<{ entries: DeadLetterView[]; count: number; next?: string }> {
    const dlq = this.app.deadLetters(queue);
    const ref = await this.ref(queue);
    const [entries, count] = await Promise.all([dlq.list({ limit: limit + 1, after }), dlq.count()]);
    const shown = entries.slice(0, limit).map((e) => this.deadLetter(ref, e));
    return entries.length > limit ? { entries: shown, count, next: shown.at(-1)!.dlqId } : { entries: shown, count };
  }

  private deadLetter(ref: QueueRef, e: DeadLetterEntry): DeadLetterView {
    const view: DeadLetterView = {
      dlqId: e.dlqId, id: e.id, task: e.task, queue: e.queue, priority: ref.levels[e.level], reason: e.reason, error: e.error,
      stack: e.stack, attempts: e.attempts, worker: e.worker, failedAt: e.failedAt, args: undefined,
    };
    try {
      view.args = this.redacted(this.app.serializer.decode(e.data), e.queue, e.id, e.task);
    } catch {
      view.undecodable = true;
    }
    return view;
  }

  async deadLetterShow(queue: string, dlqId: string): Promise<DeadLetterView | undefined> {
    const e = await this.app.deadLetters(queue).show(dlqId);
    return e ? this.deadLetter(await this.ref(queue), e) : undefined;
  }

  replay(queue: string, dlqIds: string[] | 'all'): Promise<string[]> {
    return this.app.deadLetters(queue).replay(dlqIds);
  }

  deleteDeadLetters(queue: string, dlqIds: string[]): Promise<number> {
    return this.app.deadLetters(queue).delete(dlqIds);
  }

  purge(queue: string): Promise<number> {
    return this.app.deadLetters(queue).purge();
  }

  schedules(): Promise<ScheduleInfo[]> {
    return this.app.listSchedules();
  }

  /** Events after the given cursors (a reconnecting stream's catch-up), at most `count` per queue. */
  async eventsAfter(after: Record<string, string>, count: number): Promise<StoredEvent[]> {
    const queues = Object.keys(after);
    if (queues.length === 0) return [];
    return (await this.app.readEvents({ queues, after, count })).events;
  }

  /** Follows the event streams of `queues` from `after` (default: now) until the signal aborts. */
  follow(queues: string[], after: Record<string, string>, signal: AbortSignal): AsyncGenerator<StoredEvent> {
    return this.app.subscribe({ queues, after, signal });
  }

  /** A redactor is set: arguments are shown (and searched) only as it returns them. */
  get redacts(): boolean {
    return this.redact !== undefined;
  }

  /** Arguments as the page shows them (through the redactor, when one is set). */
  shownArgs(args: unknown, queue: string, id: string, task: string | undefined): unknown {
    return this.redacted(args, queue, id, task);
  }

  private redacted(args: unknown, queue: string, id: string, task: string | undefined): unknown {
    return this.redact && args !== undefined ? this.redact(args, { queue, id, task }) : args;
  }
}
