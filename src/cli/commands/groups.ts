// `millrace groups <queue>`, `millrace group pause|resume <queue> <key>` and `millrace group limit
// <queue> <key>`: a grouped queue's groups (fair groups: docs/flow-control.md#fair-groups),
// pausing or resuming one of them, and the limits one has of its own.

import type { Command } from 'commander';
import { requireQueue, type OpsApp } from '../app.js';
import { UsageError } from '../load.js';
import { table } from '../output.js';
import { withCommon, type GlobalFlags, type Kit } from './common.js';
import { describeGroupLimits } from '../../broker/groupLimits.js';

/** The app's group operations; exit 2 for an --app from a millrace without groups. */
function groupOps(app: OpsApp): Pick<OpsApp, 'groups' | 'pauseGroup' | 'resumeGroup' | 'setGroupLimits'> {
  if (typeof (app as Partial<OpsApp>).groups !== 'function') {
    throw new UsageError('the app of --app has no fair groups: it comes from an older millrace; upgrade it or leave out --app');
  }
  return app;
}

function checkKey(key: string): string {
  if (key.length < 1 || key.length > 200) throw new UsageError(`not a group key: '${key}' (group keys are 1-200 characters)`);
  return key;
}

/** --concurrency: an integer >= 1, or 'none'. */
function concurrencyFlag(raw: string | undefined): number | null | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'none') return null;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--concurrency: an integer >= 1, or 'none' for no cap (got '${raw}')`);
  return Number(raw);
}

/** --rate: "<max>/<duration>" such as 100/1s, or 'none'. */
function rateFlag(raw: string | undefined): { max: number; per: string } | null | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'none') return null;
  const m = /^(\d+)\/(\S+)$/.exec(raw);
  if (!m || Number(m[1]) < 1) throw new UsageError(`--rate: <max>/<duration> such as 100/1s, or 'none' for no limit (got '${raw}')`);
  return { max: Number(m[1]), per: m[2]! };
}

export function registerGroupCommands(program: Command, kit: Kit): void {
  withCommon(
    program
      .command('groups')
      .summary("show a grouped queue's groups: jobs waiting in each, paused ones")
      .description("show the groups of a queue with fair groups that have jobs waiting or are paused, by key: the jobs waiting in each (not yet served) and whether it is paused")
      .argument('<queue>', 'the queue')
      .option('-n, --limit <n>', 'show at most this many groups', '1000'),
  )
    .addHelpText('after', `
Examples:
  $ millrace groups reports
  $ millrace groups reports --json`)
    .action((queue: string, flags: GlobalFlags & { limit: string }) =>
      kit.run(flags, async (s) => {
        const limit = Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: an integer >= 1, got '${flags.limit}'`);
        await requireQueue(s.app, queue);
        const groups = await groupOps(s.app).groups(queue, { limit });
        s.print(groups, () => table(groups, [
          { header: 'group', value: (g) => g.key + (g.paused ? ' [paused]' : '') },
          { header: 'waiting', value: (g) => g.waiting, align: 'right' },
          { header: 'own limits', value: (g) => (g.limits ? describeGroupLimits(g.limits) : '-') },
        ], `no group of queue '${queue}' has jobs waiting or is paused`));
      }),
    );

  const group = program.command('group').summary('pause or resume one group of a queue with fair groups');
  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    withCommon(
      group
        .command(name)
        .summary(paused ? "pause one group: its jobs wait, the queue's other groups are served" : 'resume a paused group: its jobs are served again, in turn')
        .argument('<queue>', 'the queue')
        .argument('<key>', 'the group key'),
    )
      .addHelpText('after', `
Examples:
  $ millrace group ${name} reports acme
  $ millrace groups reports`)
      .action((queue: string, key: string, flags: GlobalFlags) =>
        kit.run(flags, async (s) => {
          checkKey(key);
          await requireQueue(s.app, queue);
          const ops = groupOps(s.app);
          if (paused) await ops.pauseGroup(queue, key);
          else await ops.resumeGroup(queue, key);
          s.print({ queue, group: key, paused }, () => `group '${key}' of queue '${queue}' ${paused ? "paused: its jobs wait; running ones finish, the other groups go on" : 'resumed'}`);
        }),
      );
  }

  withCommon(
    group
      .command('limit')
      .summary("give one group limits of its own over the queue's (or take them away with --clear)")
      .argument('<queue>', 'the queue')
      .argument('<key>', 'the group key')
      .option('--concurrency <n>', "jobs of the group at once over every worker, or 'none'")
      .option('--rate <max/per>', "jobs of the group started per duration, e.g. 100/1s, or 'none'")
      .option('--weight <n>', 'jobs of the group served per turn of the round robin (1-1000; default 1)')
      .option('--clear', "take the group's own limits away: the queue's apply again"),
  )
    .addHelpText('after', `
A flag left out keeps the queue's limit for that; 'none' lifts it for this group. Kept in Redis:
every worker applies them from its next fetch.

Examples:
  $ millrace group limit reports acme --concurrency 10
  $ millrace group limit reports acme --rate 100/1s --concurrency none
  $ millrace group limit reports acme --clear`)
    .action((queue: string, key: string, flags: GlobalFlags & { concurrency?: string; rate?: string; weight?: string; clear?: boolean }) =>
      kit.run(flags, async (s) => {
        checkKey(key);
        const concurrency = concurrencyFlag(flags.concurrency);
        const rateLimit = rateFlag(flags.rate);
        if (flags.weight !== undefined && !/^\d{1,4}$/.test(flags.weight)) throw new UsageError(`--weight: an integer from 1 to 1000 (got '${flags.weight}')`);
        const weight = flags.weight === undefined ? undefined : Number(flags.weight);
        const given = concurrency !== undefined || rateLimit !== undefined || weight !== undefined;
        if (flags.clear && given) throw new UsageError('--clear takes the limits away: give it alone, without --concurrency, --rate or --weight');
        if (!flags.clear && !given) throw new UsageError('give --concurrency, --rate, --weight (or --clear)');
        await requireQueue(s.app, queue);
        const limits = flags.clear ? null : { ...(concurrency !== undefined && { concurrency }), ...(rateLimit !== undefined && { rateLimit }), ...(weight !== undefined && { weight }) };
        await groupOps(s.app).setGroupLimits(queue, key, limits);
        s.print({ queue, group: key, limits }, () => (limits === null ? `group '${key}' of queue '${queue}': the queue's limits apply again` : `group '${key}' of queue '${queue}': limits of its own set`));
      }),
    );
}
