// A small HTTP API (hono) in front of the example app: enqueue its tasks, follow and abort jobs,
// look at queue depths and live workers. createApi(app) builds it for any app with the example's
// tasks (tests mount it without a port); `tsx examples/api.ts` serves it on PORT (default 8000).

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Hono, type Context } from 'hono';
import { ConfigError, type Millrace } from '../src/index.js';

/** One positional argument of a task, as the API accepts it. */
export interface ArgSpec {
  name: string;
  type: 'integer' | 'string';
  min?: number;
  max?: number;
  optional?: boolean;
}

/**
 * The arguments each task takes over HTTP. cleanup_temp_files takes no directory here: a
 * caller must not choose which folder a worker deletes files from.
 */
export const EXAMPLE_TASK_ARGS: Record<string, ArgSpec[]> = {
  system_health_check: [],
  cleanup_temp_files: [{ name: 'daysOld', type: 'integer', min: 0, max: 3650, optional: true }],
  cpu_intensive_task: [{ name: 'limit', type: 'integer', min: 2, max: 5_000_000 }],
  // Below the load_test queue's 60 s job timeout.
  io_simulation_task: [{ name: 'ms', type: 'integer', min: 0, max: 55_000 }],
  memory_operations_task: [{ name: 'size', type: 'integer', min: 1, max: 2_000_000 }],
  failure_testing_task: [{ name: 'reason', type: 'string', max: 200 }],
};

const BODY_FIELDS = ['args', 'delay', 'priority', 'id'] as const;

export interface ApiOptions {
  /** Tasks the API may enqueue, with their arguments (default: the example's). */
  tasks?: Record<string, ArgSpec[]>;
  /** How long /health waits for Redis before calling it down (default 2000 ms). */
  healthTimeoutMs?: number;
}

function rangeText(spec: ArgSpec): string {
  if (spec.type === 'integer') return ` ${spec.min ?? '-inf'}..${spec.max ?? 'inf'}`;
  return spec.max !== undefined ? ` of at most ${spec.max} characters` : '';
}

function describeSpec(spec: ArgSpec): string {
  return `${spec.name}${spec.optional ? '?' : ''}: ${spec.type}${rangeText(spec)}`;
}

/** `task(arg: type range, ...)`, for error messages and GET /tasks. */
export function usage(task: string, specs: ArgSpec[]): string {
  return `${task}(${specs.map(describeSpec).join(', ')})`;
}

/** The problems with `args` for these specs (empty when they are fine). */
function checkArgs(args: unknown[], specs: ArgSpec[]): string[] {
  const required = specs.filter((s) => !s.optional).length;
  if (args.length < required || args.length > specs.length) {
    const count = required === specs.length ? `${specs.length}` : `${required} to ${specs.length}`;
    return [`expected ${count} argument(s), got ${args.length}`];
  }
  const problems: string[] = [];
  args.forEach((value, i) => {
    const spec = specs[i]!;
    const ok = spec.type === 'integer'
      ? typeof value === 'number' && Number.isInteger(value)
        && (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max)
      : typeof value === 'string' && (spec.max === undefined || value.length <= spec.max);
    if (!ok) {
      const kind = spec.type === 'integer' ? 'an integer' : 'a string';
      problems.push(`args[${i}] (${spec.name}): expected ${kind}${rangeText(spec)}, got ${JSON.stringify(value)}`);
    }
  });
  return problems;
}

function badRequest(c: Context, error: string, message: string, accepted?: unknown) {
  return c.json({ error, message, ...(accepted === undefined ? {} : { accepted }) }, 400);
}

/** Rejects after `ms` so a /health call never hangs on an unreachable Redis. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The HTTP API over a Millrace app that defines the example's queues and tasks. */
export function createApi<D>(app: Millrace<D>, options: ApiOptions = {}): Hono {
  const taskArgs = options.tasks ?? EXAMPLE_TASK_ARGS;
  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  // Only tasks that both the API describes and the app defines can be enqueued.
  const accepted = Object.keys(taskArgs).filter((name) => app.taskNamed(name));
  const api = new Hono();

  api.get('/tasks', (c) =>
    c.json({
      tasks: accepted.map((name) => ({ name, queue: app.taskNamed(name)!.queue.name, usage: usage(name, taskArgs[name]!) })),
    }),
  );

  api.post('/jobs/:task', async (c) => {
    const name = c.req.param('task');
    const specs = taskArgs[name];
    const task = specs ? app.taskNamed(name) : undefined;
    if (!specs || !task) {
      return badRequest(c, 'unknown_task', `unknown task '${name}'; accepted: ${accepted.join(', ')}`, accepted);
    }
    const text = await c.req.text();
    let body: unknown = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        return badRequest(c, 'invalid_json', `the body is not JSON; send an object like {"args": [...], "delay": "10s", "priority": "high", "id": "..."}`);
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return badRequest(c, 'invalid_body', `the body must be a JSON object with the fields ${BODY_FIELDS.join(', ')}`, BODY_FIELDS);
    }
    const fields = body as Record<string, unknown>;
    const extra = Object.keys(fields).filter((k) => !(BODY_FIELDS as readonly string[]).includes(k));
    if (extra.length) {
      return badRequest(c, 'invalid_body', `unknown field(s) ${extra.join(', ')}; accepted: ${BODY_FIELDS.join(', ')}`, BODY_FIELDS);
    }
    const args = fields.args ?? [];
    if (!Array.isArray(args)) {
      return badRequest(c, 'invalid_args', `args must be an array: ${usage(name, specs)}`, usage(name, specs));
    }
    const problems = checkArgs(args, specs);
    if (problems.length) {
      return badRequest(c, 'invalid_args', `${problems.join('; ')}; accepted: ${usage(name, specs)}`, usage(name, specs));
    }
    const { delay, priority, id } = fields;
    if (delay !== undefined && !(typeof delay === 'string' || (typeof delay === 'number' && delay >= 0))) {
      return badRequest(c, 'invalid_option', `delay must be milliseconds (a number >= 0) or a duration like '30s', got ${JSON.stringify(delay)}`);
    }
    const levels = task.queue.levels;
    if (priority !== undefined && (typeof priority !== 'string' || !levels.includes(priority))) {
      return badRequest(c, 'invalid_option', `priority must be one of ${levels.join(', ')}, got ${JSON.stringify(priority)}`, levels);
    }
    if (id !== undefined && typeof id !== 'string') {
      return badRequest(c, 'invalid_option', `id must be a string, got ${JSON.stringify(id)}`);
    }
    try {
      const job = await task.with({ delay: delay as string | number | undefined, priority, id }).enqueue(...args);
      return c.json({ id: job.id, queue: job.queue, task: name, created: job.created }, job.created ? 202 : 200);
    } catch (err) {
      // Options the client validates itself (bad durations, ids): the message says what is accepted.
      if (err instanceof ConfigError) return badRequest(c, 'invalid_option', err.message);
      throw err;
    }
  });

  api.get('/jobs/:id', async (c) => {
    const id = c.req.param('id');
    const queue = c.req.query('queue');
    const job = queue ? app.job(queue, id) : await app.findJob(id);
    const info = job ? await job.info() : undefined;
    if (!job || !info || info.status === 'unknown') {
      return c.json({ error: 'not_found', message: `no job '${id}'${queue ? ` in queue '${queue}'` : ''} (results expire after the queue's resultTtl)` }, 404);
    }
    return c.json({ ...info, progress: (await job.progress()) ?? null });
  });

  api.post('/jobs/:id/abort', async (c) => {
    const id = c.req.param('id');
    const job = await app.findJob(id);
    if (!job) return c.json({ error: 'not_found', message: `no job '${id}'` }, 404);
    const outcome = await job.abort();
    return c.json({ id, queue: job.queue, outcome }, outcome === 'not_found' ? 404 : 200);
  });

  api.get('/health', async (c) => {
    let latencyMs: number;
    try {
      latencyMs = await within(app.broker.ping(), healthTimeoutMs);
    } catch (err) {
      return c.json({ status: 'unhealthy', redis: { ok: false, error: (err as Error).message }, workers: [] }, 503);
    }
    const workers = await within(app.workers(), healthTimeoutMs);
    return c.json({
      // No live worker: jobs are accepted but nothing runs them.
      status: workers.length ? 'healthy' : 'degraded',
      redis: { ok: true, latencyMs: Math.round(latencyMs * 100) / 100 },
      workers: workers.map((w) => ({ id: w.id, hostname: w.hostname, pid: w.pid, queues: w.queues, concurrency: w.concurrency, uptimeMs: w.uptimeMs, heartbeatAt: w.heartbeatAt })),
    });
  });

  api.get('/queues', async (c) => {
    const queues = await Promise.all(
      [...app.queues.values()].map(async (q) => {
        const counts = await app.inspector.counts(q);
        const waiting = Object.values(counts.waiting).reduce((a, b) => a + b, 0);
        return { name: q.name, ...counts, waitingTotal: waiting };
      }),
    );
    return c.json({ queues });
  });

  api.notFound((c) => c.json({ error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));
  api.onError((err, c) => {
    app.log.error({ err }, 'api request failed');
    return c.json({ error: 'internal', message: err.message }, 500);
  });
  return api;
}

/** Serves the API over the example app until SIGTERM / SIGINT. */
async function main(): Promise<void> {
  const { serve } = await import('@hono/node-server');
  const { app } = await import('./app.js');
  const port = Number(process.env.PORT ?? 8000);
  // Local runs listen on loopback only; the container sets HOST=0.0.0.0.
  const hostname = process.env.HOST ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('PORT', 'a port number 0-65535', process.env.PORT);
  const server = serve({ fetch: createApi(app).fetch, port, hostname }, (info) => {
    app.log.info({ port: info.port, host: hostname }, `millrace example API on http://${hostname}:${info.port}`);
  });
  const stop = () => {
    server.close();
    void app.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) await main();
