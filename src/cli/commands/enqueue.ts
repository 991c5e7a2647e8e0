// `millrace enqueue <task> [args-json]`: enqueues a job by task name, optionally waiting for
// its result.

import { Command } from 'commander';
import type { EnqueueOptions } from '../../options.js';
import { knownQueues, queueLevels } from '../app.js';
import { UsageError } from '../load.js';
import { printResult } from './jobs.js';
import { seconds, secondsOption, withCommon, type GlobalFlags, type Kit } from './common.js';

interface EnqueueFlags extends GlobalFlags {
  queue?: string;
  delay?: number;
  at?: string;
  priority?: string;
  id?: string;
  wait?: boolean;
  timeout: number;
}

/** The task's arguments from the command line: a JSON array. */
export function parseArgs(raw: string | undefined): unknown[] {
  if (raw === undefined) return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`args-json is not valid JSON (${(err as Error).message}): give the task's arguments as a JSON array, e.g. '["hello", 3]' or '[]'`);
  }
  if (!Array.isArray(value)) {
    const kind = value === null ? 'null' : typeof value;
    throw new UsageError(`args-json must be a JSON array of the task's arguments (got ${kind}): wrap a single argument in brackets, e.g. '[${raw}]'`);
  }
  return value;
}

export function registerEnqueueCommand(program: Command, kit: Kit): void {
  withCommon(
    program
      .command('enqueue')
      .summary('enqueue a job by task name')
      .description('enqueue a job by task name; prints its id (with --wait, waits for the result and prints it)')
      .argument('<task>', 'task name')
      .argument('[args-json]', "the task's arguments as a JSON array", undefined)
      .option('-q, --queue <name>', "the task's queue (needed unless --app defines the task)")
      .option('-d, --delay <seconds>', "run after this delay: seconds or a duration like '5m'", seconds('--delay'))
      .option('--at <iso-time>', "run at this time, e.g. '2030-01-01T09:00:00Z'")
      .option('-p, --priority <level>', "one of the queue's priority levels (default: the task's or the queue's default)")
      .option('--id <id>', 'custom job id; enqueueing an id that exists returns the existing job')
      .option('-w, --wait', 'wait for the result and print it (exit 1 if the job fails)')
      .addOption(secondsOption('-t, --timeout <seconds>', 'with --wait: how long to wait, seconds or a duration', 30_000)),
  )
    .addHelpText('after', `
Examples:
  $ millrace enqueue send_email '["ada@example.com", "Welcome"]' --queue emails
  $ millrace enqueue cpu_intensive_task '[100000]' --queue load_test --wait --timeout 60
  $ millrace enqueue report '[]' --queue system --delay 10m --priority high --id report-2024-06
  $ millrace enqueue echo '["hi"]' --app examples/app.ts --at 2030-01-01T09:00:00Z --json`)
    .action((task: string, argsJson: string | undefined, flags: EnqueueFlags) =>
      kit.run(flags, async (s) => {
        const args = parseArgs(argsJson);
        const queue = flags.queue ?? s.app.taskNamed(task)?.queue.name;
        if (queue === undefined) {
          const known = await knownQueues(s.app);
          throw new UsageError(
            `--queue is needed: this process does not define task '${task}'` +
              `${known.length ? ` (queues under prefix '${s.app.prefix}': ${known.join(', ')})` : ''}; ` +
              "or pass --app <module> whose app defines it",
          );
        }
        const options: EnqueueOptions = {};
        if (flags.delay !== undefined && flags.at !== undefined) throw new UsageError('give either --delay or --at, not both');
        if (flags.delay !== undefined) options.delay = flags.delay;
        if (flags.at !== undefined) {
          const at = Date.parse(flags.at);
          if (Number.isNaN(at)) throw new UsageError(`--at expects an ISO 8601 time like '2030-01-01T09:00:00Z' (got '${flags.at}')`);
          options.runAt = at;
        }
        if (flags.priority !== undefined) {
          const levels = await queueLevels(s.app, queue);
          if (!levels.includes(flags.priority)) {
            throw new UsageError(`--priority '${flags.priority}' is not a priority of queue '${queue}': use one of ${levels.join(', ')}`);
          }
          options.priority = flags.priority;
        }
        if (flags.id !== undefined) options.id = flags.id;
        if (!(await knownQueues(s.app)).includes(queue)) {
          s.out.err(`millrace: note: queue '${queue}' is new under prefix '${s.app.prefix}': the job waits until a worker serves that queue`);
        }
        const job = await s.app.enqueueByName(task, args, { ...options, queue });
        const said = job.created
          ? `enqueued job ${job.id} (task ${task}, queue ${queue})`
          : `job ${job.id} already exists in queue ${queue}; not enqueued again`;
        if (flags.wait) {
          // Stdout carries the result alone, so scripts can use it.
          if (!s.json) s.out.err(said);
          return printResult(job, flags.timeout, s, { created: job.created });
        }
        s.print({ id: job.id, queue, task, created: job.created }, () => said);
      }),
    );
}
