// `millrace groups <queue>` and `millrace group pause|resume <queue> <key>`: a grouped queue's
// groups (fair groups: docs/flow-control.md#fair-groups), and pausing or resuming one of them.

import type { Command } from 'commander';
import { requireQueue, type OpsApp } from '../app.js';
import { UsageError } from '../load.js';
import { table } from '../output.js';
import { withCommon, type GlobalFlags, type Kit } from './common.js';

/** The app's group operations; exit 2 for an --app from a millrace without groups. */
function groupOps(app: OpsApp): Pick<OpsApp, 'groups' | 'pauseGroup' | 'resumeGroup'> {
  if (typeof (app as Partial<OpsApp>).groups !== 'function') {
    throw new UsageError('the app of --app has no fair groups: it comes from an older millrace; upgrade it or leave out --app');
  }
  return app;
}

function checkKey(key: string): string {
  if (key.length < 1 || key.length > 200) throw new UsageError(`not a group key: '${key}' (group keys are 1-200 characters)`);
  return key;
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
}
