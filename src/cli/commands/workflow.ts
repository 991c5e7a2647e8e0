// `millrace workflow status|abort <id>`: a workflow by id (src/workflow/runner.ts), what it
// waits on, and aborting it.

import { Command } from 'commander';
import type { WorkflowStatus } from '../../workflow/runner.js';
import { CliError, type OpsApp } from '../app.js';
import { UsageError } from '../load.js';
import { cut, duration, keyValues, table, time } from '../output.js';
import { withCommon, type GlobalFlags, type Kit } from './common.js';

/** The ids a workflow can be started with (src/workflow/runner.ts). */
const WORKFLOW_ID = /^[A-Za-z0-9_.:-]{1,100}$/;

type Handle = Pick<ReturnType<OpsApp['workflow']>, 'status' | 'abort'>;

/** The workflow's handle; exit 2 for an id no workflow can have, or an --app from a millrace without workflows. */
function handle(app: OpsApp, id: string): Handle {
  if (!WORKFLOW_ID.test(id)) throw new UsageError(`not a workflow id: '${id}' (workflow ids are 1-100 letters, digits, '_', '.', ':' or '-')`);
  if (typeof (app as Partial<OpsApp>).workflow !== 'function') {
    throw new UsageError('the app of --app has no workflows: it comes from an older millrace; upgrade it or leave out --app');
  }
  return app.workflow(id);
}

function notFound(app: OpsApp, id: string): CliError {
  return new CliError(`workflow '${id}' not found under prefix '${app.prefix}' (never started, or its record expired after it ended)`);
}

/** The workflow's status; not found is exit 1 (checked by name: an --app may bring its own copy of millrace). */
async function readStatus(app: OpsApp, h: Handle, id: string): Promise<WorkflowStatus> {
  try {
    return await h.status();
  } catch (err) {
    if (err instanceof Error && err.name === 'WorkflowNotFoundError') throw notFound(app, id);
    throw err;
  }
}

/** A workflow's status for people: a summary, a line per stage, and the nodes it waits on. */
export function describeStatus(st: WorkflowStatus): string {
  const summary = keyValues([
    ['id', st.id],
    ['state', st.state],
    ['reason', st.reason || undefined],
    ['created', time(st.createdAt)],
    ['ended', st.endedAt === undefined ? undefined : time(st.endedAt)],
    ['took', st.endedAt === undefined ? undefined : duration(st.endedAt - st.createdAt)],
  ]);
  const stages = table(st.stages, [
    { header: 'stage', value: (s) => s.stage, align: 'right' },
    { header: 'size', value: (s) => s.size, align: 'right' },
    { header: 'settled', value: (s) => s.settled, align: 'right' },
    { header: 'policy', value: (s) => s.policy },
    { header: 'state', value: (s) => s.state },
  ]);
  const parts = [summary, stages];
  if (st.waitingOn.length > 0) {
    const current = st.stages[st.stage];
    const pending = current ? current.size - current.settled : st.waitingOn.length;
    const shown = st.waitingOn.length < pending ? ` (${st.waitingOn.length} of ${pending} shown)` : '';
    const nodes = table(st.waitingOn, [
      { header: 'node', value: (n) => n.node, align: 'right' },
      { header: 'job id', value: (n) => n.id },
      { header: 'queue', value: (n) => n.queue },
      { header: 'task', value: (n) => n.task },
      { header: 'status', value: (n) => n.status },
      { header: 'reason', value: (n) => (n.reason ? cut(n.reason, 80) : undefined) },
    ]);
    parts.push(`waiting on${shown}:\n${nodes}`);
  }
  return parts.join('\n\n');
}

export function registerWorkflowCommands(program: Command, kit: Kit): void {
  const workflow = program
    .command('workflow')
    .summary('workflows by id: status, abort')
    .description('a workflow by id (chains, groups and chords started with app.startWorkflow): its status, or abort it')
    .addHelpText('after', `
Examples:
  $ millrace workflow status order-1
  $ millrace workflow status order-1 --json
  $ millrace workflow abort order-1 --reason 'customer cancelled'`);

  withCommon(
    workflow
      .command('status')
      .summary("print a workflow's state, its stages and the nodes it waits on")
      .description("print a workflow's state (running, completed, failed or aborted) and why, its times, a line per stage, and the nodes of its current stage it waits on, with their jobs' status")
      .argument('<id>', 'workflow id'),
  )
    .addHelpText('after', `
A workflow that is not found (never started, or its record expired after it ended) is exit 1.
A failed workflow waits on its failed nodes: replaying them from the dead-letter queue resumes it.

Examples:
  $ millrace workflow status order-1
  $ millrace workflow status order-1 --json`)
    .action((id: string, flags: GlobalFlags) =>
      kit.run(flags, async (s) => {
        const st = await readStatus(s.app, handle(s.app, id), id);
        s.print(st, () => describeStatus(st));
      }),
    );

  withCommon(
    workflow
      .command('abort')
      .summary('abort a workflow: no later stage starts, its unfinished jobs are aborted')
      .description("abort a running (or failed) workflow: it ends aborted, no later stage starts, and its current stage's jobs are aborted (waiting ones removed, running ones signalled)")
      .argument('<id>', 'workflow id')
      .option('--reason <text>', "why, kept as the workflow's reason (default: 'aborted on request')"),
  )
    .addHelpText('after', `
Outcomes: aborted, or ended (it had already completed or been aborted; nothing done, exit 0).
A workflow that is not found is exit 1.

Examples:
  $ millrace workflow abort order-1
  $ millrace workflow abort order-1 --reason 'customer cancelled' --json`)
    .action((id: string, flags: GlobalFlags & { reason?: string }) =>
      kit.run(flags, async (s) => {
        const h = handle(s.app, id);
        // Not found is an error; ended is nothing to do.
        await readStatus(s.app, h, id);
        const aborted = await h.abort(flags.reason);
        const st = await readStatus(s.app, h, id);
        const outcome = aborted ? 'aborted' : 'ended';
        s.print({ id, outcome, state: st.state, reason: st.reason }, () =>
          aborted
            ? `workflow ${id} aborted${st.reason ? ` (${st.reason})` : ''}: no later stage starts, and the unfinished jobs of stage ${st.stage} are aborted`
            : `workflow ${id} had already ended (${st.state}); nothing to abort`,
        );
      }),
    );
}
