// `npm run demo`: runs a worker for the example app on the local Redis, enqueues real jobs
// (a health check, a cleanup, a batch of load-test jobs, a delayed job and one that fails
// into the dead-letter queue), prints each result as it lands, then stops gracefully.
//
// It works under its own key prefix, 'millrace-demo', whose keys it removes before and after.

import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const PREFIX = 'millrace-demo';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Set before the app module is loaded: the app reads them when it is built.
process.env.MILLRACE_PREFIX = PREFIX;
process.env.MILLRACE_LOG_LEVEL ??= 'silent';

const started = Date.now();
const at = () => `${String(Date.now() - started).padStart(5)} ms`;
const line = (s: string) => process.stdout.write(`${s}\n`);

/** Removes every key of the demo's prefix (only those: the server may be shared). */
async function removeDemoKeys(redis: Redis): Promise<number> {
  let removed = 0;
  for (const pattern of [`{${PREFIX}:*`, `${PREFIX}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  return removed;
}

async function connectOrExplain(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (err) {
    process.stderr.write(`demo: no Redis answers at ${REDIS_URL} (${(err as Error).message}).\n` +
      'Start one (`bash scripts/ensure-redis.sh` does) or set REDIS_URL.\n');
    process.exit(1);
  }
}

/** A folder with two files older than a week and one fresh one, for cleanup_temp_files. */
async function tempFiles(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'millrace-demo-'));
  const monthAgo = new Date(Date.now() - 30 * 86_400_000);
  for (const [name, old] of [['old-1.tmp', true], ['old-2.tmp', true], ['fresh.tmp', false]] as const) {
    await writeFile(join(dir, name), 'scratch data\n');
    if (old) await utimes(join(dir, name), monthAgo, monthAgo);
  }
  return dir;
}

async function main(): Promise<void> {
  const redis = await connectOrExplain();
  await removeDemoKeys(redis);
  const ex = await import('./app.js');
  const { app } = ex;
  const dir = await tempFiles();

  const worker = app.worker({ shutdownTimeout: '5s' });
  await worker.start();
  line(`${at()}  worker ${worker.id} started on ${REDIS_URL} (queues: system, load_test)`);

  // Each result is awaited from the moment its job is enqueued, so it prints as it lands.
  let completed = 0;
  let failed = 0;
  const landed: Promise<void>[] = [];
  const track = (label: string, job: { result(o: { timeout: number }): Promise<unknown> }) => {
    landed.push(job.result({ timeout: 15_000 }).then(
      (value) => {
        completed++;
        line(`${at()}  ok    ${label.padEnd(34)} ${JSON.stringify(value)}`);
      },
      (err: Error) => {
        failed++;
        line(`${at()}  FAIL  ${label.padEnd(34)} ${err.name}: ${err.message}`);
      },
    ));
  };

  track('system_health_check', await ex.systemHealthCheck.enqueue());
  track('cleanup_temp_files(7)', await ex.cleanupTempFiles.enqueue(7, dir));
  track('system_health_check (delay 2s)', await ex.systemHealthCheck.with({ delay: '2s' }).enqueue());
  track('failure_testing_task', await ex.failureTestingTask.enqueue('the demo asked for it'));
  const batches = [
    ['cpu_intensive_task', await ex.cpuIntensiveTask.enqueueMany([[10_000], [30_000], [60_000], [100_000]])],
    ['io_simulation_task', await ex.ioSimulationTask.enqueueMany([[50], [100], [200], [300], [400], [600], [800], [1000]])],
    ['memory_operations_task', await ex.memoryOperationsTask.enqueueMany([[1_000], [10_000], [50_000], [100_000]])],
  ] as const;
  for (const [task, batch] of batches) batch.forEach((job, i) => track(`${task} #${i + 1}`, job));
  line(`${at()}  enqueued ${landed.length} jobs (${landed.length - 4} of them in three bulk calls)`);
  await Promise.all(landed);

  const dlq = app.deadLetters('load_test');
  const [dead] = await dlq.list({ limit: 1 });
  const stats = worker.stats();
  line('');
  line(`summary: ${completed} completed, ${failed} failed, ${await dlq.count()} in the dead-letter queue load_test:dlq`);
  if (dead) line(`  dead letter ${dead.dlqId}: job ${dead.id} (${dead.task}), ${dead.attempts} attempts, reason '${dead.reason}', ${dead.error}`);
  for (const [queue, s] of Object.entries(stats.queues)) {
    line(`  ${queue.padEnd(10)} processed ${s.processed}, completed ${s.completed}, retried ${s.retried}, dead-lettered ${s.deadLettered}`);
  }

  await worker.stop();
  line(`${at()}  worker stopped gracefully`);
  await app.close();
  const removed = await removeDemoKeys(redis);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
  line(`${at()}  removed the demo's ${removed} Redis keys; done`);
}

await main();
