// The dashboard's actions (POST, JSON bodies): replay, delete and purge dead letters, abort a
// job, pause and resume a queue. The guards in security.ts ran before them (read-only, CSRF); each one is logged with who
// asked, what, and what came of it.

import type { Context, Hono } from 'hono';
import type { OverseerData } from './data.js';
import type { ResolvedOverseerOptions } from './options.js';
import { BadRequest, DLQ_ID, queueParam } from './routes.js';
import type { Env } from './security.js';

/** Dead letters one request may name (replay-all has no such limit: it runs in batches of 500). */
const MAX_IDS = 1000;

async function body(c: Context): Promise<Record<string, unknown>> {
  if (!(c.req.header('Content-Type') ?? '').toLowerCase().startsWith('application/json')) {
    throw new BadRequest("actions take a JSON body: send 'Content-Type: application/json'");
  }
  let parsed: unknown;
  try {
    parsed = await c.req.json();
  } catch {
    throw new BadRequest('the request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('the request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function dlqIds(b: Record<string, unknown>): string[] {
  const ids = b.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS || !ids.every((id) => typeof id === 'string' && DLQ_ID.test(id))) {
    throw new BadRequest(`field 'ids' must be an array of 1 to ${MAX_IDS} dead-letter ids like 1718000000000-0`);
  }
  return ids as string[];
}

export function actionRoutes(api: Hono<Env>, data: OverseerData, o: ResolvedOverseerOptions): void {
  const logged = (c: Context<Env>, action: string, fields: Record<string, unknown>) =>
    o.log.info({ who: c.get('who'), action, at: new Date().toISOString(), ...fields }, `overseer: ${action}`);

  api.post('/dlq/:queue/replay', async (c) => {
    const queue = await queueParam(c, data);
    const b = await body(c);
    const ids = b.all === true ? 'all' : dlqIds(b);
    const replayed = await data.replay(queue, ids);
    logged(c, 'dlq.replay', { queue, ids, replayed: replayed.length });
    return c.json({ replayed });
  });

  api.post('/dlq/:queue/delete', async (c) => {
    const queue = await queueParam(c, data);
    const ids = dlqIds(await body(c));
    const deleted = await data.deleteDeadLetters(queue, ids);
    logged(c, 'dlq.delete', { queue, ids, deleted });
    return c.json({ deleted });
  });

  api.post('/dlq/:queue/purge', async (c) => {
    const queue = await queueParam(c, data);
    const b = await body(c);
    if (b.confirm !== queue) throw new BadRequest(`field 'confirm' must be the queue's name ('${queue}') to purge its dead letters`);
    const purged = await data.purge(queue);
    logged(c, 'dlq.purge', { queue, purged });
    return c.json({ purged });
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    api.post(`/queues/:queue/${action}`, async (c) => {
      const queue = await queueParam(c, data);
      await body(c);
      const now = await data.setPaused(queue, paused);
      logged(c, `queue.${action}`, { queue, paused: now });
      return c.json({ queue, paused: now });
    });
  }

  /** An action on one job: done, logged, and answered; `missing` says why there was nothing to do it to (404). */
  const jobAction = <R extends Record<string, unknown>>(action: string, run: (queue: string, id: string) => Promise<R>, missing: (queue: string, id: string, out: R) => string | undefined) =>
    api.post(`/jobs/:queue/:id/${action}`, async (c) => {
      const queue = await queueParam(c, data);
      await body(c);
      const id = c.req.param('id');
      const out = await run(queue, id);
      logged(c, `job.${action}`, { queue, id, ...out });
      const why = missing(queue, id.slice(0, 200), out);
      if (why) throw new BadRequest(why, 404);
      return c.json(out);
    });

  jobAction('abort', async (queue, id) => ({ outcome: await data.abort(queue, id) }),
    (queue, id, { outcome }) => (outcome === 'not_found' ? `no job '${id}' waiting, delayed or running in queue '${queue}'` : undefined));
  jobAction('promote', async (queue, id) => ({ promoted: await data.promote(queue, id) }),
    (queue, id, { promoted }) => (promoted ? undefined : `no delayed job '${id}' in queue '${queue}' (it is ready, running or ended already)`));
}
