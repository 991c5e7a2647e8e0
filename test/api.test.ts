// The example HTTP API (examples/api.ts), mounted without a port over the example's queues and
// tasks on a fresh key prefix, with a worker started in the test.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApi } from '../examples/api.js';
import { createExampleApp } from '../examples/app.js';
import { REDIS_URL, removeKeys, uniquePrefix, waitFor, workers } from './helpers.js';

const tracker = workers({ heartbeatInterval: 200 });
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  await tracker.stopAll();
  for (const fn of cleanups.splice(0)) await fn();
});

function setup() {
  const prefix = uniquePrefix('api');
  const example = createExampleApp({ redis: REDIS_URL, prefix, logLevel: 'silent' });
  cleanups.push(async () => {
    await example.app.close();
    await removeKeys(prefix);
  });
  const api = createApi(example.app);
  const post = (path: string, body?: unknown) =>
    api.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const get = (path: string) => api.request(path);
  return { ...example, api, post, get };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(res: Response): Promise<any> {
  return res.json();
}

describe('example HTTP API', () => {
  it('enqueues with POST, a worker runs the job, GET shows it completed with its result', async () => {
    const { app, post, get } = setup();
    await tracker.start(app, { queues: ['load_test'] });

    const res = await post('/jobs/cpu_intensive_task', { args: [100], priority: 'high' });
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(body).toMatchObject({ queue: 'load_test', task: 'cpu_intensive_task', created: true });
    expect(body.id).toEqual(expect.any(String));

    await waitFor(async () => (await json(await get(`/jobs/${body.id}`))).status === 'completed', { timeout: 10_000 });
    const done = await json(await get(`/jobs/${body.id}`));
    expect(done).toMatchObject({ id: body.id, queue: 'load_test', status: 'completed', task: 'cpu_intensive_task' });
    expect(done.result).toEqual({ limit: 100, primes: 25 });

    // A custom id, enqueued twice: the second call names the existing job.
    const first = await post('/jobs/system_health_check', { id: 'hc-1', delay: '1h' });
    expect(first.status).toBe(202);
    const again = await post('/jobs/system_health_check', { id: 'hc-1' });
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ id: 'hc-1', queue: 'system', created: false });
    expect((await json(await get('/jobs/hc-1'))).status).toBe('delayed');
  });

  it('answers 400 naming what was wrong and what is accepted', async () => {
    const { api, post, get } = setup();

    const unknown = await post('/jobs/no_such_task', { args: [] });
    expect(unknown.status).toBe(400);
    const u = await json(unknown);
    expect(u.error).toBe('unknown_task');
    expect(u.message).toContain("unknown task 'no_such_task'");
    expect(u.accepted).toEqual(expect.arrayContaining(['cpu_intensive_task', 'system_health_check', 'cleanup_temp_files']));

    const badArg = await json(await post('/jobs/cpu_intensive_task', { args: ['lots'] }));
    expect(badArg.error).toBe('invalid_args');
    expect(badArg.message).toContain('args[0] (limit): expected an integer 2..5000000, got "lots"');
    expect(badArg.accepted).toBe('cpu_intensive_task(limit: integer 2..5000000)');

    const count = await post('/jobs/io_simulation_task', { args: [] });
    expect(count.status).toBe(400);
    expect((await json(count)).message).toContain('expected 1 argument(s), got 0');

    // A caller cannot pick the folder cleanup_temp_files deletes from.
    const dir = await json(await post('/jobs/cleanup_temp_files', { args: [7, '/etc'] }));
    expect(dir.message).toContain('expected 0 to 1 argument(s), got 2');

    const field = await json(await post('/jobs/system_health_check', { args: [], queue: 'system' }));
    expect(field.message).toBe('unknown field(s) queue; accepted: args, delay, priority, id');

    const priority = await json(await post('/jobs/system_health_check', { priority: 'urgent' }));
    expect(priority.message).toBe('priority must be one of low, normal, high, critical, got "urgent"');

    const delay = await post('/jobs/system_health_check', { delay: 'soonish' });
    expect(delay.status).toBe(400);
    expect((await json(delay)).error).toBe('invalid_option');

    const notJson = await post('/jobs/system_health_check');
    expect(notJson.status).toBe(202); // an empty body means no arguments
    const broken = await api.request('/jobs/system_health_check', { method: 'POST', body: '{nope' });
    expect(broken.status).toBe(400);
    expect((await json(broken)).error).toBe('invalid_json');

    const missing = await get('/jobs/1-0');
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toBe('not_found');
  });

  it('aborts a running job', async () => {
    const { app, post, get } = setup();
    await tracker.start(app, { queues: ['load_test'] });
    const { id } = await json(await post('/jobs/io_simulation_task', { args: [30_000] }));
    await waitFor(async () => (await json(await get(`/jobs/${id}`))).status === 'active', { timeout: 10_000 });

    const res = await post(`/jobs/${id}/abort`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ id, queue: 'load_test', outcome: 'aborting' });
    await waitFor(async () => (await json(await get(`/jobs/${id}`))).status === 'aborted', { timeout: 10_000 });

    const waiting = await json(await post('/jobs/io_simulation_task', { args: [10], delay: '1h' }));
    expect(await json(await post(`/jobs/${waiting.id}/abort`))).toMatchObject({ outcome: 'aborted' });
    expect((await post('/jobs/9-9/abort')).status).toBe(404);
  });

  it('reports health and queue counts', async () => {
    const { app, post, get } = setup();
    const idle = await json(await get('/health'));
    expect(idle).toMatchObject({ status: 'degraded', redis: { ok: true }, workers: [] });

    await post('/jobs/memory_operations_task', { args: [10], delay: '1h' });
    await post('/jobs/memory_operations_task', { args: [10], priority: 'critical' });
    await post('/jobs/system_health_check', {});
    const queues = (await json(await get('/queues'))).queues;
    expect(queues.map((q: { name: string }) => q.name).sort()).toEqual(['load_test', 'system']);
    const load = queues.find((q: { name: string }) => q.name === 'load_test');
    expect(load).toMatchObject({ delayed: 1, waitingTotal: 1, active: 0, dlq: 0 });
    expect(load.waiting.critical).toBe(1);
    expect(queues.find((q: { name: string }) => q.name === 'system').waitingTotal).toBe(1);

    const worker = await tracker.start(app, { queues: ['system'] });
    await waitFor(async () => (await json(await get('/health'))).status === 'healthy', { timeout: 10_000 });
    const health = await get('/health');
    expect(health.status).toBe(200);
    expect((await json(health)).workers).toEqual([expect.objectContaining({ id: worker.id, queues: ['system'] })]);
  });

  it('answers 503 when Redis does not answer', async () => {
    // The environment's Redis URL would override the one given in code.
    for (const name of ['REDIS_URL', 'MILLRACE_REDIS_URL', 'REDIS_URL_LOCAL', 'MILLRACE_REDIS_URL_LOCAL']) vi.stubEnv(name, undefined);
    const prefix = uniquePrefix('api');
    // Nothing listens on port 1; the app fails fast instead of retrying.
    const example = createExampleApp({ redis: { url: 'redis://127.0.0.1:1', maxRetriesPerRequest: 0, connectTimeout: 200 }, prefix, logLevel: 'silent' });
    cleanups.push(() => example.app.close().catch(() => undefined));
    const res = await createApi(example.app, { healthTimeoutMs: 500 }).request('/health');
    expect(res.status).toBe(503);
    expect(await json(res)).toMatchObject({ status: 'unhealthy', redis: { ok: false } });
  });
});
