// The dashboard's load-test reports: the runs `millrace load-test` kept (7 days), newest first,
// and one run's whole report. Read as stored, through the app's broker (listDocuments /
// loadDocument): a run not waited for is not worked out again here (that writes, and reads every
// job of the run); `millrace load-test results <id>` does it.

import type { Hono } from 'hono';
import { listLoadTests, storedLoadTest } from '../cli/loadTest.js';
import type { LoadTestReport } from '../cli/loadTestReport.js';
import type { OverseerData } from './data.js';
import { BadRequest, intParam } from './routes.js';
import type { Env } from './security.js';
import type { LoadTestSummary } from './views.js';

export type { LoadTestSummary } from './views.js';

export type { LoadTestReport } from '../cli/loadTestReport.js';

/** Run ids as `millrace load-test` makes them (20261124-043412-a1b2), loosely: no path tricks. */
const RUN_ID = /^[A-Za-z0-9_.-]{1,100}$/;

export function summary(r: LoadTestReport): LoadTestSummary {
  return {
    id: r.id, startedAt: r.startedAt, status: r.status, type: r.config.type, queue: r.config.queue, n: r.config.n,
    sent: r.sent, completed: r.completed, failed: r.failed, pending: r.pending, durationMs: r.durationMs,
    throughput: r.throughput, workers: r.workers, overall: r.analysis.overall,
  };
}

/** GET /api/load-tests?limit=<1..100> and GET /api/load-tests/:id. */
export function reportRoutes(api: Hono<Env>, data: OverseerData): void {
  api.get('/load-tests', async (c) => {
    const limit = intParam(c, 'limit', 1, 100, 50);
    const reports = await listLoadTests(data.app, limit);
    // Listed by when they were saved; shown by when they started (a run worked out again later is saved again).
    reports.sort((a, b) => b.startedAt - a.startedAt || b.id.localeCompare(a.id));
    return c.json({ runs: reports.map(summary) });
  });

  api.get('/load-tests/:id', async (c) => {
    const id = c.req.param('id');
    if (!RUN_ID.test(id)) throw new BadRequest(`'${id.slice(0, 40)}' is not a load-test run id (they look like 20261124-043412-a1b2)`);
    const report = await storedLoadTest(data.app, id);
    if (!report) throw new BadRequest(`no load test '${id}' under prefix '${data.app.prefix}' (reports are kept 7 days)`, 404);
    return c.json(report);
  });
}
