// A steady stream of jobs through a worker while something happens to Redis (a failover, a
// slot migration): what the Sentinel and Cluster tests check a change of master against.

import { expect } from 'vitest';
import { JobNotFoundError, type Millrace, type QueueOptions } from '../../src/index.js';
import { waitFor, type WorkerTracker } from '../helpers.js';
import { sleep } from './processes.js';

type App = Millrace<Record<string, never>>;

export interface SteadyStream {
  /** The jobs enqueued (acknowledged), in order. */
  enqueued: number[];
  /** Jobs acknowledged whose job Redis no longer knows (lost with a master, asynchronous replication). */
  lost: number[];
  /** How many were enqueued when the change was done. */
  before: number;
  /** Runs per job. */
  runs: Map<number, number>;
  /** Enqueues that failed and were sent again. */
  failedTries: number;
  /** The stream's task (n → n * 10), its worker still running. */
  work: { with(o: { id: string }): { enqueue(n: number): Promise<{ result(o: { timeout: number }): Promise<number> }> } };
}

/**
 * A steady stream of jobs with custom ids into one queue, one enqueue at a time; an enqueue
 * that fails is tried again with the same id (its id keeps it from running twice). `during`
 * runs once the worker is busy; afterwards every job enqueued must have its own result.
 */
export async function steadyStream(a: App, tracker: WorkerTracker, during: () => Promise<void>, idleTimeout = '2s', queue: QueueOptions = {}): Promise<SteadyStream> {
  const runs = new Map<number, number>();
  const work = a.queue('q', { idleTimeout, ...queue }).task('work', async (_ctx, n: number) => {
    runs.set(n, (runs.get(n) ?? 0) + 1);
    await sleep(2);
    return n * 10;
  });
  const worker = await tracker.start(a, { concurrency: 4 });
  const enqueued: number[] = [];
  let failedTries = 0;
  let streaming = true;
  const stream = (async () => {
    for (let n = 0; streaming || n < 10; n++) {
      for (;;) {
        try {
          await work.with({ id: `job-${n}` }).enqueue(n);
          break;
        } catch {
          failedTries++;
          await sleep(50);
        }
      }
      enqueued.push(n);
      await sleep(3);
    }
  })();
  await waitFor(() => runs.size >= 50, { timeout: 30_000, what: 'the worker running the stream' });
  await during();
  const before = enqueued.length;
  await waitFor(() => enqueued.length >= before + 50, { timeout: 60_000, what: 'enqueues after the change' });
  streaming = false;
  await stream;
  const results = await Promise.all(enqueued.map((n) => a.job<number>('q', `job-${n}`).result({ timeout: 60_000 }).catch((err: unknown) => {
    if (err instanceof JobNotFoundError) return 'lost' as const;
    throw err;
  })));
  const lost = enqueued.filter((_, i) => results[i] === 'lost');
  expect(results.filter((r) => r !== 'lost')).toEqual(enqueued.filter((n) => !lost.includes(n)).map((n) => n * 10));
  expect(enqueued.filter((n) => !lost.includes(n) && !runs.has(n))).toEqual([]);
  expect(worker.status).toBe('running');
  return { enqueued, lost, before, runs, failedTries, work };
}
