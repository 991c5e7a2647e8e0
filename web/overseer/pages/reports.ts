// Load tests: the runs `millrace load-test` kept (7 days), newest first, and one run's report:
// its numbers, per-task counts, ratings, findings and recommendations. All of it as text.

import { get, q } from '../api.js';
import type { Page } from '../context.js';
import { fill, h, link, notice, table, type Child } from '../dom.js';
import { duration, time } from '../format.js';
import type { LoadTestReport, LoadTestSummary } from '../../../src/overseer/views.js';

type Rating = LoadTestReport['analysis']['overall'];

function rating(r: Rating): HTMLElement {
  return h('span', { class: `tag ${r === 'excellent' || r === 'good' ? 'ok' : r === 'poor' ? 'bad' : ''}` }, r);
}

function status(s: LoadTestReport['status']): HTMLElement {
  return h('span', { class: `tag ${s === 'complete' ? 'ok' : s === 'timed-out' ? 'bad' : ''}` }, s);
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const rate = (r: { status: LoadTestReport['status']; throughput: number }) => (r.status === 'not-waited' ? '—' : `${r.throughput.toFixed(1)} jobs/s`);

function list(root: HTMLElement, left: () => boolean): void {
  const body = h('div', null, notice('loading…'));
  fill(root, h('h1', null, 'Load tests'),
    h('p', { class: 'hint' }, 'Runs of ', h('code', null, 'millrace load-test'), ' kept under this prefix (7 days), newest first. A run not waited for is shown as stored: ',
      h('code', null, 'millrace load-test results <id>'), ' works out its outcome.'),
    body);
  get<{ runs: LoadTestSummary[] }>('load-tests').then(
    ({ runs }) => {
      if (left()) return;
      fill(body, table(
        ['run', 'started', 'type', 'queue', 'jobs', 'status', 'completed', 'failed', 'pending', 'duration', 'throughput', 'workers', 'overall'],
        runs.map((r): Child[] => [
          link(h('code', null, r.id), 'load-tests', r.id), time(r.startedAt), r.type, r.queue, r.n, status(r.status), r.completed, r.failed, r.pending,
          r.status === 'not-waited' ? '—' : duration(r.durationMs), rate(r), r.workers, r.status === 'not-waited' ? '—' : rating(r.overall),
        ]),
        'no load test kept under this prefix (run one: npx millrace load-test run -n 500)',
      ));
    },
    (err: Error) => !left() && fill(body, notice(err.message, 'error')),
  );
}

function facts(r: LoadTestReport): HTMLElement {
  const c = r.config;
  const waited = r.status !== 'not-waited';
  const rows: [string, Child][] = [
    ['status', status(r.status)],
    ['queue', link(c.queue, 'queue', c.queue)],
    ['jobs', `${c.n} ${c.type} jobs in batches of ${c.batchSize}${c.delayMs ? `, ${c.delayMs} ms apart` : ''}`],
    ['workers', `${r.workers} serving the queue at the start`],
    ['started', time(r.startedAt)],
    ['sent', `${r.sent} (enqueued in ${duration(r.enqueueMs)})`],
    ['completed', String(r.completed)],
    ['failed', `${r.failed}${r.expectedFailures ? ` (${r.expectedFailures} expected, from the task that fails on purpose)` : ''}`],
    ['pending', String(r.pending)],
  ];
  if (waited) {
    rows.push(
      ['duration', duration(r.durationMs)],
      ['throughput', rate(r)],
      ['failure rate', `${pct(r.failureRate)} (unexpected: ${pct(r.unexpectedFailureRate)})`],
      ['pickup latency', r.pickup ? `p50 ${duration(r.pickup.p50)} · p99 ${duration(r.pickup.p99)} · mean ${duration(r.pickup.mean)} · max ${duration(r.pickup.max)} (${r.pickup.samples} jobs)` : '—'],
    );
  }
  return h('dl', { class: 'facts', id: 'report-facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function report(root: HTMLElement, id: string, left: () => boolean): void {
  const body = h('div', null, notice('loading…'));
  fill(root, h('p', null, link('← Load tests', 'load-tests')), h('h1', null, 'Load test ', h('code', { class: 'name' }, id)), body);
  get<LoadTestReport>(`load-tests/${q(id)}`).then(
    (r) => {
      if (left()) return;
      const a = r.analysis;
      const waited = r.status !== 'not-waited';
      fill(
        body,
        facts(r),
        h('h2', null, 'By task'),
        table(['task', 'sent', 'completed', 'failed'], Object.entries(r.byTask).map(([task, t]) => [h('code', null, task), t.sent, t.completed, t.failed])),
        waited ? [h('h2', null, 'Ratings'), table(['throughput', 'reliability', 'pickup latency', 'overall'], [[rating(a.throughput), rating(a.reliability), rating(a.latency), rating(a.overall)]])] : null,
        h('h2', null, 'Findings'), h('ul', { id: 'report-findings' }, a.findings.map((f) => h('li', null, f))),
        h('h2', null, 'Recommendations'), h('ul', { id: 'report-recommendations' }, a.recommendations.map((f) => h('li', null, f))),
      );
    },
    (err: Error) => !left() && fill(body, notice(err.message, 'error')),
  );
}

export const reports: Page = ({ root, params, left }) => {
  const [id] = params;
  if (id) report(root, id, left);
  else list(root, left);
};
