// `npm run demo`: the example app end to end on the local Redis. It starts a worker process
// (`millrace worker examples/app.ts:app`), runs two system jobs, then a load test of 200 mixed
// jobs through the same code as `millrace load-test run`, prints its report, and stops the
// worker gracefully.
//
// It works under its own key prefix, 'millrace-demo', whose keys it removes before and after.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { formatReport, progressPrinter, runLoadTest } from '../src/cli/loadTest.js';
import { prefixPatterns } from '../src/redis/keys.js';

const PREFIX = 'millrace-demo';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Set before the app module is loaded: the app reads them when it is built.
process.env.MILLRACE_PREFIX = PREFIX;
process.env.MILLRACE_LOG_LEVEL ??= 'silent';

const started = Date.now();
const at = () => `${String(Date.now() - started).padStart(5)} ms`;
const line = (s: string) => process.stdout.write(`${s}\n`);

/** Removes every key of the demo's prefix (only those: the server may be shared). */
async function removeDemoKeys(redis: Redis): Promise<number> {
  let removed = 0;
  for (const pattern of prefixPatterns(PREFIX)) {
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

/** The worker, as a user starts it: `npx millrace worker examples/app.ts:app`. */
function startWorker() {
  const args = ['bin/millrace.js', 'worker', 'examples/app.ts:app', '--shutdown-timeout', '5', '--log-level', 'warn'];
  line(`${at()}  $ npx millrace ${args.slice(1).join(' ')}`);
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, MILLRACE_PREFIX: PREFIX, MILLRACE_HEALTH_FILE: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its log (failed jobs are logged as errors on purpose here) is shown only if it ends badly.
  let log = '';
  proc.stdout.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited, log: () => log };
}

async function main(): Promise<void> {
  const redis = await connectOrExplain();
  await removeDemoKeys(redis);
  const ex = await import('./app.js');
  const { app } = ex;
  const dir = await tempFiles();
  const worker = startWorker();
  try {
    const deadline = Date.now() + 20_000;
    while ((await app.workers()).length === 0) {
      if (Date.now() > deadline) throw new Error(`the worker did not start:\n${worker.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const [entry] = await app.workers();
    line(`${at()}  worker ${entry!.id} (pid ${entry!.pid}) serves ${entry!.queues.join(', ')} on ${REDIS_URL}`);

    const health = await ex.systemHealthCheck.enqueue();
    const cleanup = await ex.cleanupTempFiles.enqueue(7, dir);
    line(`${at()}  system_health_check   -> ${JSON.stringify(await health.result({ timeout: 10_000 }))}`);
    line(`${at()}  cleanup_temp_files(7) -> ${JSON.stringify(await cleanup.result({ timeout: 10_000 }))}`);

    line('');
    line(`${at()}  $ npx millrace load-test run -n 200 -t mixed -b 50`);
    const printer = progressPrinter({ out: line, err: (s) => process.stderr.write(`${s}\n`) });
    let report;
    try {
      report = await runLoadTest(app, { n: 200, type: 'mixed', batchSize: 50, delayMs: 0, queue: 'load_test', wait: true, timeoutMs: 20_000 }, printer);
    } finally {
      printer.stop();
    }
    line('');
    line(formatReport(report));
    line('');
    line(`${at()}  (the report is kept: npx millrace load-test results ${report.id})`);
  } finally {
    worker.proc.kill('SIGTERM');
    const code = await worker.exited;
    line(`${at()}  worker stopped ${code === 0 ? 'gracefully (exit code 0)' : `with exit code ${code}:\n${worker.log()}`}`);
    await app.close();
    const removed = await removeDemoKeys(redis);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
    line(`${at()}  removed the demo's ${removed} Redis keys; done`);
  }
}

await main();
