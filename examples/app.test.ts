// The example app's tasks and HTTP API tested with millrace/testing: no Redis at all (the app
// points at a port where nothing listens), a memory broker on a manual clock, nothing sleeps.
// Inside this repository the kit is imported from the source; in your project:
//   import { createTestApp } from 'millrace/testing';

import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../src/testing/index.js';
import { createApi } from './api.js';
import { createExampleApp } from './app.js';

const NOW = Date.UTC(2030, 5, 1, 12);
const kits: TestApp[] = [];

afterEach(async () => {
  for (const t of kits.splice(0)) await t.close();
});

async function setup(mode: 'fake' | 'live' = 'fake') {
  // An address nothing answers on: a test that reached for Redis would fail.
  const example = createExampleApp({ redis: 'redis://127.0.0.1:1', logLevel: 'silent' });
  const t = await createTestApp(example.app, { now: NOW, mode });
  kits.push(t);
  return { ...example, t };
}

describe('example tasks, no Redis', () => {
  it('counts primes, sorts numbers and reports health through the whole worker path', async () => {
    const { t, cpuIntensiveTask, memoryOperationsTask, systemHealthCheck } = await setup();
    expect(await t.run(cpuIntensiveTask, 100)).toEqual({ limit: 100, primes: 25 });
    expect(await t.run(memoryOperationsTask, 1000)).toEqual({ size: 1000, first: 0, last: 999 });
    expect(await t.run(systemHealthCheck)).toMatchObject({ status: 'healthy', pid: process.pid });
  });

  it('removes only the temp files older than the cutoff', async () => {
    const { t, cleanupTempFiles } = await setup();
    const dir = await mkdtemp(join(tmpdir(), 'millrace-example-test-'));
    try {
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'old.txt'), 'x');
      await writeFile(join(dir, 'new.txt'), 'x');
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      await utimes(join(dir, 'old.txt'), tenDaysAgo, tenDaysAgo);
      expect(await t.run(cleanupTempFiles, 7, dir)).toEqual({ dir, daysOld: 7, scanned: 2, removed: 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('retries the failing task after its backoff on the clock, then dead-letters it', async () => {
    const { t, app, failureTestingTask } = await setup();
    const job = await failureTestingTask.enqueue('boom');
    expect(t.enqueued(failureTestingTask).map((j) => j.args)).toEqual([['boom']]);
    // First attempt fails; the retry waits 300 ms on the clock.
    expect(await t.drain()).toMatchObject({ started: 1, retried: 1, delayed: 1 });
    await t.clock.advance('299ms');
    expect(await t.drain()).toMatchObject({ started: 0 });
    await t.clock.advance('1ms');
    await expect(t.drain()).rejects.toThrow('simulated failure on attempt 2: boom');
    const [dead] = await app.deadLetters('load_test').list();
    expect(dead).toMatchObject({ id: job.id, reason: 'max-tries', attempts: 2 });
  });
});

describe('example HTTP API, no Redis', () => {
  it('enqueues over HTTP, runs the job, and shows it completed with its result', async () => {
    const { app, t, cpuIntensiveTask } = await setup();
    const api = createApi(app);
    const res = await api.request('/jobs/cpu_intensive_task', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: [100], priority: 'high' }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(t.enqueued(cpuIntensiveTask)).toMatchObject([{ id, args: [100], options: { priority: 'high' } }]);
    await t.drain();
    const done = (await (await api.request(`/jobs/${id}`)).json()) as Record<string, unknown>;
    expect(done).toMatchObject({ id, status: 'completed', result: { limit: 100, primes: 25 } });
  });

  it('aborts a running job over HTTP (live mode)', async () => {
    const { app, t } = await setup('live');
    const api = createApi(app);
    const res = await api.request('/jobs/io_simulation_task', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: [55_000] }) });
    const { id } = (await res.json()) as { id: string };
    const job = app.job('load_test', id);
    await t.waitFor(job, 'started');
    const aborted = await api.request(`/jobs/${id}/abort`, { method: 'POST' });
    expect(aborted.status).toBe(200);
    await expect(job.result()).rejects.toThrow(/abort/i);
    expect(await job.status()).toBe('aborted');
  });
});
