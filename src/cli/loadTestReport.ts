// The load test's report: its numbers, the analysis (ratings for throughput, reliability and
// pickup latency, and what to do about them), and the text it is printed as.

export const LOAD_TEST_TYPES = ['cpu', 'io', 'memory', 'failure', 'mixed'] as const;
export type LoadTestType = (typeof LOAD_TEST_TYPES)[number];

/** The example app's load_test tasks, by test type. */
export const LOAD_TEST_TASKS: Record<Exclude<LoadTestType, 'mixed'>, string> = {
  cpu: 'cpu_intensive_task',
  io: 'io_simulation_task',
  memory: 'memory_operations_task',
  failure: 'failure_testing_task',
};

/** The task that fails on purpose: its failures are expected, not a problem. */
export const FAILING_TASK = LOAD_TEST_TASKS.failure;

export interface LoadTestConfig {
  n: number;
  type: LoadTestType;
  batchSize: number;
  delayMs: number;
  queue: string;
  wait: boolean;
  timeoutMs: number;
}

export interface TaskCounts {
  sent: number;
  completed: number;
  failed: number;
}

export interface LatencyStats {
  samples: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export type Rating = 'excellent' | 'good' | 'fair' | 'poor';

export interface Analysis {
  throughput: Rating;
  reliability: Rating;
  latency: Rating;
  overall: Rating;
  findings: string[];
  recommendations: string[];
}

export interface LoadTestReport {
  id: string;
  /** complete: every job finished; timed-out: some had not at --timeout; not-waited: --no-wait. */
  status: 'complete' | 'timed-out' | 'not-waited';
  config: LoadTestConfig;
  /** Epoch ms just before the first job was enqueued. */
  startedAt: number;
  /** Time to enqueue every job, ms. */
  enqueueMs: number;
  /** From the first enqueue to the last outcome seen, ms. */
  durationMs: number;
  sent: number;
  completed: number;
  failed: number;
  /** Sent but not finished (or not known to have finished). */
  pending: number;
  /** Failures of the task that fails on purpose. */
  expectedFailures: number;
  /** Finished jobs per second over the duration. */
  throughput: number;
  /** failed / finished. */
  failureRate: number;
  /** Failures of the other tasks / their finished jobs. */
  unexpectedFailureRate: number;
  /** Time from enqueue to the first attempt's start, ms (none when no job started). */
  pickup: LatencyStats | null;
  byTask: Record<string, TaskCounts>;
  /** Live workers serving the queue when the test started. */
  workers: number;
  analysis: Analysis;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function latencyStats(values: number[]): LatencyStats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: Math.round((sum / sorted.length) * 10) / 10,
    max: sorted[sorted.length - 1]!,
  };
}

const ORDER: Rating[] = ['poor', 'fair', 'good', 'excellent'];

function rate(value: number, thresholds: [number, number, number], higherIsBetter: boolean): Rating {
  const [a, b, c] = thresholds;
  if (higherIsBetter) return value >= a ? 'excellent' : value >= b ? 'good' : value >= c ? 'fair' : 'poor';
  return value <= a ? 'excellent' : value <= b ? 'good' : value <= c ? 'fair' : 'poor';
}

type Numbers = Omit<LoadTestReport, 'analysis'>;

/** Rates the run and says what to do about it. */
export function analyze(r: Numbers): Analysis {
  const findings: string[] = [];
  const recommendations: string[] = [];
  const finished = r.completed + r.failed;
  const cmd = `millrace worker <module> --queue ${r.config.queue}`;

  if (r.status === 'not-waited') {
    return {
      throughput: 'fair', reliability: 'fair', latency: 'fair', overall: 'fair',
      findings: [`${r.sent} jobs enqueued in ${ms(r.enqueueMs)}; the run was not waited for (--no-wait)`],
      recommendations: [`Read the outcome later with \`millrace load-test results ${r.id}\`.`],
    };
  }

  // Throughput in finished jobs per second; I/O jobs wait 20-150 ms each, so a queue at
  // concurrency 50 tops out near 600 jobs/s per worker for them.
  const throughput = finished === 0 ? 'poor' : rate(r.throughput, [200, 50, 10], true);
  findings.push(`throughput ${r.throughput.toFixed(1)} jobs/s over ${ms(r.durationMs)} (${throughput})`);

  let reliability = rate(r.unexpectedFailureRate * 100, [0, 1, 5], false);
  if (r.pending > 0) reliability = 'poor';
  const unexpected = r.failed - r.expectedFailures;
  findings.push(
    `${unexpected} unexpected failure${unexpected === 1 ? '' : 's'} (${pct(r.unexpectedFailureRate)})` +
      (r.expectedFailures ? `; ${r.expectedFailures} expected from ${FAILING_TASK}` : '') +
      (r.pending ? `; ${r.pending} jobs unfinished` : '') + ` (${reliability})`,
  );

  // Jobs sent in a burst wait their turn, so pickup here includes queueing time.
  const latency = r.pickup ? rate(r.pickup.p99, [100, 500, 2000], false) : 'poor';
  findings.push(r.pickup
    ? `pickup latency p50 ${ms(r.pickup.p50)}, p99 ${ms(r.pickup.p99)} (${latency})`
    : `no pickup latency measured: no job was seen starting (${latency})`);

  if (r.pending > 0) {
    recommendations.push(
      `${r.pending} of ${r.sent} jobs had not finished after ${ms(r.config.timeoutMs)}: check that workers serve ` +
        `'${r.config.queue}' (\`millrace workers\`), start more (\`${cmd} --workers 4\`), or raise --timeout.`,
    );
  }
  if (unexpected > 0) {
    recommendations.push(`${unexpected} jobs failed unexpectedly: read their errors with \`millrace dlq list ${r.config.queue}\`.`);
  }
  if (latency === 'fair' || latency === 'poor') {
    recommendations.push(
      `Jobs waited up to ${ms(r.pickup?.p99 ?? 0)} (p99) for a worker: the queue backs up at this rate. ` +
        `Add worker processes (\`${cmd} --workers 4\`) or raise the queue's concurrency.`,
    );
  }
  if (throughput === 'fair' || throughput === 'poor') {
    recommendations.push(
      r.config.type === 'cpu'
        ? 'CPU-bound jobs use one core per worker process: run one process per core (--workers) rather than more concurrency.'
        : 'Throughput is low: raise the queue concurrency for I/O-bound jobs, or run more worker processes.',
    );
  }
  if (r.expectedFailures > 0) {
    recommendations.push(`${FAILING_TASK} fails on purpose; its jobs retry once and land in the dead-letter queue (\`millrace dlq purge ${r.config.queue}\` clears them).`);
  }
  // The mean of the three, rounded down; unfinished or failing jobs make the run poor whatever its speed.
  const mean = Math.floor([throughput, reliability, latency].reduce((a, b) => a + ORDER.indexOf(b), 0) / 3);
  const overall = reliability === 'poor' ? 'poor' : ORDER[mean]!;
  if (overall === 'excellent' || (overall === 'good' && recommendations.length === (r.expectedFailures > 0 ? 1 : 0))) {
    recommendations.unshift('No action needed: the workers keep up with this load. Try a larger run (-n) to find the limit.');
  }
  return { throughput, reliability, latency, overall, findings, recommendations };
}

/** The report as text for people. */
export function formatReport(r: LoadTestReport): string {
  const c = r.config;
  const lines = [
    `Load test ${r.id}: ${c.n} ${c.type} jobs on queue '${c.queue}' in batches of ${c.batchSize}` +
      (c.delayMs ? `, ${c.delayMs} ms apart` : '') + ` (${r.workers} worker${r.workers === 1 ? '' : 's'})`,
    '',
    row('status', r.status),
    row('sent', `${r.sent}  (enqueued in ${ms(r.enqueueMs)})`),
    row('completed', String(r.completed)),
    row('failed', `${r.failed}${r.expectedFailures ? `  (${r.expectedFailures} expected, from ${FAILING_TASK})` : ''}`),
  ];
  if (r.pending) lines.push(row('pending', String(r.pending)));
  if (r.status !== 'not-waited') {
    lines.push(
      row('duration', ms(r.durationMs)),
      row('throughput', `${r.throughput.toFixed(1)} jobs/s`),
      row('failure rate', `${pct(r.failureRate)}  (unexpected: ${pct(r.unexpectedFailureRate)})`),
      row('pickup latency', r.pickup ? `p50 ${ms(r.pickup.p50)}  p99 ${ms(r.pickup.p99)}  max ${ms(r.pickup.max)}  (${r.pickup.samples} jobs)` : '-'),
    );
  }
  const tasks = Object.entries(r.byTask);
  if (tasks.length > 1 || r.status !== 'not-waited') {
    lines.push('', 'By task');
    const width = Math.max(...tasks.map(([t]) => t.length));
    for (const [task, t] of tasks) {
      lines.push(`  ${task.padEnd(width)}  sent ${String(t.sent).padStart(5)}  completed ${String(t.completed).padStart(5)}  failed ${String(t.failed).padStart(5)}`);
    }
  }
  const a = r.analysis;
  if (r.status !== 'not-waited') {
    lines.push(
      '', 'Analysis',
      row('throughput', a.throughput), row('reliability', a.reliability), row('pickup latency', a.latency), row('overall', a.overall.toUpperCase()),
    );
  }
  lines.push('', 'Findings', ...a.findings.map((f) => `  - ${f}`));
  lines.push('', 'Recommendations', ...a.recommendations.map((f) => `  - ${f}`));
  return lines.join('\n');
}

/** Runs in short, one a line: id, when, type, jobs, status, throughput, overall rating. */
export function formatRunList(runs: LoadTestReport[]): string {
  if (runs.length === 0) return '(no load test kept under this key prefix)';
  const cells = runs.map((r) => [
    r.id, new Date(r.startedAt).toISOString().slice(0, 19).replace('T', ' '), r.config.type, String(r.config.n), r.status,
    r.status === 'not-waited' ? '-' : r.throughput.toFixed(1), r.status === 'not-waited' ? '-' : r.analysis.overall,
  ]);
  const header = ['ID', 'STARTED (UTC)', 'TYPE', 'N', 'STATUS', 'JOBS/S', 'OVERALL'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const right = new Set([3, 5]);
  return [header, ...cells].map((c) => c.map((v, i) => (right.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(15)} ${value}`;
}

function ms(v: number): string {
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}
