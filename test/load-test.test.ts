// `millrace load-test` against a real worker process for the example app: the report's counts
// match what was sent (the failure task fails on purpose), --json parses, the report is kept
// for `load-test results <id>`, --no-wait runs are worked out later, and no worker is explained.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, runCli, startCli, type Child } from './fixtures/children.js';
import type { LoadTestReport } from '../src/cli/loadTest.js';
import { analyze, latencyStats, percentile } from '../src/cli/loadTestReport.js';

describe('millrace load-test', () => {
  let t: TestApp<Record<string, never>>;
  let worker: Child;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = testApp({}, 'loadtest');
    env = { MILLRACE_PREFIX: t.prefix };
    worker = startCli(['worker', 'examples/app.ts:app', '--queue', 'load_test'], env);
    await waitFor(async () => (await t.app.workers()).some((w) => w.queues.includes('load_test')), { timeout: 20_000, what: 'the load_test worker' });
  });

  afterAll(async () => {
    worker.proc.kill('SIGTERM');
    await worker.exited;
    killChildren();
    await t.cleanup();
  });

  it('runs 50 mixed jobs and reports sent / completed / failed, latency and an analysis', async () => {
    const r = await runCli(['load-test', 'run', '-n', '50', '-t', 'mixed', '-b', '10'], env, 60_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Round robin over the four tasks: 12 of the 50 are failure_testing_task, which always fails.
    expect(r.stdout).toMatch(/^ {2}sent +50 /m);
    expect(r.stdout).toMatch(/^ {2}completed +38$/m);
    expect(r.stdout).toMatch(/^ {2}failed +12 {2}\(12 expected, from failure_testing_task\)$/m);
    expect(r.stdout).toMatch(/^ {2}pickup latency +p50 \d+ ms +p99 [\d.]+ m?s .*\(50 jobs\)$/m);
    expect(r.stdout).toMatch(/^ {2}throughput +[\d.]+ jobs\/s$/m);
    expect(r.stdout).toMatch(/^ {2}reliability +excellent$/m);
    expect(r.stdout).toMatch(/^ {2}overall +(EXCELLENT|GOOD|FAIR|POOR)$/m);
    expect(r.stdout).toContain('Recommendations');
    expect(r.stdout).toContain('progress: 50/50 done');
  });

  it('prints JSON with --json, and `results <id>` shows the stored report', async () => {
    const r = await runCli(['load-test', 'io', '-n', '20', '-b', '5', '--json'], env, 60_000);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as LoadTestReport;
    expect(report).toMatchObject({
      status: 'complete', sent: 20, completed: 20, failed: 0, pending: 0, workers: 1,
      config: { n: 20, type: 'io', batchSize: 5, queue: 'load_test' },
      byTask: { io_simulation_task: { sent: 20, completed: 20, failed: 0 } },
      analysis: { reliability: 'excellent' },
    });
    expect(report.pickup?.samples).toBe(20);
    expect(report.pickup!.p99).toBeGreaterThanOrEqual(report.pickup!.p50);

    const again = await runCli(['load-test', 'results', report.id, '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(report);
    const text = await runCli(['load-test', 'results', report.id], env);
    expect(text.stdout).toContain(`Load test ${report.id}: 20 io jobs on queue 'load_test'`);
    expect(text.stdout).toMatch(/^ {2}completed +20$/m);
  });

  it('--no-wait only enqueues; `results <id>` works the outcome out from the jobs', async () => {
    const r = await runCli(['load-test', 'failure', '-n', '8', '--no-wait', '--json'], env, 30_000);
    expect(r.code).toBe(0);
    const sent = JSON.parse(r.stdout) as LoadTestReport;
    expect(sent).toMatchObject({ status: 'not-waited', sent: 8, pending: 8 });
    const later = await waitFor(async () => {
      const res = await runCli(['load-test', 'results', sent.id, '--json'], env);
      const report = JSON.parse(res.stdout) as LoadTestReport;
      return report.status === 'complete' ? report : undefined;
    }, { timeout: 20_000, interval: 200, what: 'the no-wait run to finish' });
    expect(later).toMatchObject({ sent: 8, completed: 0, failed: 8, expectedFailures: 8, pending: 0 });
  });

  it('explains how to start a worker when none serves the queue, and rejects an unknown run id', async () => {
    const r = await runCli(['load-test', 'run', '-n', '5', '-q', 'nobody_here'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no live worker serves queue 'nobody_here'");
    expect(r.stderr).toContain('millrace worker examples/app.ts:app --queue nobody_here');
    expect(await t.app.inspector.counts({ name: 'nobody_here', levels: ['low', 'normal', 'high', 'critical'] })).toMatchObject({ delayed: 0, active: 0 });

    const missing = await runCli(['load-test', 'results', 'no-such-run'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no load test 'no-such-run'");
  });

  it('rejects a bad type with the choices', async () => {
    const r = await runCli(['load-test', 'run', '-t', 'gpu'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are cpu, io, memory, failure, mixed');
  });
});

describe('load-test analysis', () => {
  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(values, 50), percentile(values, 99), percentile(values, 100)]).toEqual([50, 99, 100]);
    expect(latencyStats([5, 1, 3])).toEqual({ samples: 3, p50: 3, p99: 5, mean: 3, max: 5 });
    expect(latencyStats([])).toBeNull();
  });

  it('rates a slow, failing, unfinished run poor and says what to do', () => {
    const a = analyze({
      id: 'x', status: 'timed-out', config: { n: 100, type: 'io', batchSize: 10, delayMs: 0, queue: 'load_test', wait: true, timeoutMs: 10_000 },
      startedAt: 0, enqueueMs: 10, durationMs: 10_000, sent: 100, completed: 40, failed: 10, pending: 50, expectedFailures: 0,
      throughput: 5, failureRate: 0.2, unexpectedFailureRate: 0.2, pickup: { samples: 50, p50: 2000, p99: 5000, mean: 2500, max: 6000 },
      byTask: {}, workers: 1,
    });
    expect(a).toMatchObject({ throughput: 'poor', reliability: 'poor', latency: 'poor', overall: 'poor' });
    expect(a.recommendations.join('\n')).toMatch(/50 of 100 jobs had not finished/);
    expect(a.recommendations.join('\n')).toMatch(/millrace dlq list load_test/);
    expect(a.recommendations.join('\n')).toMatch(/--workers 4/);
  });
});
