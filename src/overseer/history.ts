// The throughput history of the dashboard: jobs completed and failed for good per minute over
// the last hours, as workers' heartbeats recorded them in Redis (src/broker/history.ts), so it
// survives restarts of the dashboard and of the workers. Read through the app's inspector only:
// one read per queue and day, whatever the number of jobs.

import type { Hono } from 'hono';
import { MINUTE_MS } from '../broker/history.js';
import type { OverseerData } from './data.js';
import { BadRequest, intParam } from './routes.js';
import type { Env } from './security.js';

/** The answer of GET /api/history. */
export interface HistoryView {
  /** The queue asked for, or null: every queue summed. */
  queue: string | null;
  hours: number;
  /** Epoch ms of the first minute; one value per minute from there (the last one still filling). */
  start: number;
  stepMs: number;
  completed: number[];
  failed: number[];
}

export const MAX_HOURS = 168;
export const DEFAULT_HOURS = 24;

/** A queue's history (or every queue's, summed) over the last `hours` up to `nowMs`. */
export async function throughputHistory(data: OverseerData, queue: string | undefined, hours: number, nowMs = Date.now()): Promise<HistoryView> {
  const from = nowMs - hours * 3_600_000;
  const names = queue === undefined ? await data.queueNames() : [queue];
  const all = await Promise.all(names.map(async (name) => data.app.inspector.throughput(await data.ref(name), from, nowMs)));
  const start = Math.floor(from / MINUTE_MS) * MINUTE_MS;
  const minutes = Math.max(1, Math.ceil((nowMs - start) / MINUTE_MS));
  const completed = new Array<number>(minutes).fill(0);
  const failed = new Array<number>(minutes).fill(0);
  for (const h of all) {
    h.completed.forEach((n, i) => (completed[i]! += n));
    h.failed.forEach((n, i) => (failed[i]! += n));
  }
  return { queue: queue ?? null, hours, start, stepMs: MINUTE_MS, completed, failed };
}

/** GET /api/history?queue=<name>&hours=<1..168>: per minute, default the last 24 hours of every queue. */
export function historyRoutes(api: Hono<Env>, data: OverseerData): void {
  api.get('/history', async (c) => {
    const hours = intParam(c, 'hours', 1, MAX_HOURS, DEFAULT_HOURS);
    const queue = c.req.query('queue') || undefined;
    if (queue !== undefined && !(await data.hasQueue(queue))) throw new BadRequest(`unknown queue '${queue.slice(0, 100)}' under prefix '${data.app.prefix}'`, 404);
    return c.json(await throughputHistory(data, queue, hours));
  });
}
