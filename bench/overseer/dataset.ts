// The Overseer bench's data set, on a redis-server of its own, written through the public API:
// dead letters (failing jobs run by a worker), completed jobs, waiting jobs (enqueueMany),
// delayed jobs, running jobs (worker processes killed -9 on them), a cron schedule and load-test
// reports.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { runLoadTest } from '../../src/cli/loadTest.js';
import { RedisServer } from '../../support/redis-server.js';
import { benchApp, isolate } from './app.js';
import { CHILD_CONCURRENCY, CHILD_WORKERS, CHUNK, COMPLETED, DELAYED, LOAD_TESTS, PREFIX, RUNNING, round, until } from './config.js';
import { infoNumber } from './redis.js';

export interface DataSet {
  server: RedisServer;
  admin: Redis;
  waiting: number;
  dlq: number;
  ids: { waiting: string; completed: string; failed: string; loadTest: string; dlqFirst: string; dlqMiddle: string };
  setup: Record<string, number | string>;
}

type WorkArgs = [number, string, string[]];

/**
 * `waiting` jobs left waiting (RUNNING more are enqueued: the worker processes take those),
 * `dlq` dead letters, and the rest (COMPLETED, DELAYED, RUNNING, a schedule, LOAD_TESTS reports).
 */
export async function buildDataSet(waiting: number, dlq: number, label: string): Promise<DataSet> {
  const server = await RedisServer.start({ dirPrefix: 'millrace-bench-overseer-' });
  const admin = server.client();
  const setup: Record<string, number | string> = { redisPort: server.port };
  const children: ChildProcess[] = [];
  try {
    const env = isolate(server.url);
    const { app, main, work, fail } = benchApp(server.url, PREFIX);
    const t0 = performance.now();
    const log = (msg: string) => console.log(`[${label}] ${((performance.now() - t0) / 1000).toFixed(1)} s: ${msg}`);
    const ended = async (n: number) => {
      const c = await app.inspector.counts(main);
      return Object.values(c.waiting).reduce((a, b) => a + b, 0) === 0 && c.active === 0 && c.dlq >= n;
    };

    // Dead letters and completed jobs: through a worker (maxTries 1: a failure is final).
    let t = performance.now();
    for (let i = 0; i < dlq; i += CHUNK) await fail.enqueueMany(Array.from({ length: Math.min(CHUNK, dlq - i) }, (_, k) => [i + k, `4242-${String(i + k).padStart(6, '0')}`] as [number, string]));
    const done = await work.enqueueMany(Array.from({ length: COMPLETED }, (_, k) => [k, `done${k}@example.com`, ['done']] as WorkArgs));
    if ((await admin.dbsize()) === 0) throw new Error("the bench's app does not write to the bench's redis-server");
    const worker = app.worker({ queues: ['main'], concurrency: 200, handleSignals: false, healthFile: false, blockTime: 1000 });
    await worker.start();
    await until(`${dlq} dead letters`, () => ended(dlq), 900_000);
    await worker.stop();
    setup.dlqFillS = round((performance.now() - t) / 1000, 2);
    log(`${dlq.toLocaleString('en')} dead letters and ${COMPLETED.toLocaleString('en')} completed jobs in ${setup.dlqFillS} s (a worker at concurrency 200)`);

    // Waiting jobs: public bulk enqueue (the first RUNNING are taken by the worker processes).
    t = performance.now();
    const total = waiting + RUNNING;
    let last = '';
    for (let i = 0; i < total; i += CHUNK) {
      const jobs = await work.enqueueMany(Array.from({ length: Math.min(CHUNK, total - i) }, (_, k) => [i + k, `user${i + k}@example.com`, ['bulk', `batch-${(i + k) % 100}`]] as WorkArgs));
      last = jobs.at(-1)!.id;
    }
    setup.waitingFillS = round((performance.now() - t) / 1000, 2);
    setup.waitingPerS = Math.round(total / (setup.waitingFillS as number));
    log(`${total.toLocaleString('en')} jobs enqueued in ${setup.waitingFillS} s (enqueueMany of ${CHUNK.toLocaleString('en')}: ${setup.waitingPerS.toLocaleString('en')} jobs/s)`);

    await work.enqueueMany(Array.from({ length: DELAYED }, (_, k) => ({ args: [k, `later${k}@example.com`, ['delayed']] as WorkArgs, options: { delay: `${60 + k}m` } })));
    await app.addSchedule('0 3 * * *', 'work', { queue: 'main', name: 'nightly-report', args: [0, 'cron@example.com', ['cron']] });
    let loadTest = '';
    for (let i = 0; i < LOAD_TESTS; i++) {
      loadTest = (await runLoadTest(app, { n: 20, type: 'mixed', batchSize: 20, delayMs: 0, queue: 'lt', wait: false, timeoutMs: 10_000 })).id;
    }

    // Running jobs: worker processes take CHILD_CONCURRENCY each (no prefetch) and are killed -9
    // (the jobs stay pending, the workers registered, their heartbeat kept an hour).
    const childEntry = fileURLToPath(new URL('./child.ts', import.meta.url));
    for (let k = 0; k < CHILD_WORKERS; k++) {
      const child = fork(childEntry, [server.url, PREFIX, `bench-worker-${k + 1}`, String(CHILD_CONCURRENCY)], {
        execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`worker process exited with ${code}`)));
      });
    }
    await until(`${RUNNING} running jobs`, async () => (await app.inspector.counts(main)).active >= RUNNING, 30_000);
    for (const child of children.splice(0)) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    const counts = await app.inspector.counts(main);
    const [first] = await app.deadLetters('main').list({ limit: 1 });
    await app.close();

    setup.counts = JSON.stringify(counts);
    setup.dbsize = await admin.dbsize();
    setup.eventsLength = await admin.xlen(`{${PREFIX}:main}:events`);
    setup.usedMemoryMB = round((await infoNumber(admin, 'memory', 'used_memory')) / 2 ** 20, 0);
    setup.totalS = round((performance.now() - t0) / 1000, 1);
    log(`ready: ${setup.counts}; ${setup.dbsize} keys, ${setup.usedMemoryMB} MB`);
    // Dead letters were written between the fill's start and end: an id from the middle.
    const firstMs = Number(first!.dlqId.split('-')[0]);
    const middle = `${Math.round(firstMs + (Number(setup.dlqFillS) * 1000) / 2)}-0`;
    return {
      server, admin, waiting, dlq, setup,
      ids: { waiting: last, completed: done[COMPLETED / 2]!.id, failed: first!.id, loadTest, dlqFirst: first!.dlqId, dlqMiddle: middle },
    };
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    admin.disconnect();
    await server.stop();
    throw err;
  }
}

export async function stopDataSet(d: DataSet): Promise<void> {
  d.admin.disconnect();
  await d.server.stop();
}
