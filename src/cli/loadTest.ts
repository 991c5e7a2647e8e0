// `millrace load-test`: enqueues a batch of the example app's load_test jobs, follows their
// outcomes on the queue's event stream (job statuses as a fallback), and reports throughput,
// failures and pickup latency; the report is kept in Redis for `load-test results <id>`.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import type { Broker, EventReader, Inspector, WorkerEntry } from '../broker/types.js';
import type { Job } from '../job.js';
import type { AnyTask } from '../registry.js';
import type { JobInfo } from '../types.js';
import type { MillraceEvent } from '../events.js';
import { CliError } from './app.js';
import { intAtLeast, makeKit, secondsOption, withCommon, type Schedule } from './commands/common.js';
import type { Output } from './output.js';
import {
  analyze, FAILING_TASK, formatReport, formatRunList, latencyStats, LOAD_TEST_TASKS, LOAD_TEST_TYPES,
  type LoadTestConfig, type LoadTestReport, type LoadTestType, type TaskCounts,
} from './loadTestReport.js';

export { formatReport, type LoadTestConfig, type LoadTestReport } from './loadTestReport.js';

/** How long a run's report is kept in Redis. */
export const REPORT_TTL_MS = 7 * 86_400_000;
const DOC_KIND = 'loadtest';
/** The report alone, apart from the run's job ids, so that listing runs reads little. */
const REPORT_KIND = 'loadtest-report';

/** What the load test needs of an app (any Millrace app has it). */
export interface LoadTestApp {
  readonly broker: Broker;
  readonly inspector: Inspector;
  readonly eventsMaxLen: number;
  enqueueByName(name: string, args?: unknown[], options?: { queue?: string }): Promise<Job<unknown>>;
  job(queue: string, id: string): Job<unknown>;
  workers(): Promise<WorkerEntry[]>;
  taskNamed(name: string): AnyTask | undefined;
}

export interface Progress {
  total: number;
  sent: number;
  completed: number;
  failed: number;
  elapsedMs: number;
}

export interface LoadTestHooks {
  /** Called once the run has an id and a worker was found, before the first job is sent. */
  onStart?(run: { id: string; workers: number }): void;
  /** Called about every 100 ms while jobs are enqueued and awaited. */
  onProgress?(p: Progress): void;
}

interface StoredRun {
  report: LoadTestReport;
  /** Job ids with their task, to work the outcome out later (after --no-wait or a timeout). */
  jobs: [string, string][];
}

/** The hint printed when no worker serves the queue. */
export function noWorkerHint(queue: string, noWaitTip = true): string {
  return `no live worker serves queue '${queue}': start one first, e.g.\n` +
    `  npx millrace worker examples/app.ts:app --queue ${queue}` +
    (noWaitTip ? '\n(or pass --no-wait to only enqueue the jobs)' : '');
}

/** The task and arguments of the i-th job of a run. */
export function jobPlan(type: LoadTestType, i: number, runId: string): { task: string; args: unknown[] } {
  const kind = type === 'mixed' ? (['cpu', 'io', 'memory', 'failure'] as const)[i % 4]! : type;
  switch (kind) {
    case 'cpu':
      return { task: LOAD_TEST_TASKS.cpu, args: [5_000 + (i % 5) * 5_000] };
    case 'io':
      return { task: LOAD_TEST_TASKS.io, args: [20 + ((i * 37) % 130)] };
    case 'memory':
      return { task: LOAD_TEST_TASKS.memory, args: [5_000 + (i % 5) * 5_000] };
    case 'failure':
      return { task: LOAD_TEST_TASKS.failure, args: [`load test ${runId} job ${i}`] };
  }
}

function newRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

type Outcome = 'completed' | 'failed';

/** Runs a load test; resolves with its report (also stored in Redis). */
export async function runLoadTest(app: LoadTestApp, config: LoadTestConfig, hooks: LoadTestHooks = {}): Promise<LoadTestReport> {
  const { queue } = config;
  const id = newRunId();
  const workers = (await app.workers()).filter((w) => w.queues.includes(queue)).length;
  if (workers === 0 && config.wait) throw new CliError(noWorkerHint(queue));
  hooks.onStart?.({ id, workers });

  const ours = new Map<string, string>(); // job id -> task
  const outcomes = new Map<string, { outcome: Outcome; at: number }>();
  const pickups = new Map<string, number>();
  const tally = { completed: 0, failed: 0, lastAt: 0 };
  const count = (jobId: string) => {
    const o = outcomes.get(jobId);
    if (!o || !ours.has(jobId)) return;
    tally[o.outcome]++;
    tally.lastAt = Math.max(tally.lastAt, o.at);
  };
  const settle = (jobId: string, outcome: Outcome, at = Date.now()) => {
    if (outcomes.has(jobId)) return;
    outcomes.set(jobId, { outcome, at });
    count(jobId);
  };

  const onEvent = (e: MillraceEvent) => {
    if (e.type === 'job.started' && e.attempt === 1 && e.pickupMs !== undefined) pickups.set(e.id, e.pickupMs);
    else if (e.type === 'job.completed') settle(e.id, 'completed');
    else if ((e.type === 'job.failed' && !e.willRetry) || e.type === 'job.dead' || e.type === 'job.aborted') settle(e.id, 'failed');
  };

  // Follow the event stream from its current end, so outcomes of jobs finishing while the
  // rest are still being enqueued are not missed.
  let reader: EventReader | undefined;
  let following: Promise<void> | undefined;
  let stopFollowing = false;
  let lastEventAt = Date.now();
  if (config.wait && app.eventsMaxLen > 0) {
    reader = app.broker.eventReader();
    // One cursor per stream: a sharded queue's events come from each of its shards.
    const cursors = await reader.latest([queue]);
    const r = reader;
    following = (async () => {
      while (!stopFollowing) {
        let events;
        try {
          events = await r.read(cursors, 1000, 200);
        } catch {
          if (stopFollowing) return;
          await sleep(200);
          continue;
        }
        for (const { queue: stream, cursor: c, event } of events) {
          cursors[stream] = c;
          lastEventAt = Date.now();
          onEvent(event);
        }
      }
    })();
  }

  const startedAt = Date.now();
  const progress = () => hooks.onProgress?.({
    total: config.n, sent: ours.size, completed: tally.completed, failed: tally.failed,
    elapsedMs: (tally.completed + tally.failed === config.n && tally.lastAt ? tally.lastAt : Date.now()) - startedAt,
  });
  const ticker = setInterval(progress, 100);
  try {
    for (let first = 0; first < config.n; first += config.batchSize) {
      const plans = Array.from({ length: Math.min(config.batchSize, config.n - first) }, (_, k) => jobPlan(config.type, first + k, id));
      for (const [task, jobs] of await enqueueBatch(app, queue, plans)) {
        for (const job of jobs) {
          ours.set(job.id, task);
          count(job.id);
        }
      }
      if (config.delayMs > 0 && first + config.batchSize < config.n) await sleep(config.delayMs);
    }
    const enqueueMs = Date.now() - startedAt;
    const jobs = [...ours];

    if (!config.wait) {
      progress();
      const report = buildReport({ id, config, startedAt, enqueueMs, workers, jobs, outcomes: new Map(), pickups: [] }, 'not-waited');
      await save(app, { report, jobs });
      return report;
    }

    const deadline = startedAt + config.timeoutMs;
    let lastCheckAt = Date.now();
    while (tally.completed + tally.failed < config.n && Date.now() < deadline) {
      await sleep(100);
      // Without events (or when some were missed), ask for the statuses of the unfinished jobs.
      const quiet = Date.now() - Math.max(lastEventAt, lastCheckAt) > 3000;
      if (!reader || quiet) {
        lastCheckAt = Date.now();
        await checkStatuses(app, queue, jobs.filter(([j]) => !outcomes.has(j)).map(([j]) => j), settle, pickups);
      }
    }
    clearInterval(ticker);
    stopFollowing = true;
    await reader?.close();
    await following;
    const unfinished = jobs.filter(([j]) => !outcomes.has(j)).map(([j]) => j);
    if (unfinished.length) await checkStatuses(app, queue, unfinished, settle, pickups);
    progress();
    const pickupValues = jobs.flatMap(([j]) => (pickups.has(j) ? [pickups.get(j)!] : []));
    const report = buildReport({ id, config, startedAt, enqueueMs, workers, jobs, outcomes, pickups: pickupValues, endAt: tally.lastAt });
    await save(app, { report, jobs });
    return report;
  } finally {
    clearInterval(ticker);
    stopFollowing = true;
    await reader?.close().catch(() => undefined);
  }
}

/** Enqueues one batch: one round trip per task when this process defines it, else by name. */
async function enqueueBatch(app: LoadTestApp, queue: string, plans: { task: string; args: unknown[] }[]): Promise<[string, Job<unknown>[]][]> {
  const byTask = new Map<string, unknown[][]>();
  for (const p of plans) byTask.set(p.task, [...(byTask.get(p.task) ?? []), p.args]);
  return Promise.all([...byTask].map(async ([task, argLists]): Promise<[string, Job<unknown>[]]> => {
    const defined = app.taskNamed(task);
    if (defined && defined.queue.name === queue) return [task, await defined.enqueueMany(argLists)];
    return [task, await Promise.all(argLists.map((args) => app.enqueueByName(task, args, { queue })))];
  }));
}

/** Settles the jobs whose status says they ended; records pickup latency from their info. */
async function checkStatuses(
  app: LoadTestApp, queue: string, ids: string[], settle: (id: string, o: Outcome, at?: number) => void, pickups: Map<string, number>,
): Promise<void> {
  for (let i = 0; i < ids.length; i += 100) {
    const infos = await Promise.all(ids.slice(i, i + 100).map((id) => app.job(queue, id).info().catch(() => undefined)));
    for (const info of infos) {
      if (!info) continue;
      const outcome = outcomeOf(info);
      if (outcome) settle(info.id, outcome, info.finishedAt ?? Date.now());
      if (!pickups.has(info.id) && info.attempts <= 1 && info.startedAt && info.enqueuedAt) pickups.set(info.id, info.startedAt - info.enqueuedAt);
    }
  }
}

function outcomeOf(info: JobInfo): Outcome | undefined {
  if (info.status === 'completed') return 'completed';
  if (info.status === 'failed' || info.status === 'aborted' || info.status === 'expired') return 'failed';
  return undefined;
}

interface Collected {
  id: string;
  config: LoadTestConfig;
  startedAt: number;
  enqueueMs: number;
  workers: number;
  jobs: [string, string][];
  outcomes: Map<string, { outcome: Outcome; at: number }>;
  pickups: number[];
  endAt?: number;
}

function buildReport(c: Collected, status?: LoadTestReport['status']): LoadTestReport {
  const byTask: Record<string, TaskCounts> = {};
  let completed = 0;
  let failed = 0;
  let expectedFailures = 0;
  let lastAt = c.endAt ?? 0;
  for (const [jobId, task] of c.jobs) {
    const t = (byTask[task] ??= { sent: 0, completed: 0, failed: 0 });
    t.sent++;
    const o = c.outcomes.get(jobId);
    if (!o) continue;
    t[o.outcome]++;
    lastAt = Math.max(lastAt, o.at);
    if (o.outcome === 'completed') completed++;
    else {
      failed++;
      if (task === FAILING_TASK) expectedFailures++;
    }
  }
  const sent = c.jobs.length;
  const pending = sent - completed - failed;
  const finished = completed + failed;
  const durationMs = status === 'not-waited' ? c.enqueueMs : Math.max(1, (lastAt || Date.now()) - c.startedAt);
  const otherFinished = finished - (byTask[FAILING_TASK]?.completed ?? 0) - expectedFailures;
  const numbers = {
    id: c.id,
    status: status ?? (pending > 0 ? 'timed-out' : 'complete'),
    config: c.config,
    startedAt: c.startedAt,
    enqueueMs: c.enqueueMs,
    durationMs,
    sent,
    completed,
    failed,
    pending,
    expectedFailures,
    throughput: finished / (durationMs / 1000),
    failureRate: finished ? failed / finished : 0,
    unexpectedFailureRate: otherFinished > 0 ? (failed - expectedFailures) / otherFinished : 0,
    pickup: latencyStats(c.pickups),
    byTask,
    workers: c.workers,
  } satisfies Omit<LoadTestReport, 'analysis'>;
  return { ...numbers, analysis: analyze(numbers) };
}

async function save(app: LoadTestApp, run: StoredRun): Promise<void> {
  await app.broker.saveDocument(DOC_KIND, run.report.id, JSON.stringify(run), REPORT_TTL_MS);
  await app.broker.saveDocument(REPORT_KIND, run.report.id, JSON.stringify(run.report), REPORT_TTL_MS);
}

/** The reports of the newest runs kept (the last saved first), as stored: none is worked out again. */
export async function listLoadTests(app: Pick<LoadTestApp, 'broker'>, limit = 20): Promise<LoadTestReport[]> {
  const docs = await app.broker.listDocuments(REPORT_KIND, limit);
  return docs.flatMap((d) => {
    try {
      return [JSON.parse(d.json) as LoadTestReport];
    } catch {
      return [];
    }
  });
}

/** A run's report as stored (not worked out again); undefined when there is no such run. */
export async function storedLoadTest(app: Pick<LoadTestApp, 'broker'>, id: string): Promise<LoadTestReport | undefined> {
  const report = await app.broker.loadDocument(REPORT_KIND, id);
  if (report !== null) return JSON.parse(report) as LoadTestReport;
  // A run saved before reports were stored apart.
  const run = await app.broker.loadDocument(DOC_KIND, id);
  return run === null ? undefined : (JSON.parse(run) as StoredRun).report;
}

/**
 * A stored run's report; for a run that was not waited for (or timed out) the outcome is
 * worked out again from the jobs' statuses, and stored. Undefined when there is no such run.
 */
export async function loadTestResults(app: LoadTestApp, id: string): Promise<LoadTestReport | undefined> {
  const raw = await app.broker.loadDocument(DOC_KIND, id);
  if (raw === null) return undefined;
  const run = JSON.parse(raw) as StoredRun;
  if (run.report.pending === 0) return run.report;
  const outcomes = new Map<string, { outcome: Outcome; at: number }>();
  const pickups = new Map<string, number>();
  await checkStatuses(app, run.report.config.queue, run.jobs.map(([j]) => j), (j, outcome, at = Date.now()) => outcomes.set(j, { outcome, at }), pickups);
  const r = run.report;
  const report = buildReport({
    id: r.id, config: r.config, startedAt: r.startedAt, enqueueMs: r.enqueueMs, workers: r.workers, jobs: run.jobs, outcomes,
    pickups: run.jobs.flatMap(([j]) => (pickups.has(j) ? [pickups.get(j)!] : [])),
  });
  await save(app, { report, jobs: run.jobs });
  return report;
}

/** A live progress bar on a terminal, else a plain line about every second. */
export function progressPrinter(out: Output, tty = process.stdout.isTTY === true): { onProgress(p: Progress): void; stop(): void } {
  if (tty) {
    const bar = new cliProgress.SingleBar({
      format: '  {bar} {percentage}% | {value}/{total} done | sent {sent} | {completed} ok, {failed} failed | {rate} jobs/s | {elapsed}',
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      onProgress(p) {
        const done = p.completed + p.failed;
        const payload = { sent: p.sent, completed: p.completed, failed: p.failed, rate: (done / Math.max(0.001, p.elapsedMs / 1000)).toFixed(1), elapsed: `${(p.elapsedMs / 1000).toFixed(1)}s` };
        if (!started) {
          bar.start(p.total, done, payload);
          started = true;
        } else bar.update(done, payload);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let lastAt = 0;
  let last = '';
  let final = false;
  return {
    onProgress(p) {
      if (final) return;
      const line = `  progress: ${p.completed + p.failed}/${p.total} done (sent ${p.sent}, ${p.completed} completed, ${p.failed} failed) after ${(p.elapsedMs / 1000).toFixed(1)} s`;
      const finished = p.completed + p.failed === p.total;
      if (line === last || (Date.now() - lastAt < 1000 && !finished)) return;
      final = finished;
      lastAt = Date.now();
      last = line;
      out.out(line);
    },
    stop: () => undefined,
  };
}

interface RunFlags {
  numTasks: number;
  type: LoadTestType;
  batchSize: number;
  delay: number;
  queue: string;
  wait?: boolean;
  timeout: number;
  app?: string;
  json?: boolean;
}

/** Registers `load-test run|cpu|io|memory|failure|results`. */
export function registerLoadTestCommands(program: Command, out: Output, schedule: Schedule): void {
  const kit = makeKit(out, schedule);
  const lt = program
    .command('load-test')
    .description("load-test a queue with the example app's load_test tasks, and report throughput, failures and pickup latency")
    .addHelpText('after', `
A worker must serve the queue:  npx millrace worker examples/app.ts:app --queue load_test

Examples:
  $ millrace load-test run -n 500 -t mixed -b 50
  $ millrace load-test io -n 1000
  $ millrace load-test run -n 10000 --no-wait
  $ millrace load-test results 20261124-043412-a1b2
  $ millrace load-test results            # the recent runs`);

  const runCommand = (name: string, type: LoadTestType | undefined, description: string) => {
    const cmd = lt.command(name).description(description)
      .option('-n, --num-tasks <n>', 'jobs to enqueue', intAtLeast(1, '--num-tasks'), 100)
      .option('-b, --batch-size <n>', 'jobs per enqueue batch', intAtLeast(1, '--batch-size'), 10)
      .option('-d, --delay <ms>', 'pause between batches, ms', intAtLeast(0, '--delay'), 0)
      .option('-q, --queue <name>', 'queue the tasks are on', 'load_test')
      .option('--wait', 'wait for every job to finish and report (default)')
      .option('--no-wait', 'only enqueue; read the outcome later with `load-test results <id>`')
      .addOption(secondsOption('--timeout <seconds>', 'how long to wait for the jobs', 120_000));
    if (!type) cmd.addOption(new Option('-t, --type <type>', 'kind of jobs').choices(LOAD_TEST_TYPES).default('mixed'));
    withCommon(cmd).action((flags: RunFlags) =>
      kit.run(flags, async (s) => {
        const config: LoadTestConfig = {
          n: flags.numTasks, type: type ?? flags.type, batchSize: flags.batchSize, delayMs: flags.delay,
          queue: flags.queue, wait: flags.wait !== false, timeoutMs: flags.timeout,
        };
        const printer = s.json ? undefined : progressPrinter(out);
        const onStart = ({ id, workers }: { id: string; workers: number }) => {
          if (!s.json) {
            out.out(`Load test ${id}: ${config.n} ${config.type} jobs on '${config.queue}', ${workers} worker${workers === 1 ? '' : 's'} serving it` +
              (config.wait ? '' : ' (not waiting)'));
          }
          if (workers === 0) out.err(`millrace: ${noWorkerHint(config.queue, false)}`);
        };
        let report: LoadTestReport;
        try {
          report = await runLoadTest(s.app, config, { onStart, onProgress: printer?.onProgress });
        } finally {
          printer?.stop();
        }
        s.print(report, () => `\n${formatReport(report)}`);
        return report.status === 'timed-out' ? 1 : 0;
      }));
  };
  runCommand('run', undefined, 'enqueue n jobs of a type (or a mix), wait for them, and print a report');
  for (const type of ['cpu', 'io', 'memory', 'failure'] as const) {
    runCommand(type, type, `same as 'load-test run -t ${type}' (${LOAD_TEST_TASKS[type]})`);
  }

  withCommon(
    lt.command('results')
      .description('print the report of an earlier run (kept 7 days); a run not waited for is worked out from its jobs now. Without an id: the recent runs')
      .argument('[id]', 'the run id the load test printed')
      .option('-l, --limit <n>', 'runs to list, without an id', intAtLeast(1, '--limit'), 20),
  ).action((id: string | undefined, flags: { app?: string; json?: boolean; limit: number }) =>
    kit.run(flags, async (s) => {
      if (id === undefined) {
        const runs = await listLoadTests(s.app, flags.limit);
        s.print(runs, () => formatRunList(runs));
        return 0;
      }
      const report = await loadTestResults(s.app, id);
      if (!report) throw new CliError(`no load test '${id}' (reports are kept ${REPORT_TTL_MS / 86_400_000} days under this key prefix)`);
      s.print(report, () => formatReport(report));
      return 0;
    }));
}
