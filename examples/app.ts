// An example millrace app in the layout of the worker seeds: a `system` queue for maintenance
// tasks and a `load_test` queue of small CPU, I/O and memory tasks. Run it with
// `npx millrace worker examples/app.ts`, or see it at work with `npm run demo`. createExampleApp()
// builds the same queues and tasks on another app (tests use it with their own key prefix).

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Millrace, type MillraceOptions } from '../src/index.js';

/** Where cleanup_temp_files looks by default. */
export const TEMP_DIR = join(tmpdir(), 'millrace-example');

/** The example's queues and tasks on a new app (options as for `new Millrace()`). */
export function createExampleApp(options: MillraceOptions<Record<string, never>> = {}) {
  const app = new Millrace(options);

  const system = app.queue('system', { concurrency: 15, jobTimeout: '300s' });

  const systemHealthCheck = system.task('system_health_check', async (ctx) => ({
    status: 'healthy' as const,
    worker: ctx.workerId,
    hostname: hostname(),
    pid: process.pid,
    uptimeSeconds: Math.round(process.uptime()),
    rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
    checkedAt: new Date().toISOString(),
  }));

  const cleanupTempFiles = system.task(
    'cleanup_temp_files',
    async (ctx, daysOld: number = 7, dir: string = TEMP_DIR) => {
      await mkdir(dir, { recursive: true });
      const cutoff = Date.now() - daysOld * 86_400_000;
      let scanned = 0;
      let removed = 0;
      for (const name of await readdir(dir)) {
        ctx.signal.throwIfAborted();
        const path = join(dir, name);
        const info = await stat(path);
        if (!info.isFile()) continue;
        scanned++;
        if (info.mtimeMs < cutoff) {
          await rm(path, { force: true });
          removed++;
        }
      }
      return { dir, daysOld, scanned, removed };
    },
    { maxTries: 3, backoff: { type: 'exponential', base: '1s', max: '1h', jitter: true } },
  );

  const loadTest = app.queue('load_test', { concurrency: 50, jobTimeout: '60s' });

  /** Counts the primes below `limit` (a short CPU burst). */
  const cpuIntensiveTask = loadTest.task('cpu_intensive_task', (_ctx, limit: number) => {
    let primes = 0;
    for (let n = 2; n < limit; n++) {
      let prime = true;
      for (let d = 2; d * d <= n; d++) {
        if (n % d === 0) {
          prime = false;
          break;
        }
      }
      if (prime) primes++;
    }
    return { limit, primes };
  });

  /** Waits like a network call would, and stops early when the job is aborted. */
  const ioSimulationTask = loadTest.task('io_simulation_task', async (ctx, ms: number) => {
    const started = Date.now();
    await sleep(ms, undefined, { signal: ctx.signal });
    return { waitedMs: Date.now() - started };
  });

  /** Builds and sorts an array of `size` numbers. */
  const memoryOperationsTask = loadTest.task('memory_operations_task', (_ctx, size: number) => {
    const values = Array.from({ length: size }, (_, i) => (i * 7919) % size);
    values.sort((a, b) => a - b);
    return { size, first: values[0], last: values[values.length - 1] };
  });

  /** Always fails: after its two tries it lands in the dead-letter queue `load_test:dlq`. */
  const failureTestingTask = loadTest.task(
    'failure_testing_task',
    (ctx, reason: string) => {
      throw new Error(`simulated failure on attempt ${ctx.attempt}: ${reason}`);
    },
    { maxTries: 2, backoff: { type: 'fixed', base: '300ms', jitter: false } },
  );

  return { app, system, systemHealthCheck, cleanupTempFiles, loadTest, cpuIntensiveTask, ioSimulationTask, memoryOperationsTask, failureTestingTask };
}

/** Redis from REDIS_URL (default redis://127.0.0.1:6379); every option can come from MILLRACE_* variables. */
export const example = createExampleApp();
export const { app, system, systemHealthCheck, cleanupTempFiles, loadTest, cpuIntensiveTask, ioSimulationTask, memoryOperationsTask, failureTestingTask } = example;
