// The dashboard's actions (POST, JSON bodies): replay, delete and purge dead letters (named
// ones at once; all of them or by filter as a bulk operation, bulk.ts, followed by its GET), abort a
// job, pause and resume a queue or one of its fair groups. The guards in security.ts ran before them (read-only, CSRF); each one is logged with who
// asked, what, and what came of it.

import type { Context, Hono } from 'hono';
import { OperationConflict, type BulkOperations, type OperationKind } from './bulk.js';
import type { OverseerData } from './data.js';
import type { ResolvedOverseerOptions } from './options.js';
import { BadRequest, DLQ_ID, queueParam } from './routes.js';
import { deadLetterFilter, type SearchFilter } from './search.js';
import type { Env } from './security.js';

/** Dead letters one request may name (all of them, or a filter, is a bulk operation: no limit). */
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

/** What a bulk action acts on: `{ all: true }` or `{ filter: {...} }`; undefined for `{ ids: [...] }` (done at once). */
function bulkTarget(b: Record<string, unknown>, queue: string): SearchFilter | 'all' | undefined {
  const all = b.all === true;
  if (!all && b.filter === undefined) return undefined;
  if (all && b.filter !== undefined) throw new BadRequest("send either field 'all' or field 'filter', not both");
  if (b.ids !== undefined) throw new BadRequest(`send field 'ids' or field '${all ? 'all' : 'filter'}', not both`);
  if (all) return 'all';
  const f = deadLetterFilter(b.filter, queue);
  if ([f.task, f.reason, f.text, f.from, f.to].every((v) => v === undefined)) {
    throw new BadRequest('field \'filter\' names nothing to match: give task, reason, text, from or to (or send {"all": true})');
  }
  return f;
}

export function actionRoutes(api: Hono<Env>, data: OverseerData, o: ResolvedOverseerOptions, bulk: BulkOperations): void {
  const logged = (c: Context<Env>, action: string, fields: Record<string, unknown>) =>
    o.log.info({ who: c.get('who'), action, at: new Date().toISOString(), ...fields }, `overseer: ${action}`);

  /** Starts a bulk operation (it logs its start and end): 202 with it, or 409 while another runs on the queue. */
  const startBulk = async (c: Context<Env>, kind: OperationKind, queue: string, target: SearchFilter | 'all') => {
    try {
      return c.json({ operation: await bulk.start(kind, queue, target, c.get('who')) }, 202);
    } catch (err) {
      if (err instanceof OperationConflict) return c.json({ error: err.message, operation: err.running }, 409);
      throw err;
    }
  };

  api.post('/dlq/:queue/replay', async (c) => {
    const queue = await queueParam(c, data);
    const b = await body(c);
    const target = bulkTarget(b, queue);
    if (target !== undefined) return startBulk(c, 'replay', queue, target);
    const ids = dlqIds(b);
    const replayed = await data.replay(queue, ids);
    logged(c, 'dlq.replay', { queue, ids, replayed: replayed.length });
    return c.json({ replayed });
  });

  api.post('/dlq/:queue/delete', async (c) => {
    const queue = await queueParam(c, data);
    const b = await body(c);
    const target = bulkTarget(b, queue);
    if (target !== undefined) {
      if (b.confirm !== queue) throw new BadRequest(`field 'confirm' must be the queue's name ('${queue}') to delete its dead letters in bulk`);
      return startBulk(c, 'delete', queue, target);
    }
    const ids = dlqIds(b);
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

  api.get('/operations', (c) => c.json({ operations: bulk.list() }));

  const missing = (id: string) => new BadRequest(`no operation '${id.slice(0, 100)}' (operations are kept in this dashboard process, for an hour after they end)`, 404);

  api.get('/operations/:id', (c) => {
    const operation = bulk.get(c.req.param('id'));
    if (!operation) throw missing(c.req.param('id'));
    return c.json({ operation });
  });

  api.post('/operations/:id/cancel', async (c) => {
    await body(c);
    const operation = await bulk.cancel(c.req.param('id'), c.get('who'));
    if (!operation) throw missing(c.req.param('id'));
    return c.json({ operation });
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

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    api.post(`/queues/:queue/groups/${action}`, async (c) => {
      const queue = await queueParam(c, data);
      const group = (await body(c)).group;
      if (typeof group !== 'string' || group.length < 1 || group.length > 200) throw new BadRequest("field 'group' must be a group key of 1-200 characters");
      const now = await data.setGroupPaused(queue, group, paused);
      logged(c, `group.${action}`, { queue, group, paused: now });
      return c.json({ queue, group, paused: now });
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
