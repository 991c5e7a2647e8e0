// Commands on jobs by id (status, info, result, abort) and the listing of jobs by state.

import { Command, Option } from 'commander';
import { decodeHeader } from '../../envelope.js';
import { decodeResult } from '../../results.js';
import type { Job } from '../../job.js';
import type { JobSummary } from '../../broker/types.js';
import { CliError, knownQueues, queueLevels, requireQueue, type OpsApp } from '../app.js';
import { cut, duration, json, keyValues, table, time, type Output } from '../output.js';
import { intAtLeast, JOB_STATES, secondsOption, withCommon, type GlobalFlags, type Kit } from './common.js';

interface QueueFlag extends GlobalFlags {
  queue?: string;
}

/** The job by id: in the given queue, else in any queue. Not found is exit 1. */
export async function locateJob(app: OpsApp, id: string, queue: string | undefined): Promise<Job> {
  if (queue !== undefined) {
    await requireQueue(app, queue);
    const job = app.job(queue, id);
    if ((await job.status()) === 'unknown') {
      throw new CliError(`job '${id}' not found in queue '${queue}' (never enqueued there, or its result has expired)`);
    }
    return job;
  }
  const job = await app.findJob(id);
  if (job) return job;
  const queues = await knownQueues(app);
  throw new CliError(
    `job '${id}' not found in any queue under prefix '${app.prefix}' ` +
      `(searched: ${queues.join(', ') || 'none, no queue is known'}); it was never enqueued, or its result has expired`,
  );
}

/** Prints a finished job's failure; returns the exit code (1). */
interface Printer {
  json: boolean;
  out: Output;
}

function reportFailure(err: Error & Record<string, unknown>, job: Job, s: Printer, timeoutMs: number, extra: Record<string, unknown>): number {
  const status = {
    JobFailedError: 'failed',
    JobAbortedError: 'aborted',
    JobExpiredError: 'expired',
    ResultTimeoutError: 'timeout',
  }[err.name];
  if (status === undefined) throw err;
  const error = err.name === 'JobFailedError' ? { name: err.errorName, message: err.errorMessage, attempts: err.attempts } : { name: err.name, message: err.message };
  if (s.json) s.out.out(json({ id: job.id, queue: job.queue, ...extra, status, error }));
  if (status === 'timeout') s.out.err(`millrace: no result for job '${job.id}' (queue '${job.queue}') within ${duration(timeoutMs)}; raise --timeout to wait longer`);
  else s.out.err(`millrace: ${err.message}`);
  return 1;
}

/** Waits for the job's result and prints it; exit 1 when it failed, was aborted, expired or timed out. */
export async function printResult(job: Job, timeoutMs: number, s: Printer, extra: Record<string, unknown> = {}): Promise<number> {
  let value: unknown;
  try {
    value = await job.result({ timeout: timeoutMs });
  } catch (err) {
    return reportFailure(err as Error & Record<string, unknown>, job, s, timeoutMs, extra);
  }
  if (s.json) s.out.out(json({ id: job.id, queue: job.queue, ...extra, status: 'completed', result: value ?? null }));
  else s.out.out(typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? 'null'));
  return 0;
}

interface Row {
  id: string;
  queue: string;
  state: JobSummary['state'];
  task?: string;
  priority?: string;
  attempt?: number;
  worker?: string;
  dueAt?: number;
  finishedAt?: number;
  error?: string;
}

/** A listing entry as people and scripts read it (headers and result records decoded). */
function describeSummary(queue: string, levels: readonly string[], j: JobSummary): Row {
  const row: Row = { id: j.id, queue, state: j.state };
  if (j.header !== undefined) {
    try {
      const h = decodeHeader(j.header);
      row.task = h.task;
      row.attempt = h.attempt + 1;
    } catch {
      row.error = 'malformed header';
    }
  }
  if (j.state === 'waiting' || j.state === 'active' || j.state === 'delayed') row.priority = levels[j.level];
  if (j.owner) row.worker = j.owner;
  if (j.dueAt !== undefined) row.dueAt = j.dueAt;
  if (j.result !== undefined) {
    try {
      const r = decodeResult(j.result);
      row.task = r.meta.task;
      row.attempt = r.meta.attempts;
      row.worker = r.meta.worker;
      row.finishedAt = r.meta.finishedAt;
      if (r.status !== 'completed') row.error = [r.meta.name, r.meta.message].filter(Boolean).join(': ') || undefined;
    } catch {
      row.error = 'unreadable result record';
    }
  }
  return row;
}

export function registerJobCommands(program: Command, kit: Kit): void {
  const queueOption = () => new Option('-q, --queue <name>', 'the queue of the job (default: search every queue)');

  withCommon(
    program
      .command('status')
      .summary("print a job's status")
      .description("print a job's status: waiting, delayed, active, completed, failed, aborted or expired")
      .argument('<id>', 'job id')
      .addOption(queueOption()),
  )
    .addHelpText('after', `
Examples:
  $ millrace status 1718000000000-0
  $ millrace status order-42 --queue emails --json`)
    .action((id: string, flags: QueueFlag) =>
      kit.run(flags, async (s) => {
        const job = await locateJob(s.app, id, flags.queue);
        const status = await job.status();
        s.print({ id, queue: job.queue, status }, () => status);
      }),
    );

  withCommon(
    program
      .command('info')
      .summary('show everything known about a job')
      .description('show everything known about a job: task, args, priority, attempts, times, worker, result or error, progress')
      .argument('<id>', 'job id')
      .addOption(queueOption()),
  )
    .addHelpText('after', `
Examples:
  $ millrace info 1718000000000-0
  $ millrace info order-42 --queue emails --json`)
    .action((id: string, flags: QueueFlag) =>
      kit.run(flags, async (s) => {
        const job = await locateJob(s.app, id, flags.queue);
        const [info, progress] = await Promise.all([job.info(), job.progress()]);
        s.print({ ...info, progress }, () =>
          keyValues([
            ['id', info.id],
            ['queue', info.queue],
            ['status', info.status],
            ['task', info.task],
            ['args', info.args],
            ['priority', info.priority],
            ['attempts', info.attempts],
            ['enqueued', info.enqueuedAt === undefined ? undefined : time(info.enqueuedAt)],
            ['due', info.dueAt === undefined ? undefined : time(info.dueAt)],
            ['worker', info.worker],
            ['deliveries', info.deliveries || undefined],
            ['abort requested', info.abortRequested ? 'yes' : undefined],
            ['last error', info.lastError || undefined],
            ['started', info.startedAt === undefined ? undefined : time(info.startedAt)],
            ['finished', info.finishedAt === undefined ? undefined : time(info.finishedAt)],
            ['took', info.startedAt !== undefined && info.finishedAt !== undefined ? duration(info.finishedAt - info.startedAt) : undefined],
            ['progress', progress],
            ['result', info.status === 'completed' ? (info.result ?? null) : undefined],
            ['error', info.error ? `${info.error.name}: ${info.error.message}${info.error.reason ? ` (${info.error.reason})` : ''}` : undefined],
          ]),
        );
      }),
    );

  withCommon(
    program
      .command('result')
      .summary("wait for a job's result and print it")
      .description("wait for a job's result and print it (exit 1 if the job failed, was aborted, expired, or no result came in time)")
      .argument('<id>', 'job id')
      .addOption(queueOption())
      .addOption(secondsOption('-t, --timeout <seconds>', "how long to wait: seconds or a duration like '2m'", 30_000)),
  )
    .addHelpText('after', `
Examples:
  $ millrace result 1718000000000-0
  $ millrace result order-42 --queue emails --timeout 120 --json`)
    .action((id: string, flags: QueueFlag & { timeout: number }) =>
      kit.run(flags, async (s) => printResult(await locateJob(s.app, id, flags.queue), flags.timeout, s)),
    );

  withCommon(
    program
      .command('abort')
      .summary('abort a job (remove it, or abort its signal if running)')
      .description('abort a job: a waiting or delayed one is removed; a running one has its signal aborted')
      .argument('<id>', 'job id')
      .addOption(queueOption()),
  )
    .addHelpText('after', `
Outcomes: aborted (removed before it ran), aborting (running; its signal is aborted),
finished (it had already ended; nothing done).

Examples:
  $ millrace abort 1718000000000-0
  $ millrace abort order-42 --queue emails --json`)
    .action((id: string, flags: QueueFlag) =>
      kit.run(flags, async (s) => {
        const job = await locateJob(s.app, id, flags.queue);
        const outcome = await job.abort();
        if (outcome === 'not_found') throw new CliError(`job '${id}' not found in queue '${job.queue}' (it ended and its result expired meanwhile)`);
        const text = {
          aborted: `job ${id} (queue ${job.queue}) aborted before it ran`,
          aborting: `job ${id} (queue ${job.queue}) is running: abort requested, its signal is aborted`,
          finished: `job ${id} (queue ${job.queue}) had already finished (${await job.status()}); nothing to abort`,
        }[outcome];
        s.print({ id, queue: job.queue, outcome }, () => text);
      }),
    );

  withCommon(
    program
      .command('promote')
      .summary('run a delayed job (or a scheduled retry) now')
      .description("make a delayed job, or a retry waiting for its backoff, ready now: it runs at the workers' next look for due jobs (within 250 ms)")
      .argument('<id>', 'job id')
      .addOption(queueOption()),
  )
    .addHelpText('after', `
A job that is not delayed (waiting, running, ended) is left alone: exit 1 saying where it is.

Examples:
  $ millrace promote 1718000000000-0
  $ millrace promote order-42 --queue emails --json`)
    .action((id: string, flags: QueueFlag) =>
      kit.run(flags, async (s) => {
        const job = await locateJob(s.app, id, flags.queue);
        if (!(await job.promote())) throw new CliError(`job '${id}' (queue ${job.queue}) is not delayed: it is ${await job.status()}`);
        s.print({ id, queue: job.queue, promoted: true }, () => `job ${id} (queue ${job.queue}) promoted: it runs at the workers' next look for due jobs`);
      }),
    );

  withCommon(
    program
      .command('jobs')
      .summary('list jobs by state')
      .description('list jobs in one state, in one queue or in all of them')
      .addOption(new Option('-s, --status <state>', 'state of the jobs to list').choices([...JOB_STATES]).makeOptionMandatory())
      .option('-q, --queue <name>', 'queue to list (default: every queue)')
      .option('-n, --limit <n>', 'at most this many jobs', intAtLeast(1, '--limit'), 50),
  )
    .addHelpText('after', `
Finished jobs (completed, failed, aborted, expired) are found through their kept results: a job
whose result was not kept (resultTtl 'none', or expired) is not listed.

Examples:
  $ millrace jobs --status waiting --queue emails
  $ millrace jobs --status failed --limit 10 --json`)
    .action((flags: GlobalFlags & { status: JobSummary['state']; queue?: string; limit: number }) =>
      kit.run(flags, async (s) => {
        if (flags.queue !== undefined) await requireQueue(s.app, flags.queue);
        const queues = flags.queue !== undefined ? [flags.queue] : await knownQueues(s.app);
        const rows: Row[] = [];
        for (const queue of queues) {
          if (rows.length >= flags.limit) break;
          const levels = await queueLevels(s.app, queue);
          const found = await s.app.listJobs(queue, flags.status, flags.limit - rows.length);
          rows.push(...found.map((j) => describeSummary(queue, levels, j)));
        }
        const now = Date.now();
        s.print(rows, () =>
          table(
            rows,
            [
              { header: 'id', value: (r) => r.id },
              { header: 'queue', value: (r) => r.queue },
              { header: 'task', value: (r) => r.task },
              { header: 'state', value: (r) => r.state },
              { header: 'priority', value: (r) => r.priority },
              { header: 'attempt', value: (r) => r.attempt, align: 'right' },
              {
                header: 'detail',
                value: (r) =>
                  r.error ? cut(r.error) :
                  r.dueAt !== undefined ? `due in ${duration(r.dueAt - now)}` :
                  r.finishedAt !== undefined ? `finished ${time(r.finishedAt)}` :
                  r.worker ? `worker ${r.worker}` : '',
              },
            ],
            `no ${flags.status} jobs${flags.queue ? ` in queue '${flags.queue}'` : ''}`,
          ),
        );
      }),
    );
}
