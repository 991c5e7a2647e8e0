// Graceful stop: on SIGTERM a worker process stops fetching, lets jobs finish within the grace
// period, aborts the rest and hands them (and prefetched, unstarted jobs) back to the queue
// without spending an attempt; the same through worker.stop({ grace }) in process.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShutdownError, type Job } from '../src/index.js';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, readLedger, startCli } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/recovery-worker.mts';

describe('SIGTERM to a worker process', () => {
  let t: TestApp<Record<string, never>>;
  let dir: string;
  let ledger: string;

  beforeEach(() => {
    t = testApp({}, 'shutdown');
    dir = mkdtempSync(join(tmpdir(), 'millrace-shutdown-'));
    ledger = join(dir, 'ledger.txt');
  });

  afterEach(async () => {
    killChildren();
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits within grace + 2 s, finishing short jobs and handing back the rest unspent', async () => {
    const graceMs = 2000;
    // Concurrency 3: two long jobs and one that ends within the grace period run; two more
    // are prefetched and wait in the worker's buffer.
    const plan: [string, number][] = [['long1', 60_000], ['long2', 60_000], ['short', 1500], ['pre1', 60_000], ['pre2', 60_000]];
    const jobs = new Map<string, Job>();
    for (const [key, ms] of plan) jobs.set(key, await t.app.enqueueByName('hold', [key, ms], { queue: 'work' }));
    const handedBack = ['long1', 'long2', 'pre1', 'pre2'];

    const env = { MILLRACE_PREFIX: t.prefix, LEDGER: ledger, CONCURRENCY: '3', PREFETCH: '2' };
    const first = startCli(['worker', FIXTURE, '--shutdown-timeout', String(graceMs / 1000), '--log-level', 'info'], { ...env, WORKER_TAG: 'A' });
    // Its signal handlers are in place once it logs that it started.
    await waitFor(() => first.stdout().includes('"msg":"worker started"'), { timeout: 15_000, what: 'worker A to start' });
    await waitFor(() => readLedger(ledger).filter((l) => l.event === 'start').length === 3, { timeout: 15_000, what: 'three jobs to start' });
    expect(readLedger(ledger).map((l) => l.key).sort()).toEqual(['long1', 'long2', 'short']);
    await waitFor(async () => (await jobs.get('pre1')!.status()) === 'active' && (await jobs.get('pre2')!.status()) === 'active', { what: 'the prefetch' });

    const signalledAt = Date.now();
    first.proc.kill('SIGTERM');
    const exit = await first.exited;
    expect({ code: exit.code, signal: exit.signal, stderr: first.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(exit.at - signalledAt).toBeGreaterThanOrEqual(graceMs - 100);
    expect(exit.at - signalledAt).toBeLessThan(graceMs + 2000);

    const afterA = readLedger(ledger);
    expect(afterA.filter((l) => l.event === 'done').map((l) => l.key)).toEqual(['short']);
    expect(afterA.filter((l) => l.event === 'abort').map((l) => `${l.key}:${l.extra}`).sort()).toEqual(['long1:ShutdownError', 'long2:ShutdownError']);
    expect(await jobs.get('short')!.result({ timeout: 1000 })).toEqual({ key: 'short', tag: 'A', attempt: 1 });
    for (const key of handedBack) {
      const info = await jobs.get(key)!.info();
      expect({ key, status: info.status, attempts: info.attempts }).toEqual({ key, status: 'waiting', attempts: 0 });
    }

    // Another worker runs the handed-back jobs, each on its first attempt.
    startCli(['worker', FIXTURE], { ...env, WORKER_TAG: 'B', MAX_HOLD_MS: '50' });
    for (const key of handedBack) {
      expect(await jobs.get(key)!.result({ timeout: 15_000 })).toEqual({ key, tag: 'B', attempt: 1 });
    }
    const onB = readLedger(ledger).filter((l) => l.worker === 'B');
    expect(onB.filter((l) => l.event === 'start').map((l) => `${l.key}@${l.attempt}`).sort()).toEqual(handedBack.map((k) => `${k}@1`));
  });
});

describe('worker.stop({ grace }) in process', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('completes jobs that finish within grace and hands back the rest without spending an attempt', async () => {
    t = testApp({}, 'stop');
    const started: string[] = [];
    const abortReasons: unknown[] = [];
    let secondRound = false;
    const q = t.app.queue('inproc', { concurrency: 2, prefetch: 1, idleTimeout: 1000 });
    const task = q.task('work', async (ctx, key: string, ms: number) => {
      started.push(`${key}@${ctx.attempt}`);
      ctx.signal.addEventListener('abort', () => abortReasons.push(ctx.signal.reason), { once: true });
      await sleep(secondRound ? 10 : ms, undefined, { signal: ctx.signal });
      return `${key}@${ctx.attempt}`;
    });
    const [quick, slow, buffered] = await task.enqueueMany([['quick', 200], ['slow', 60_000], ['buffered', 60_000]]);

    const worker = t.app.worker({ handleSignals: false });
    await worker.start();
    await waitFor(() => started.length === 2 && worker.stats().queues.inproc?.held === 3, { what: 'two running, one prefetched' });
    const stopAt = Date.now();
    await worker.stop({ grace: 600 });
    const took = Date.now() - stopAt;
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(2000);
    expect(worker.status).toBe('stopped');

    expect(abortReasons).toHaveLength(1);
    expect(abortReasons[0]).toBeInstanceOf(ShutdownError);
    expect(await quick!.result({ timeout: 1000 })).toBe('quick@1');
    for (const job of [slow!, buffered!]) {
      const info = await job.info();
      expect({ status: info.status, attempts: info.attempts }).toEqual({ status: 'waiting', attempts: 0 });
    }

    secondRound = true;
    const next = t.app.worker({ handleSignals: false });
    await next.start();
    try {
      expect(await slow!.result({ timeout: 5000 })).toBe('slow@1');
      expect(await buffered!.result({ timeout: 5000 })).toBe('buffered@1');
    } finally {
      await next.stop();
    }
    expect(started.sort()).toEqual(['buffered@1', 'quick@1', 'slow@1', 'slow@1']);
  });
});
