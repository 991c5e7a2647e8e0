// The dashboard's read API (JSON) and its live stream: every handler reads through OverseerData
// and answers a bad parameter with a 400 naming it and what it accepts.

import type { Context, Hono } from 'hono';
import type { JobSummary } from '../broker/types.js';
import { JOB_STATES, type OverseerData } from './data.js';
import type { LiveHub } from './live.js';
import type { ResolvedOverseerOptions } from './options.js';
import type { Env } from './security.js';
import { eventStream } from './sse.js';
import { searchFilter, searchResponse, Searcher } from './search.js';

/** A request the API refuses, with the status and message to answer. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 503 = 400,
  ) {
    super(message);
  }
}

/** A dead letter's id: a stream entry id, `@<shard>` after it for a sharded queue's (as listed). */
export const DLQ_ID = /^\d{1,15}-\d{1,15}(@\d{1,3})?$/;

/** An integer query parameter within bounds, or its default. */
export function intParam(c: Context, name: string, min: number, max: number, fallback: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new BadRequest(`query parameter '${name}' must be an integer from ${min} to ${max} (got '${raw.slice(0, 40)}')`);
  return n;
}

/** The queue of the path, which must be known (defined here or seen under the prefix). */
export async function queueParam(c: Context, data: OverseerData): Promise<string> {
  const queue = c.req.param('queue') ?? '';
  if (!(await data.hasQueue(queue))) throw new BadRequest(`unknown queue '${queue.slice(0, 100)}' under prefix '${data.app.prefix}'`, 404);
  return queue;
}

export function readRoutes(api: Hono<Env>, data: OverseerData, hub: LiveHub, o: ResolvedOverseerOptions): void {
  api.get('/meta', (c) => c.json({ readOnly: o.readOnly, prefix: data.app.prefix, intervalMs: o.intervalMs, staleAfterMs: o.staleAfterMs }));

  // The queues' names, for the pages' lists (one read of the registry).
  api.get('/queues', async (c) => c.json({ queues: await data.queueNames() }));

  api.get('/overview', async (c) => {
    const [names, entries] = await Promise.all([data.queueNames(), data.app.workers()]);
    return c.json({ at: Date.now(), queues: await data.queues(names, entries), workers: data.workerViews(entries) });
  });

  api.get('/queues/:queue/jobs', async (c) => {
    const queue = await queueParam(c, data);
    const status = c.req.query('status') ?? 'waiting';
    if (!JOB_STATES.includes(status as JobSummary['state'])) throw new BadRequest(`query parameter 'status' must be one of ${JOB_STATES.join(', ')} (got '${status.slice(0, 40)}')`);
    const limit = intParam(c, 'limit', 1, 200, 50);
    const cursor = c.req.query('cursor') || undefined;
    if (cursor !== undefined && cursor.length > 2000) throw new BadRequest("query parameter 'cursor' must be a page's 'next' as given");
    try {
      return c.json({ queue, status, ...(await data.jobs(queue, status as JobSummary['state'], limit, cursor)) });
    } catch (err) {
      if ((err as Error).name === 'ConfigError') throw new BadRequest(`query parameter 'cursor' must be a page's 'next' as given (got '${cursor?.slice(0, 40)}')`);
      throw err;
    }
  });

  // Before /jobs/:queue/:id, which would take 'find' for a queue.
  api.get('/jobs/find/:id', async (c) => {
    const found = await data.findJob(c.req.param('id'));
    if (!found) throw new BadRequest(`no job '${c.req.param('id').slice(0, 200)}' in any queue (finished jobs are found while their result is kept)`, 404);
    return c.json(found);
  });

  api.get('/jobs/:queue/:id', async (c) => {
    const queue = await queueParam(c, data);
    const job = await data.job(queue, c.req.param('id'));
    if (!job) throw new BadRequest(`no job '${c.req.param('id').slice(0, 200)}' in queue '${queue}' (finished jobs are kept while their result is)`, 404);
    return c.json(job);
  });

  api.get('/workers', async (c) => c.json({ workers: await data.workers() }));

  // A queue's fair groups with jobs waiting or paused (docs/flow-control.md#fair-groups).
  api.get('/queues/:queue/groups', async (c) => {
    const queue = await queueParam(c, data);
    return c.json({ queue, groups: await data.groups(queue, intParam(c, 'limit', 1, 1000, 200)) });
  });

  api.get('/dlq/:queue', async (c) => {
    const queue = await queueParam(c, data);
    const after = c.req.query('after') || undefined;
    if (after !== undefined && !DLQ_ID.test(after)) throw new BadRequest(`query parameter 'after' must be a dead-letter id like 1718000000000-0 (got '${after.slice(0, 40)}')`);
    const limit = intParam(c, 'limit', 1, 500, 50);
    return c.json({ queue, ...(await data.deadLetters(queue, limit, after)) });
  });

  api.get('/dlq/:queue/:dlqId', async (c) => {
    const queue = await queueParam(c, data);
    const dlqId = c.req.param('dlqId');
    if (!DLQ_ID.test(dlqId)) throw new BadRequest(`'${dlqId.slice(0, 40)}' is not a dead-letter id (they look like 1718000000000-0)`);
    const entry = await data.deadLetterShow(queue, dlqId);
    if (!entry) throw new BadRequest(`no dead letter '${dlqId}' in queue '${queue}'`, 404);
    return c.json(entry);
  });

  // Streams NDJSON: matches as found, progress per chunk; the client cancels by closing it.
  api.get('/search', async (c) =>
    searchResponse(new Searcher(data), await searchFilter(c, data), c.req.raw.signal, (err) => o.log.warn({ err }, 'overseer: a search failed')),
  );

  api.get('/cron', async (c) => c.json({ schedules: await data.schedules() }));

  api.get('/events', (c) => eventStream(hub, data, o.log, c.req.header('Last-Event-ID') ?? null, c.req.raw.signal));
}
