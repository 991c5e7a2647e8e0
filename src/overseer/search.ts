// Search over the queues' jobs: by task, status and time window, and a substring of the
// payload. It walks each queue a chunk at a time through the Inspector (one bounded read per
// chunk, so Redis is never held long), yields matches as it finds them and how much it has
// read, and stops when the caller's signal aborts (the page's Cancel, or the tab closing).

import type { Context } from 'hono';
import type { DeadLetterEntry, ScannedJob, ScanPlace } from '../broker/types.js';
import { decodeHeader, headerIdAndTask } from '../envelope.js';
import { decodeResult } from '../results.js';
import type { OverseerData } from './data.js';
import { BadRequest, intParam } from './routes.js';
import type { SearchHit, SearchMessage, SearchStatus } from './types.js';

export const SEARCH_STATUSES: readonly SearchStatus[] = ['waiting', 'active', 'delayed', 'dead', 'completed', 'failed', 'aborted', 'expired'];

/**
 * Entries read per Redis call, by place: as many as keep one call to about a millisecond or two
 * of Redis time (benchmarked: 1,000 ready entries are one light XRANGE; 1,000 delayed jobs are
 * a script of 1,000 HMGETs, and 1,000 dead letters or results carry errors and stacks, about
 * 5 ms each).
 */
export const SEARCH_CHUNK: Readonly<Record<ScanPlace | 'dead', number>> = { ready: 1000, delayed: 250, dead: 250, ended: 250 };

/** At most this many matches per search (the page asks for fewer). */
export const MAX_MATCHES = 1000;

const SNIPPET = 60;

export interface SearchFilter {
  /** Queues to search, in order. */
  queues: string[];
  status?: SearchStatus;
  /** Exact task name. */
  task?: string;
  /** A substring of the arguments (as JSON), the job id, or for ended and dead jobs the error. */
  text?: string;
  /** Time window, epoch ms, both ends included: enqueued (waiting, running), due (delayed), failed (dead), finished (ended). */
  from?: number;
  to?: number;
  /** Dead letters only: exact reason (e.g. 'failed', 'timeout', 'malformed'). */
  reason?: string;
  limit: number;
}

/** The places a status is found in (every place without a status). */
function placesOf(status: SearchStatus | undefined): (ScanPlace | 'dead')[] {
  if (status === 'waiting' || status === 'active') return ['ready'];
  if (status === 'delayed') return ['delayed'];
  if (status === 'dead') return ['dead'];
  if (status !== undefined) return ['ended'];
  return ['ready', 'delayed', 'dead', 'ended'];
}

function timeParam(c: Context, name: string): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new BadRequest(`query parameter '${name}' must be epoch ms or an ISO date like 2026-12-03T10:00:00Z (got '${raw.slice(0, 40)}')`);
  return ms;
}

/** The filter of a search request; a bad parameter is a 400 naming it. */
export async function searchFilter(c: Context, data: OverseerData): Promise<SearchFilter> {
  const queue = c.req.query('queue') || undefined;
  const names = await data.queueNames();
  if (queue !== undefined && !names.includes(queue)) throw new BadRequest(`unknown queue '${queue.slice(0, 100)}' under prefix '${data.app.prefix}'`, 404);
  const status = (c.req.query('status') || undefined) as SearchStatus | undefined;
  if (status !== undefined && !SEARCH_STATUSES.includes(status)) {
    throw new BadRequest(`query parameter 'status' must be one of ${SEARCH_STATUSES.join(', ')} (got '${status.slice(0, 40)}')`);
  }
  const text = c.req.query('text') || undefined;
  if (text !== undefined && text.length > 200) throw new BadRequest(`query parameter 'text' must be at most 200 characters (got ${text.length})`);
  const filter: SearchFilter = {
    queues: queue === undefined ? names : [queue], status, task: c.req.query('task') || undefined, text,
    from: timeParam(c, 'from'), to: timeParam(c, 'to'), reason: c.req.query('reason') || undefined, limit: intParam(c, 'limit', 1, MAX_MATCHES, 100),
  };
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) throw new BadRequest("query parameter 'from' must not be after 'to'");
  return filter;
}

/** A piece of `haystack` around `needle` (or its start), for the results list. */
function snippet(haystack: string, needle: string | undefined): string {
  const at = needle ? haystack.indexOf(needle) : 0;
  const from = Math.max(0, at - SNIPPET / 2);
  const piece = haystack.slice(from, from + SNIPPET + (needle?.length ?? 0));
  return `${from > 0 ? '…' : ''}${piece}${from + piece.length < haystack.length ? '…' : ''}`;
}

export class Searcher {
  constructor(private readonly data: OverseerData) {}

  /** Arguments as text for matching and showing: the serialized JSON itself, or decoded (and always when a redactor is set, so a search never finds what the page would hide). */
  private argsText(raw: string | Buffer | undefined, queue: string, id: string, task: string | undefined): string {
    if (raw === undefined) return '';
    if (typeof raw === 'string' && !this.data.redacts && this.data.app.serializer.name === 'json') return raw;
    try {
      return JSON.stringify(this.data.shownArgs(this.data.app.serializer.decode(raw), queue, id, task)) ?? '';
    } catch {
      return '';
    }
  }

  private inWindow(f: SearchFilter, at: number | undefined): boolean {
    if (f.from === undefined && f.to === undefined) return true;
    if (at === undefined) return false;
    return (f.from === undefined || at >= f.from) && (f.to === undefined || at <= f.to);
  }

  /** A scanned job as a hit, or undefined when the filter leaves it out. */
  hitOfJob(f: SearchFilter, queue: string, j: ScannedJob): SearchHit | undefined {
    if (f.status !== undefined && j.state !== f.status) return undefined;
    if (!this.inWindow(f, j.at)) return undefined;
    let task: string | undefined;
    let attempt: number | undefined;
    let text: string;
    if (j.result !== undefined) {
      try {
        const rec = decodeResult(j.result);
        task = rec.meta.task;
        attempt = rec.meta.attempts;
        if (f.task !== undefined && task !== f.task) return undefined;
        text = this.argsText(rec.args, queue, j.id, task) + (rec.meta.message ? `\n${rec.meta.message}` : '');
      } catch {
        if (f.task !== undefined) return undefined;
        text = '';
      }
    } else {
      if (j.header !== undefined) {
        try {
          const h = decodeHeader(j.header);
          task = h.task;
          attempt = h.attempt;
        } catch {
          task = headerIdAndTask(j.header).task || undefined;
        }
      }
      if (f.task !== undefined && task !== f.task) return undefined;
      text = f.text === undefined ? '' : this.argsText(j.data, queue, j.id, task);
    }
    if (f.text !== undefined && !j.id.includes(f.text) && !text.includes(f.text)) return undefined;
    const hit: SearchHit = { queue, id: j.id, state: j.state, task, attempt, at: j.at };
    if (f.text !== undefined && text.includes(f.text)) hit.snippet = snippet(text, f.text);
    return hit;
  }

  /** A dead letter as a hit, or undefined when the filter leaves it out. */
  hitOfDeadLetter(f: SearchFilter, queue: string, e: DeadLetterEntry): SearchHit | undefined {
    if (f.task !== undefined && e.task !== f.task) return undefined;
    if (f.reason !== undefined && e.reason !== f.reason) return undefined;
    if (!this.inWindow(f, e.failedAt)) return undefined;
    let text = '';
    if (f.text !== undefined) {
      text = `${this.argsText(e.data, queue, e.id, e.task)}\n${e.error}`;
      if (!e.id.includes(f.text) && !text.includes(f.text)) return undefined;
    }
    const hit: SearchHit = { queue, id: e.id, state: 'dead', task: e.task, attempt: e.attempts, at: e.failedAt, dlqId: e.dlqId, reason: e.reason };
    if (f.text !== undefined && text.includes(f.text)) hit.snippet = snippet(text, f.text);
    return hit;
  }

  /** Dead letters of a queue, `chunk` at a time, as the filter keeps them (up to `until`, epoch ms, when given). */
  async *deadLetters(f: SearchFilter, queue: string, signal: AbortSignal, until?: number): AsyncGenerator<{ hits: SearchHit[]; scanned: number }> {
    const chunk = SEARCH_CHUNK.dead;
    const dlq = this.data.app.deadLetters(queue);
    let after: string | undefined;
    while (!signal.aborted) {
      const entries = await dlq.list({ limit: chunk, after });
      // Bulk actions go only as far as what was there when they began.
      const within = until === undefined ? entries : entries.filter((e) => entryMs(e.dlqId) <= until);
      yield { hits: within.flatMap((e) => this.hitOfDeadLetter(f, queue, e) ?? []), scanned: within.length };
      if (entries.length < chunk || within.length < entries.length) return;
      after = entries.at(-1)!.dlqId;
    }
  }

  /** Runs a search: matches as found, progress after every chunk, and a last message saying why it ended. */
  async *run(f: SearchFilter, signal: AbortSignal): AsyncGenerator<SearchMessage> {
    let scanned = 0;
    let matched = 0;
    const started = Date.now();
    const progress = (queue: string, place: string): SearchMessage => ({ type: 'progress', scanned, matched, queue, place, ms: Date.now() - started });
    yield { type: 'start', total: await this.total(f) };
    for (const queue of f.queues) {
      for (const place of placesOf(f.status)) {
        const chunks = place === 'dead' ? this.deadLetters(f, queue, signal) : this.scan(f, queue, place, signal);
        for await (const { hits, scanned: n } of chunks) {
          scanned += n;
          for (const hit of hits) {
            yield { type: 'match', hit };
            if (++matched >= f.limit) return yield { type: 'done', scanned, matched, ms: Date.now() - started, ended: 'limit' };
          }
          yield progress(queue, place);
        }
        if (signal.aborted) return yield { type: 'done', scanned, matched, ms: Date.now() - started, ended: 'cancelled' };
      }
    }
    yield { type: 'done', scanned, matched, ms: Date.now() - started, ended: 'complete' };
  }

  private async *scan(f: SearchFilter, queue: string, place: ScanPlace, signal: AbortSignal): AsyncGenerator<{ hits: SearchHit[]; scanned: number }> {
    const ref = await this.data.ref(queue);
    let cursor: string | undefined;
    do {
      if (signal.aborted) return;
      const chunk = await this.data.app.inspector.scanJobs(ref, place, { cursor, count: SEARCH_CHUNK[place] });
      yield { hits: chunk.jobs.flatMap((j) => this.hitOfJob(f, queue, j) ?? []), scanned: chunk.scanned };
      cursor = chunk.cursor;
    } while (cursor !== undefined);
  }

  /** About how many entries the search will read (ended jobs are not counted: their number is not kept). */
  private async total(f: SearchFilter): Promise<number> {
    const places = placesOf(f.status);
    const counts = await Promise.all(f.queues.map(async (q) => this.data.app.inspector.counts(await this.data.ref(q))));
    return counts.reduce((sum, c) => {
      let n = 0;
      if (places.includes('ready')) n += Object.values(c.waiting).reduce((a, b) => a + b, 0) + c.active;
      if (places.includes('delayed')) n += c.delayed;
      if (places.includes('dead')) n += c.dlq;
      return sum + n;
    }, 0);
  }
}

/** A dead-letter id's time ("<ms>-<seq>", on a sharded queue "…@<shard>"). */
export function entryMs(dlqId: string): number {
  return Number(dlqId.slice(0, dlqId.indexOf('-')));
}

const encoder = new TextEncoder();

/** The search as newline-delimited JSON, one message per line, ended early when the client goes. */
export function searchResponse(searcher: Searcher, f: SearchFilter, signal: AbortSignal, onError: (err: unknown) => void): Response {
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort(), { once: true });
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        for await (const m of searcher.run(f, stop.signal)) {
          if (stop.signal.aborted && m.type !== 'done') continue;
          controller.enqueue(encoder.encode(`${JSON.stringify(m)}\n`));
        }
      } catch (err) {
        onError(err);
        if (!stop.signal.aborted) controller.enqueue(encoder.encode(`${JSON.stringify({ type: 'error', message: (err as Error).message })}\n`));
      }
      if (!stop.signal.aborted) controller.close();
    },
    cancel: () => stop.abort(),
  });
  return new Response(body, { headers: { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' } });
}

/** What a dead-letter filter may name (bulk actions' `{ filter: {...} }`). */
export const DEAD_LETTER_FILTER_FIELDS = ['task', 'reason', 'text', 'from', 'to'] as const;

/**
 * A dead-letter filter from a plain object (a bulk action's JSON body), checked as a search's
 * parameters are: a bad field is a 400 naming it (`filter.<field>`); empty strings count as absent.
 * The result is for `Searcher.deadLetters` (its `queues` and `limit` do not apply there).
 */
export function deadLetterFilter(raw: unknown, queue: string): SearchFilter {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BadRequest(`field 'filter' must be an object of ${DEAD_LETTER_FILTER_FIELDS.join(', ')}`);
  }
  const given = raw as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(DEAD_LETTER_FILTER_FIELDS as readonly string[]).includes(key)) {
      throw new BadRequest(`field 'filter.${key.slice(0, 40)}' is not a dead-letter filter (they are ${DEAD_LETTER_FILTER_FIELDS.join(', ')})`);
    }
  }
  const text = (name: 'task' | 'reason' | 'text'): string | undefined => {
    const v = given[name];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 200) throw new BadRequest(`field 'filter.${name}' must be a string of at most 200 characters`);
    return v;
  };
  const time = (name: 'from' | 'to'): number | undefined => {
    const v = given[name];
    if (v === undefined || v === null || v === '') return undefined;
    const ms = typeof v === 'number' ? v : typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
    if (!Number.isFinite(ms) || ms < 0) throw new BadRequest(`field 'filter.${name}' must be epoch ms or an ISO date like 2026-12-03T10:00:00Z`);
    return ms;
  };
  const f: SearchFilter = { queues: [queue], status: 'dead', task: text('task'), reason: text('reason'), text: text('text'), from: time('from'), to: time('to'), limit: MAX_MATCHES };
  if (f.from !== undefined && f.to !== undefined && f.from > f.to) throw new BadRequest("field 'filter.from' must not be after 'filter.to'");
  return f;
}
