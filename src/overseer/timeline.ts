// A job's attempts, told by its queue's event stream: job.enqueued, then per attempt job.started
// and its outcome (job.completed, job.failed with willRetry, job.retried, job.dead, job.aborted).
// Only the job's time window is read: event cursors are stream ids that begin with the server's
// ms, so the read starts at the job's enqueue time and stops past its end (or now), in chunks,
// at most a bounded number of them; the answer says `partial` when that bound was hit or the
// stream no longer holds the job's start (it is capped: 10,000 entries per queue by default).

import type { Hono } from 'hono';
import type { EventReader, StoredEvent } from '../broker/types.js';
import type { JobInfo } from '../types.js';
import type { OverseerData } from './data.js';
import { BadRequest, queueParam } from './routes.js';
import type { Env } from './security.js';
import type { AttemptView, TimelineView } from './views.js';

export type { AttemptOutcome, AttemptView, TimelineEvent, TimelineView } from './views.js';

export interface TimelineBounds {
  /** Stream entries per read (per stream: a sharded queue has one per shard). */
  chunk: number;
  /** Reads at most, after which the answer is partial. */
  maxChunks: number;
}

export const TIMELINE_BOUNDS: TimelineBounds = { chunk: 500, maxChunks: 10 };

/** Read from this much before the enqueue time (clocks of the writers differ a little). */
const BEFORE_MS = 1000;
/** ...to this much after the end: workers write their events in batches, a moment later. */
const AFTER_MS = 5000;

const msOf = (cursor: string) => Number(cursor.slice(0, cursor.indexOf('-')));

/** A job's attempts from its queue's events; undefined when there is no such job. */
export async function jobTimeline(
  data: OverseerData, queue: string, id: string, bounds: TimelineBounds = TIMELINE_BOUNDS, now = Date.now(), shared?: EventReader,
): Promise<TimelineView | undefined> {
  let info: JobInfo;
  try {
    info = await data.app.job(queue, id).info();
  } catch (err) {
    if ((err as Error).name === 'JobNotFoundError') return undefined;
    throw err;
  }
  const fromMs = info.enqueuedAt === undefined ? undefined : Math.max(0, info.enqueuedAt - BEFORE_MS);
  const toMs = (info.finishedAt ?? now) + AFTER_MS;
  const view: TimelineView = {
    queue, id, status: info.status, enqueuedAt: info.enqueuedAt, enqueuedEventAt: undefined, attempts: [], events: [],
    partial: false, reasons: [], read: { fromMs, toMs, chunks: 0, events: 0 },
  };
  const partial = (reason: string) => {
    view.partial = true;
    view.reasons.push(reason);
  };
  if (data.app.eventsMaxLen === 0) {
    partial('events are off for this app (events: 0): nothing to read');
    return view;
  }
  if (fromMs === undefined) partial('the enqueue time is unknown: read from the start of the stream');

  // The dashboard's reader is shared by its requests (plain reads, none blocks); a caller
  // without one gets a reader for this call.
  const reader = shared ?? data.app.broker.eventReader();
  let mine: StoredEvent[];
  let trimmed: boolean;
  try {
    ({ mine, trimmed } = await readWindow(reader, queue, id, fromMs, toMs, bounds, view, partial));
  } finally {
    if (!shared) await reader.close();
  }
  for (const e of mine) {
    const ev = e.event as { attempt?: number; worker?: string };
    view.events.push({ cursor: e.cursor, type: e.event.type, at: e.event.at, ...(ev.attempt !== undefined && { attempt: ev.attempt }), ...(ev.worker !== undefined && { worker: ev.worker }) });
  }
  view.enqueuedEventAt = mine.find((e) => e.event.type === 'job.enqueued')?.event.at;
  if (trimmed && view.enqueuedEventAt === undefined) partial("the event stream was trimmed past the job's enqueue: its first events are gone");
  view.attempts = attemptsOf(mine, info);
  return view;
}

/** The job's events between the cursors of fromMs and toMs, within the bounds. */
async function readWindow(
  reader: EventReader, queue: string, id: string, fromMs: number | undefined, toMs: number, bounds: TimelineBounds,
  view: TimelineView, partial: (reason: string) => void,
): Promise<{ mine: StoredEvent[]; trimmed: boolean }> {
  // The streams behind the queue (one per shard of a sharded queue), and whether one's oldest
  // event is later than the job's enqueue (a capped stream drops its oldest entries).
  const streams = Object.keys(await reader.latest([queue]));
  const start = fromMs === undefined ? '0-0' : `${fromMs}-0`;
  let trimmed = false;
  if (fromMs !== undefined) {
    const oldest = await reader.read(Object.fromEntries(streams.map((s) => [s, '0-0'])), 1);
    trimmed = oldest.some((e) => msOf(e.cursor) > fromMs + BEFORE_MS);
  }
  const cursors: Record<string, string> = Object.fromEntries(streams.map((s) => [s, start]));
  const open = new Set(streams);
  const mine: StoredEvent[] = [];
  while (open.size > 0) {
    if (view.read.chunks >= bounds.maxChunks) {
      partial(`stopped after ${bounds.maxChunks} reads of ${bounds.chunk} entries: the queue had more events in the job's window`);
      break;
    }
    const events = await reader.read(Object.fromEntries([...open].map((s) => [s, cursors[s]!])), bounds.chunk);
    view.read.chunks++;
    view.read.events += events.length;
    const advanced = new Set<string>();
    for (const e of events) {
      if (!open.has(e.queue)) continue;
      if (msOf(e.cursor) > toMs) {
        open.delete(e.queue); // past the window: the rest of this stream is later still
        continue;
      }
      advanced.add(e.queue);
      cursors[e.queue] = e.cursor;
      if ((e.event as { id?: string }).id === id) mine.push(e);
    }
    // A stream that gave nothing (new) is read to its end.
    for (const s of [...open]) if (!advanced.has(s)) open.delete(s);
  }
  return { mine, trimmed };
}

/** The attempts the events tell, in order; an attempt started twice (recovered) is listed twice. */
export function attemptsOf(events: StoredEvent[], info: Pick<JobInfo, 'status'>): AttemptView[] {
  const attempts: AttemptView[] = [];
  const find = (n: number | undefined) => {
    for (let i = attempts.length - 1; i >= 0; i--) if (n === undefined || attempts[i]!.attempt === n) return attempts[i];
    return undefined;
  };
  const ended = (a: AttemptView, at: number, durationMs?: number) => {
    a.endedAt = at;
    a.durationMs = durationMs ?? (a.startedAt === undefined ? undefined : at - a.startedAt);
  };
  for (const { event: e } of events) {
    switch (e.type) {
      case 'job.started': {
        const previous = find(undefined);
        if (previous?.outcome === 'running') previous.outcome = 'interrupted';
        attempts.push({ attempt: e.attempt, worker: e.worker, startedAt: e.at, endedAt: undefined, durationMs: undefined, outcome: 'running', error: undefined });
        break;
      }
      case 'job.completed': {
        const a = find(e.attempt) ?? add(attempts, e.attempt, e.worker);
        a.outcome = 'completed';
        ended(a, e.at, e.durationMs);
        break;
      }
      case 'job.failed': {
        const a = find(e.attempt) ?? add(attempts, e.attempt, e.worker);
        a.outcome = e.willRetry ? 'retried' : 'failed';
        a.error = e.error;
        ended(a, e.at, e.durationMs);
        break;
      }
      case 'job.retried': {
        const a = find(e.attempt) ?? add(attempts, e.attempt, e.worker);
        a.outcome = 'retried';
        a.retryDelayMs = e.delayMs;
        a.error ??= e.error;
        a.endedAt ??= e.at;
        break;
      }
      case 'job.dead': {
        // Attempt 0: a job that could not be read, dead-lettered unrun.
        const a = find(e.attempt) ?? add(attempts, e.attempt, e.worker);
        a.outcome = 'dead';
        a.deadReason = e.reason;
        a.error ??= e.error;
        if (a.endedAt === undefined) ended(a, e.at);
        break;
      }
      case 'job.aborted': {
        const a = find(undefined);
        // Aborted before it ever started: no attempt to show.
        if (!a || (a.outcome !== 'running' && a.outcome !== 'retried')) break;
        if (a.outcome === 'running') ended(a, e.at);
        a.outcome = 'aborted';
        break;
      }
      default:
        break;
    }
  }
  // A job that is no longer running whose last attempt shows no outcome: its event was not read.
  const last = attempts.at(-1);
  if (last?.outcome === 'running' && info.status !== 'active') last.outcome = 'unknown';
  for (const a of attempts.slice(0, -1)) if (a.outcome === 'running') a.outcome = 'interrupted';
  return attempts;
}

function add(attempts: AttemptView[], attempt: number, worker: string | undefined): AttemptView {
  const a: AttemptView = { attempt, worker, startedAt: undefined, endedAt: undefined, durationMs: undefined, outcome: 'unknown', error: undefined };
  attempts.push(a);
  return a;
}

/** GET /api/jobs/:queue/:id/timeline (three segments after /jobs: no clash with /jobs/:queue/:id). */
/**
 * The timeline route. Its requests share one event reader (one connection, opened at the first
 * request: connecting per request cost more than the reads), closed by the returned close().
 */
export function timelineRoutes(api: Hono<Env>, data: OverseerData): { close(): Promise<void> } {
  let reader: EventReader | undefined;
  let closed = false;
  api.get('/jobs/:queue/:id/timeline', async (c) => {
    const queue = await queueParam(c, data);
    const id = c.req.param('id');
    if (closed) throw new BadRequest('the dashboard is closing', 503);
    reader ??= data.app.broker.eventReader();
    const view = await jobTimeline(data, queue, id, TIMELINE_BOUNDS, Date.now(), reader);
    if (!view) throw new BadRequest(`no job '${id.slice(0, 200)}' in queue '${queue}' (finished jobs are kept while their result is)`, 404);
    return c.json(view);
  });
  return {
    close: async () => {
      closed = true;
      await reader?.close();
    },
  };
}
