// `millrace worker` as a process manager: --workers N runs N processes under a supervisor
// that restarts a killed one and stops them all on SIGTERM; a child that keeps crashing makes
// it give up; --burst exits once the queues are drained; --reload restarts on file changes.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { supervise } from '../src/cli/supervisor.js';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, ROOT, runCli, startCli } from './fixtures/children.js';

const FIXTURE = 'test/fixtures/supervisor-app.mts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('millrace worker --workers / --burst / --reload', () => {
  let t: TestApp<Record<string, never>>;
  let dir: string;
  let env: Record<string, string>;

  beforeEach(() => {
    t = testApp({}, 'super');
    dir = mkdtempSync(join(tmpdir(), 'millrace-super-'));
    env = { MILLRACE_PREFIX: t.prefix, MILLRACE_LOG_LEVEL: 'info' };
  });

  afterEach(async () => {
    killChildren();
    // Supervised children stop by themselves once their supervisor is gone; wait for that.
    await waitFor(async () => (await t.app.workers()).every((w) => !alive(w.pid)), { timeout: 15_000, what: 'orphaned workers to stop' }).catch(() => undefined);
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const livePids = async () => new Set((await t.app.workers()).map((w) => w.pid).filter(alive));

  it('--workers 2 runs two processes that share the jobs; a killed one is restarted; SIGTERM stops all with code 0', async () => {
    const sup = startCli(['worker', `${FIXTURE}:app`, '--workers', '2', '--queue', 'q', '--shutdown-timeout', '3'], env);
    const first = await waitFor(async () => {
      const pids = await livePids();
      return pids.size === 2 ? pids : undefined;
    }, { timeout: 20_000, what: 'two worker processes' });
    expect(first.has(sup.pid)).toBe(false);

    const jobs = await Promise.all(Array.from({ length: 12 }, () => t.app.enqueueByName<{ pid: number; worker: string }>('nap', [150], { queue: 'q' })));
    const results = await Promise.all(jobs.map((j) => j.result({ timeout: 15_000 })));
    const ranOn = new Set(results.map((r) => r.pid));
    expect(ranOn).toEqual(first);
    expect(new Set(results.map((r) => r.worker)).size).toBe(2);

    const [victim] = [...first];
    process.kill(victim!, 'SIGKILL');
    await waitFor(() => sup.stderr().includes(`(pid ${victim}) killed by SIGKILL; restarting in`), { what: 'the supervisor to see the crash' });
    const second = await waitFor(async () => {
      const pids = await livePids();
      return pids.size === 2 && !pids.has(victim!) ? pids : undefined;
    }, { timeout: 20_000, what: 'a replacement worker process' });
    const survivor = [...first].find((p) => p !== victim)!;
    expect(second.has(survivor)).toBe(true);

    const after = await t.app.enqueueByName('nap', [10], { queue: 'q' });
    await expect(after.result({ timeout: 15_000 })).resolves.toMatchObject({ pid: expect.any(Number) });

    sup.proc.kill('SIGTERM');
    const exit = await sup.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    for (const pid of second) expect(alive(pid)).toBe(false);
    expect(sup.stderr()).toContain('SIGTERM received; stopping the workers');
  });

  it('gives up with a clear error when a worker keeps crashing', async () => {
    const broken = join(dir, 'broken.mts');
    writeFileSync(broken, "throw new Error('this module is broken');\nexport {};\n");
    const lines: string[] = [];
    const code = await supervise({
      workers: 1,
      args: ['worker', broken],
      backoff: { baseMs: 50, maxMs: 200 },
      crashLimit: { count: 3, windowMs: 60_000 },
      log: (l) => lines.push(l),
      env: { ...process.env, ...env, MILLRACE_LOG_LEVEL: 'silent' },
      output: 'ignore',
    });
    expect(code).toBe(1);
    expect(lines.filter((l) => l.includes('exited with code 1; restarting in'))).toHaveLength(2);
    expect(lines.at(-1)).toMatch(/worker 0 crashed 3 times within 60 s \(last: exited with code 1\); giving up/);
  });

  it('--burst drains the queue, delayed jobs included, then exits 0; --no-dlq keeps failures out of the DLQ', async () => {
    const now = await Promise.all(Array.from({ length: 6 }, () => t.app.enqueueByName('nap', [50], { queue: 'q' })));
    const later = await t.app.enqueueByName('nap', [10], { queue: 'q', delay: 1500 });
    const failing = await t.app.enqueueByName('boom', [], { queue: 'q' });
    const child = startCli(['worker', `${FIXTURE}:app`, '--queue', 'q', '--burst', '--no-dlq', '--heartbeat-interval', '0.5', '--heartbeat-ttl', '2s'], env);
    const exit = await child.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(child.stdout()).toContain('queues empty: burst worker stopping');
    for (const job of [...now, later]) expect(await job.status()).toBe('completed');
    expect(await failing.status()).toBe('failed');
    expect(await t.app.deadLetters('q').count()).toBe(0);
  });

  it('rejects a heartbeat TTL not above the interval (exit 2)', async () => {
    const r = await runCli(['worker', `${FIXTURE}:app`, '--heartbeat-interval', '2', '--heartbeat-ttl', '1'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`'--heartbeat-ttl' (got "1")`);
  });

  it.each([
    ['native file events', {}],
    ['polling (WATCHFILES_FORCE_POLLING)', { WATCHFILES_FORCE_POLLING: 'true', WATCHFILES_POLL_DELAY_MS: '100' }],
  ])('--reload restarts the worker when a file changes: %s', async (_mode, extra) => {
    const src = pathToFileURL(join(ROOT, 'src/index.ts')).href;
    const module = (version: string) => `import { Millrace } from '${src}';\n` +
      "export const app = new Millrace();\n" +
      `app.queue('q', { idleTimeout: 1000 }).task('which', () => ({ version: '${version}', pid: process.pid }));\n`;
    const file = join(dir, 'app.mts');
    writeFileSync(file, module('v1'));
    const sup = startCli(['worker', `${file}:app`, '--reload', '--queue', 'q'], { ...env, ...extra });
    const v1 = await t.app.enqueueByName<{ version: string; pid: number }>('which', [], { queue: 'q' });
    const r1 = await v1.result({ timeout: 20_000 });
    expect(r1.version).toBe('v1');

    writeFileSync(file, module('v2'));
    await waitFor(() => sup.stderr().includes('app.mts changed; restarting the workers'), { timeout: 10_000, what: 'the reload' });
    // Jobs enqueued now are run by the restarted worker only.
    await waitFor(() => !alive(r1.pid), { timeout: 15_000, what: 'the old worker to stop' });
    const v2 = await t.app.enqueueByName<{ version: string; pid: number }>('which', [], { queue: 'q' });
    const r2 = await v2.result({ timeout: 20_000 });
    expect(r2).toMatchObject({ version: 'v2' });
    expect(r2.pid).not.toBe(r1.pid);

    sup.proc.kill('SIGTERM');
    expect((await sup.exited).code).toBe(0);
  });
});
