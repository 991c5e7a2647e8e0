// `millrace workers` (the live worker registry) and `millrace cleanup` (forgetting workers that
// stopped heartbeating, with their unfinished jobs handed back to the queues).

import { Command } from 'commander';
import type { WorkerEntry } from '../../broker/types.js';
import { duration, table } from '../output.js';
import { intAtLeast, withCommon, type GlobalFlags, type Kit } from './common.js';

export interface WorkerReport extends WorkerEntry {
  /** Ms since the worker's last heartbeat, by this machine's clock. */
  heartbeatAgeMs: number;
}

export function workerReports(entries: WorkerEntry[], now = Date.now()): WorkerReport[] {
  return entries
    .map((w) => ({ ...w, heartbeatAgeMs: Math.max(0, now - w.heartbeatAt) }))
    .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.pid - b.pid || a.id.localeCompare(b.id));
}

export function workersTable(reports: WorkerReport[]): string {
  return table(
    reports,
    [
      { header: 'id', value: (w) => w.id },
      { header: 'host', value: (w) => w.hostname },
      { header: 'pid', value: (w) => w.pid, align: 'right' },
      { header: 'queues', value: (w) => w.queues.join(',') },
      { header: 'concurrency', value: (w) => w.concurrency, align: 'right' },
      { header: 'running', value: (w) => w.running, align: 'right' },
      { header: 'processed', value: (w) => w.processed, align: 'right' },
      { header: 'failed', value: (w) => w.failed, align: 'right' },
      { header: 'uptime', value: (w) => duration(w.uptimeMs), align: 'right' },
      { header: 'heartbeat', value: (w) => `${duration(w.heartbeatAgeMs)} ago`, align: 'right' },
    ],
    'no live workers under this prefix',
  );
}

export function registerWorkerCommands(program: Command, kit: Kit): void {
  withCommon(program.command('workers').summary('list live workers')
      .description('list live workers: queues, concurrency, jobs running, processed and failed, uptime, last heartbeat'))
    .addHelpText('after', `
A worker is listed while its registry entry lives: it is rewritten on every heartbeat (default
every 10 s) and expires after the heartbeat TTL (default 30 s). Uptime is as of that heartbeat.

Examples:
  $ millrace workers
  $ millrace workers --json`)
    .action((flags: GlobalFlags) =>
      kit.run(flags, async (s) => {
        const reports = workerReports(await s.app.workers());
        s.print(reports, () => workersTable(reports));
      }),
    );

  withCommon(
    program
      .command('cleanup')
      .summary('forget dead workers, handing their jobs back')
      .description("forget workers and consumers silent for longer than --stale-seconds; hand their unfinished jobs back to the queues, dead-letter their at-most-once jobs ('interrupted')")
      .option('--stale-seconds <n>', 'silence after which a worker counts as dead', intAtLeast(1, '--stale-seconds'), 60),
  )
    .addHelpText('after', `
Live workers are never touched: a worker counts as stale only when its last heartbeat, and its
last read of the queue, are older than --stale-seconds.

Examples:
  $ millrace cleanup
  $ millrace cleanup --stale-seconds 300 --json`)
    .action((flags: GlobalFlags & { staleSeconds: number }) =>
      kit.run(flags, async (s) => {
        const result = await s.app.cleanupStaleWorkers(flags.staleSeconds * 1000);
        s.print(result, () =>
          result.workers.length === 0
            ? `no worker silent for more than ${flags.staleSeconds}s`
            : `removed ${result.workers.length} stale worker(s)/consumer(s): ${result.workers.join(', ')}\n` +
              `handed ${result.jobs} unfinished job(s) back to their queues` +
              (result.interrupted.length ? `\ndead-lettered ${result.interrupted.length} at-most-once job(s) they were running (reason 'interrupted'): ${result.interrupted.join(', ')}` : ''),
        );
      }),
    );
}
