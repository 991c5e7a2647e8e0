// Crash recovery with real processes: jobs of a worker killed with SIGKILL are reclaimed by
// another worker after the idle timeout and complete exactly once; a long job on a healthy
// worker keeps its lease and is never reclaimed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { countByKey, killChildren, readLedger, startCli } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/recovery-worker.mts';

describe('recovery after kill -9', () => {
  let t: TestApp<Record<string, never>>;
  let dir: string;
  let ledger: string;

  beforeEach(() => {
    t = testApp({}, 'recovery');
    dir = mkdtempSync(join(tmpdir(), 'millrace-recovery-'));
    ledger = join(dir, 'ledger.txt');
  });

  afterEach(async () => {
    killChildren();
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = (tag: string, env: Record<string, string> = {}) =>
    startCli(['worker', FIXTURE], { MILLRACE_PREFIX: t.prefix, LEDGER: ledger, WORKER_TAG: tag, CONCURRENCY: '20', ...env });

  it('reclaims every job of a killed worker and completes each exactly once', async () => {
    const N = 20;
    const keys = Array.from({ length: N }, (_, i) => `job${i}`);
    // Held for a minute: only a reclaim can finish them in time.
    const jobs = await Promise.all(keys.map((key) => t.app.enqueueByName('hold', [key, 60_000], { queue: 'work' })));

    const first = worker('A');
    await waitFor(() => countByKey(readLedger(ledger), (l) => l.event === 'start' && l.worker === 'A').size === N, { timeout: 15_000, what: 'worker A to start every job' });
    first.proc.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    for (const job of jobs) expect(await job.status()).toBe('active');

    worker('B', { MAX_HOLD_MS: '50' });
    // Within 15 s: only the reclaim after the 1 s idle timeout can do that (A's hold is a minute,
    // and a stale-worker cleanup waits twice the 30 s heartbeat TTL). No tighter wall-time bound
    // here: B's process start alone takes seconds on a loaded machine.
    const results = (await Promise.all(jobs.map((job) => job.result({ timeout: 15_000 })))) as { key: string; tag: string }[];

    expect(results.map((r) => r.key)).toEqual(keys);
    expect(results.every((r) => r.tag === 'B')).toBe(true);
    for (const job of jobs) expect(await job.status()).toBe('completed');

    const lines = readLedger(ledger);
    const done = countByKey(lines, (l) => l.event === 'done');
    expect([...done.keys()].sort()).toEqual([...keys].sort());
    expect([...done.values()].every((n) => n === 1)).toBe(true);
    expect(lines.filter((l) => l.event === 'done').every((l) => l.worker === 'B')).toBe(true);
    // Each job ran once on A (killed) and once on B, never more.
    expect([...countByKey(lines, (l) => l.event === 'start' && l.worker === 'B').values()]).toEqual(keys.map(() => 1));
  });
});

describe('a long job on a healthy worker', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('keeps its lease: a second worker never reclaims it', async () => {
    const idleTimeout = 1000;
    const jobMs = 5 * idleTimeout;
    const runs: { worker: string; attempt: number }[] = [];
    const define = (t: TestApp<Record<string, never>>) =>
      t.app.queue('long', { idleTimeout, concurrency: 2 }).task('long_job', async (ctx) => {
        runs.push({ worker: ctx.workerId, attempt: ctx.attempt });
        await sleep(jobMs, undefined, { signal: ctx.signal });
        return ctx.workerId;
      });
    const a = testApp({}, 'lease');
    cleanups.push(a.cleanup);
    const b = testApp({ prefix: a.prefix });
    cleanups.push(async () => b.app.close());
    const longJob = define(a);
    define(b);
    const workers = [a.app.worker({ handleSignals: false, id: 'healthy-a' }), b.app.worker({ handleSignals: false, id: 'healthy-b' })];
    for (const w of workers) {
      await w.start();
      cleanups.unshift(() => w.stop({ grace: 0 }));
    }

    const job = await longJob.enqueue();
    const owner = (await waitFor(async () => (await job.info()).worker, { what: 'the job to be delivered' }))!;
    // Watch the job for its whole run: one owner, one delivery.
    const seen = new Set<string>();
    let maxDeliveries = 0;
    while ((await job.status()) === 'active') {
      const info = await job.info();
      if (info.status !== 'active') break;
      if (info.worker) seen.add(info.worker);
      maxDeliveries = Math.max(maxDeliveries, info.deliveries);
      await sleep(100);
    }
    expect(await job.result({ timeout: 5000 })).toBe(owner);
    expect([...seen]).toEqual([owner]);
    expect(maxDeliveries).toBe(1);
    expect(runs).toEqual([{ worker: owner, attempt: 1 }]);
    const other = workers.find((w) => w.id !== owner)!;
    expect(other.stats().queues.long?.processed).toBe(0);
  });
});
