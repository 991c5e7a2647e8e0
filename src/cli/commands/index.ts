// Registers the operation commands (everything but `worker` and `load-test`) on the program,
// and `dashboard`, which runs until a signal like `worker` but opens the app as they do.

import type { Command } from 'commander';
import type { Output } from '../output.js';
import { makeKit, type Schedule } from './common.js';
import { registerEnqueueCommand } from './enqueue.js';
import { registerJobCommands } from './jobs.js';
import { registerQueueCommands } from './queues.js';
import { registerWorkerCommands } from './workers.js';
import { registerDlqCommands } from './dlq.js';
import { registerHealthCommands } from './health.js';
import { registerConfigCommand } from './config.js';
import { registerDashboardCommand } from './dashboard.js';
import { registerWorkflowCommands } from './workflow.js';
import { registerGroupCommands } from './groups.js';

export function registerOperationCommands(program: Command, out: Output, schedule: Schedule): void {
  const kit = makeKit(out, schedule);
  registerEnqueueCommand(program, kit);
  registerJobCommands(program, kit);
  registerQueueCommands(program, kit);
  registerWorkerCommands(program, kit);
  registerDlqCommands(program, kit);
  registerWorkflowCommands(program, kit);
  registerGroupCommands(program, kit);
  registerHealthCommands(program, kit);
  registerConfigCommand(program, out, schedule);
  registerDashboardCommand(program, kit);
}
