// `millrace dlq list|show|replay|delete|purge`: the dead-letter queue of one queue.

import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import type { DeadLetterEntry } from '../../broker/types.js';
import { CliError, queueLevels, requireQueue, type OpsApp } from '../app.js';
import { UsageError } from '../load.js';
import { cut, keyValues, table, time } from '../output.js';
import { intAtLeast, withCommon, type GlobalFlags, type Kit } from './common.js';

interface DlqFlags extends GlobalFlags {
  queue: string;
}

/** A dead letter for output: the job's arguments decoded when they can be. */
type Shown = Omit<DeadLetterEntry, 'level' | 'header' | 'data'> & {
  priority: string | undefined;
  args?: unknown;
  /** The raw payload when it could not be decoded (base64 when binary). */
  data?: string;
};

function show(app: OpsApp, levels: readonly string[], e: DeadLetterEntry): Shown {
  const out: Shown = {
    dlqId: e.dlqId, id: e.id, task: e.task, queue: e.queue, priority: levels[e.level], reason: e.reason, error: e.error,
    stack: e.stack, attempts: e.attempts, worker: e.worker, failedAt: e.failedAt,
  };
  try {
    out.args = app.serializer.decode(e.data);
  } catch {
    out.data = typeof e.data === 'string' ? e.data : e.data.toString('base64');
  }
  return out;
}

/** A stream entry id; a sharded queue's dead letters add their shard ("1718000000000-0@3"). */
const DLQ_ID = /^\d+(-\d+)?(@\d+)?$/;

function checkIds(ids: string[]): void {
  const bad = ids.filter((id) => !DLQ_ID.test(id));
  if (bad.length) throw new UsageError(`not a dead-letter id: ${bad.join(', ')} (ids look like 1718000000000-0, or 1718000000000-0@3 on a sharded queue; see 'millrace dlq list --queue <name>')`);
}

/** Fails, naming them, when some ids are not in the DLQ: nothing is changed then. */
async function requireEntries(app: OpsApp, queue: string, ids: string[]): Promise<void> {
  const dlq = app.deadLetters(queue);
  const missing: string[] = [];
  for (const id of ids) if ((await dlq.show(id)) === null) missing.push(id);
  if (missing.length) throw new CliError(`not in the dead-letter queue of '${queue}': ${missing.join(', ')} (nothing was changed)`);
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function registerDlqCommands(program: Command, kit: Kit): void {
  const dlq = program
    .command('dlq')
    .summary('dead letters: list, show, replay, delete, purge')
    .description('the dead-letter queue of a queue: list, show, replay, delete, purge')
    .addHelpText('after', `
Examples:
  $ millrace dlq list --queue emails
  $ millrace dlq show 1718000000000-0 --queue emails
  $ millrace dlq replay --all --queue emails --reset-attempts
  $ millrace dlq delete 1718000000000-0 1718000000001-0 --queue emails
  $ millrace dlq purge --queue emails --yes`);
  const sub = (name: string, description: string) =>
    withCommon(dlq.command(name).description(description).requiredOption('-q, --queue <name>', 'the queue whose dead letters to work on'));

  sub('list', 'list dead letters, oldest first')
    .option('-n, --limit <n>', 'at most this many', intAtLeast(1, '--limit'), 50)
    .addHelpText('after', `
Examples:
  $ millrace dlq list --queue emails
  $ millrace dlq list --queue emails --limit 500 --json`)
    .action((flags: DlqFlags & { limit: number }) =>
      kit.run(flags, async (s) => {
        await requireQueue(s.app, flags.queue);
        const levels = await queueLevels(s.app, flags.queue);
        const dl = s.app.deadLetters(flags.queue);
        const [entries, total] = await Promise.all([dl.list({ limit: flags.limit }), dl.count()]);
        const shown = entries.map((e) => show(s.app, levels, e));
        s.print(shown, () => {
          const t = table(
            shown,
            [
              { header: 'dlq id', value: (e) => e.dlqId },
              { header: 'job id', value: (e) => e.id },
              { header: 'task', value: (e) => e.task },
              { header: 'reason', value: (e) => e.reason },
              { header: 'attempts', value: (e) => e.attempts, align: 'right' },
              { header: 'failed at', value: (e) => time(e.failedAt) },
              { header: 'error', value: (e) => cut(e.error, 50) },
            ],
            `the dead-letter queue of '${flags.queue}' is empty`,
          );
          return total > shown.length ? `${t}\n(${shown.length} of ${total} shown; use --limit)` : t;
        });
      }),
    );

  sub('show', 'show one dead letter: the job, its arguments, the error and its stack')
    .argument('<dlqId>', "the dead letter's id (from 'dlq list')")
    .addHelpText('after', `
Examples:
  $ millrace dlq show 1718000000000-0 --queue emails
  $ millrace dlq show 1718000000000-0 --queue emails --json`)
    .action((dlqId: string, flags: DlqFlags) =>
      kit.run(flags, async (s) => {
        checkIds([dlqId]);
        await requireQueue(s.app, flags.queue);
        const entry = await s.app.deadLetters(flags.queue).show(dlqId);
        if (!entry) throw new CliError(`no dead letter '${dlqId}' in queue '${flags.queue}' (see 'millrace dlq list --queue ${flags.queue}')`);
        const e = show(s.app, await queueLevels(s.app, flags.queue), entry);
        s.print(e, () =>
          keyValues([
            ['dlq id', e.dlqId],
            ['job id', e.id],
            ['task', e.task],
            ['queue', e.queue],
            ['priority', e.priority],
            ['reason', e.reason],
            ['attempts', e.attempts],
            ['worker', e.worker || undefined],
            ['failed at', time(e.failedAt)],
            ['args', e.args],
            ['data', e.data],
            ['error', e.error],
            ['stack', e.stack ? `\n${e.stack}` : undefined],
          ]),
        );
      }),
    );

  sub('replay', 'put dead letters back on the queue (by id, or --all)')
    .argument('[dlqIds...]', "dead-letter ids (from 'dlq list')")
    .option('--all', 'replay every dead letter of the queue')
    .option('--reset-attempts', 'start the attempt count again from 1')
    .addHelpText('after', `
Examples:
  $ millrace dlq replay 1718000000000-0 --queue emails
  $ millrace dlq replay --all --queue emails --reset-attempts --json`)
    .action((dlqIds: string[], flags: DlqFlags & { all?: boolean; resetAttempts?: boolean }) =>
      kit.run(flags, async (s) => {
        if (flags.all && dlqIds.length) throw new UsageError('give dead-letter ids or --all, not both');
        if (!flags.all && !dlqIds.length) throw new UsageError("give the dead-letter ids to replay, or --all (see 'millrace dlq list --queue <name>')");
        checkIds(dlqIds);
        await requireQueue(s.app, flags.queue);
        if (!flags.all) await requireEntries(s.app, flags.queue, dlqIds);
        const jobs = await s.app.deadLetters(flags.queue).replay(flags.all ? 'all' : dlqIds, { resetAttempts: flags.resetAttempts === true });
        s.print({ queue: flags.queue, replayed: jobs }, () =>
          jobs.length === 0 ? `nothing to replay in queue '${flags.queue}'` : `replayed ${jobs.length} job(s) onto queue '${flags.queue}': ${jobs.join(', ')}`,
        );
      }),
    );

  sub('delete', 'delete dead letters by id')
    .argument('<dlqIds...>', "dead-letter ids (from 'dlq list')")
    .addHelpText('after', `
Examples:
  $ millrace dlq delete 1718000000000-0 --queue emails
  $ millrace dlq delete 1718000000000-0 1718000000001-0 --queue emails --json`)
    .action((dlqIds: string[], flags: DlqFlags) =>
      kit.run(flags, async (s) => {
        checkIds(dlqIds);
        await requireQueue(s.app, flags.queue);
        await requireEntries(s.app, flags.queue, dlqIds);
        const deleted = await s.app.deadLetters(flags.queue).delete(dlqIds);
        s.print({ queue: flags.queue, deleted }, () => `deleted ${deleted} dead letter(s) from queue '${flags.queue}'`);
      }),
    );

  sub('purge', 'delete every dead letter of the queue')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .addHelpText('after', `
Examples:
  $ millrace dlq purge --queue emails
  $ millrace dlq purge --queue emails --yes --json`)
    .action((flags: DlqFlags & { yes?: boolean }) =>
      kit.run(flags, async (s) => {
        await requireQueue(s.app, flags.queue);
        const dl = s.app.deadLetters(flags.queue);
        const count = await dl.count();
        if (!flags.yes && count > 0) {
          if (!process.stdin.isTTY) {
            throw new UsageError(`refusing to purge ${count} dead letter(s) of queue '${flags.queue}' without confirmation: stdin is not a terminal; add --yes`);
          }
          if (!(await confirm(`Delete all ${count} dead letter(s) of queue '${flags.queue}'? [y/N] `))) {
            s.out.err('millrace: nothing purged');
            return 1;
          }
        }
        const purged = await dl.purge();
        s.print({ queue: flags.queue, purged }, () => `purged ${purged} dead letter(s) from queue '${flags.queue}'`);
      }),
    );
}
