// The dashboard's load-test reports (GET /api/load-tests, GET /api/load-tests/:id) after real
// runs of runLoadTest against an in-process worker: listed newest first in short, shown whole
// (numbers, ratings, findings, recommendations); an unknown run is a 404, a malformed id a 400.
// `millrace load-test results` without an id lists the same runs. On the real Redis, own prefix.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { listLoadTests, runLoadTest, type LoadTestConfig, type LoadTestReport } from '../src/cli/loadTest.js';
import { formatRunList } from '../src/cli/loadTestReport.js';
import type { LoadTestSummary } from '../src/overseer/reports.js';
import { testApp, waitFor, workers } from './helpers.js';
import { killChildren, runCli } from './fixtures/children.js';
import { serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovrep');
const { app } = t;
// The example app's I/O task, by its name (the load test enqueues it so).
app.queue('load_test', { concurrency: 10 }).task('io_simulation_task', async (_ctx, ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 30)));
  return ms;
});

const tracker = workers({ heartbeatInterval: 200 });
let handler: OverseerHandler;
let served: Served;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, body: await res.json() };
}

const config = (over: Partial<LoadTestConfig> = {}): LoadTestConfig => ({
  n: 8, type: 'io', batchSize: 4, delayMs: 0, queue: 'load_test', wait: true, timeoutMs: 20_000, ...over,
});

let waited: LoadTestReport;
let notWaited: LoadTestReport;

beforeAll(async () => {
  handler = overseer(app, { log: app.log });
  served = await serveHandler(handler);
  await tracker.start(app, { queues: ['load_test'] });
  await waitFor(async () => (await app.workers()).some((w) => w.queues.includes('load_test')), { what: 'the worker' });
  waited = await runLoadTest(app, config());
  notWaited = await runLoadTest(app, config({ n: 3, wait: false }));
});

afterAll(async () => {
  killChildren();
  await tracker.stopAll();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer load-test reports', () => {
  it('lists the runs kept, newest first, each in short', async () => {
    expect(waited.status).toBe('complete');
    const { status, body } = await get('/api/load-tests');
    expect(status).toBe(200);
    const runs = body.runs as LoadTestSummary[];
    expect(runs.map((r) => r.id)).toEqual([notWaited.id, waited.id]);
    expect(runs[1]).toEqual({
      id: waited.id, startedAt: waited.startedAt, status: 'complete', type: 'io', queue: 'load_test', n: 8,
      sent: 8, completed: 8, failed: 0, pending: 0, durationMs: waited.durationMs, throughput: waited.throughput,
      workers: 1, overall: waited.analysis.overall,
    });
    expect(runs[0]).toMatchObject({ status: 'not-waited', n: 3, sent: 3 });
    expect((await get('/api/load-tests?limit=1')).body.runs.map((r: LoadTestSummary) => r.id)).toEqual([notWaited.id]);
    expect((await get('/api/load-tests?limit=0')).status).toBe(400);
  });

  it('shows a run whole: numbers, ratings, findings and recommendations', async () => {
    const { status, body } = await get(`/api/load-tests/${waited.id}`);
    expect(status).toBe(200);
    expect(body).toEqual(JSON.parse(JSON.stringify(waited)));
    expect(body.analysis.reliability).toBe('excellent');
    expect(body.analysis.findings.length).toBeGreaterThan(0);
    expect(body.analysis.recommendations.length).toBeGreaterThan(0);
    expect(body.byTask).toEqual({ io_simulation_task: { sent: 8, completed: 8, failed: 0 } });
  });

  it('answers 404 for an unknown run and 400 for a malformed id', async () => {
    const unknown = await get('/api/load-tests/20200101-000000-abcd');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain("no load test '20200101-000000-abcd'");
    expect((await get('/api/load-tests/a%20b')).status).toBe(400);
  });

  it('lists the runs for the CLI too: listLoadTests, and `load-test results` without an id', async () => {
    expect((await listLoadTests(app)).map((r) => r.id)).toEqual([notWaited.id, waited.id]);
    const text = formatRunList([waited]);
    expect(text.split('\n')[0]).toMatch(/^ID +STARTED \(UTC\) +TYPE +N +STATUS +JOBS\/S +OVERALL$/);
    expect(text.split('\n')[1]).toContain(`${waited.id}  `);
    const r = await runCli(['load-test', 'results', '--json'], { MILLRACE_PREFIX: t.prefix });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as LoadTestReport[]).map((x) => x.id)).toEqual([notWaited.id, waited.id]);
    const human = await runCli(['load-test', 'results'], { MILLRACE_PREFIX: t.prefix });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(waited.id);
    expect(human.stdout).toMatch(new RegExp(`${notWaited.id} .* io +3 +not-waited +- +-`));
  }, 60_000);
});
