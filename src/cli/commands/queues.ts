// `millrace queues`: per queue, jobs ready by priority, delayed, in flight, dead letters,
// consumers, live workers, and the jobs that ended in the last minute (from its event stream).

import { Command } from 'commander';
import type { QueueCounts, WorkerEntry } from '../../broker/types.js';
import { knownQueues, queueRef, requireQueue, type OpsApp } from '../app.js';
import { parseStorageName } from '../../shards/index.js';
import { table } from '../output.js';
import { withCommon, type GlobalFlags, type Kit } from './common.js';

const WINDOW_MS = 60_000;
const PAGE = 1000;

export interface QueueReport {
  name: string;
  /** Jobs ready to run per priority level, highest first. */
  ready: Record<string, number>;
  /** Jobs waiting in fair groups (not in `ready`), at any level. */
  grouped: number;
  /** Every job waiting to run: ready and in groups. */
  readyTotal: number;
  delayed: number;
  inFlight: number;
  dlq: number;
  consumers: number;
  /** Live workers (current heartbeat) serving the queue. */
  workers: number;
  /** Jobs that ended in the last minute, counted in the queue's event stream. */
  lastMinute: { completed: number; failed: number };
  /** Workers fetch none of its jobs (millrace pause). */
  paused: boolean;
  /** Of a sharded queue: each shard's jobs, in shard order. */
  shards?: { ready: number; delayed: number; inFlight: number; dlq: number }[];
}

/** Counts job.completed and final job.failed events newer than a minute, per queue. */
async function lastMinute(app: OpsApp, queues: string[]): Promise<Map<string, { completed: number; failed: number }>> {
  const counts = new Map(queues.map((q) => [q, { completed: 0, failed: 0 }]));
  if (queues.length === 0) return counts;
  // Event cursors are stream ids, whose first part is the Redis server time in ms.
  const since = `${(await app.broker.time()) - WINDOW_MS}-0`;
  let after: Record<string, string> = Object.fromEntries(queues.map((q) => [q, since]));
  while (Object.keys(after).length > 0) {
    const { events, cursors } = await app.readEvents({ queues: Object.keys(after), after, count: PAGE });
    // A sharded queue's events come per shard ("hot#3/6"): pages are per stream, counts per queue.
    const perStream = new Map<string, number>();
    for (const { queue: stream, event } of events) {
      perStream.set(stream, (perStream.get(stream) ?? 0) + 1);
      const c = counts.get(parseStorageName(stream).name)!;
      if (event.type === 'job.completed') c.completed++;
      else if (event.type === 'job.failed' && !event.willRetry) c.failed++;
    }
    // Only streams that filled a page may have more.
    after = Object.fromEntries([...perStream].filter(([, n]) => n === PAGE).map(([stream]) => [stream, cursors[stream]!]));
  }
  return counts;
}

/** Jobs ready per priority level, highest first, those waiting in fair groups, and in all. */
export function readyOf(levels: readonly string[], counts: QueueCounts): { ready: Record<string, number>; grouped: number; readyTotal: number } {
  const ready = Object.fromEntries([...levels].reverse().map((l) => [l, counts.waiting[l] ?? 0]));
  const grouped = counts.grouped ?? 0;
  return { ready, grouped, readyTotal: Object.values(ready).reduce((a, b) => a + b, 0) + grouped };
}

/** The "by priority" cell: each level with jobs ready, and the jobs waiting in groups. */
export function byPriority(r: { ready: Record<string, number>; grouped: number }): string {
  const parts = Object.entries(r.ready).filter(([, n]) => n > 0).map(([l, n]) => `${l}=${n}`);
  if (r.grouped > 0) parts.push(`groups=${r.grouped}`);
  return parts.join(' ');
}

export async function queueReports(app: OpsApp, names: string[], workers: WorkerEntry[]): Promise<QueueReport[]> {
  const throughput = await lastMinute(app, names);
  return Promise.all(
    names.map(async (name) => {
      const ref = await queueRef(app, name);
      const levels = ref.levels;
      const counts: QueueCounts = await app.inspector.counts(ref);
      return {
        name,
        ...readyOf(levels, counts),
        delayed: counts.delayed,
        inFlight: counts.active,
        dlq: counts.dlq,
        consumers: counts.consumers,
        workers: workers.filter((w) => w.queues.includes(name)).length,
        lastMinute: throughput.get(name)!,
        paused: counts.paused ?? false,
        ...(counts.shards ? {
          shards: counts.shards.map((c) => ({ ready: Object.values(c.waiting).reduce((a, b) => a + b, 0), delayed: c.delayed, inFlight: c.active, dlq: c.dlq })),
        } : {}),
      };
    }),
  );
}

export function queuesTable(reports: QueueReport[]): string {
  return table(
    reports,
    [
      { header: 'queue', value: (r) => (r.shards ? `${r.name} (${r.shards.length} shards)` : r.name) + (r.paused ? ' [paused]' : '') },
      { header: 'ready', value: (r) => r.readyTotal, align: 'right' },
      { header: 'by priority', value: (r) => byPriority(r) || '-' },
      { header: 'delayed', value: (r) => r.delayed, align: 'right' },
      { header: 'in flight', value: (r) => r.inFlight, align: 'right' },
      { header: 'dlq', value: (r) => r.dlq, align: 'right' },
      { header: 'consumers', value: (r) => r.consumers, align: 'right' },
      { header: 'workers', value: (r) => r.workers, align: 'right' },
      { header: 'done/1m', value: (r) => r.lastMinute.completed, align: 'right' },
      { header: 'failed/1m', value: (r) => r.lastMinute.failed, align: 'right' },
    ],
    'no queues under this prefix yet',
  );
}

export function registerQueueCommands(program: Command, kit: Kit): void {
  withCommon(
    program
      .command('queues')
      .summary('show queue depths, workers and last-minute throughput')
      .description('show every queue: jobs ready by priority, delayed, in flight, dead letters, consumers, workers, last minute')
      .option('-q, --queue <name>', 'show this queue only'),
  )
    .addHelpText('after', `
Columns: READY jobs not yet delivered (per priority level in BY PRIORITY, highest first),
DELAYED jobs waiting for their time (including scheduled retries), IN FLIGHT jobs delivered to a
worker and not yet acknowledged, DLQ dead letters, CONSUMERS consumer names in the queue's group
(stopped workers stay until 'millrace cleanup'), WORKERS live workers serving the queue.
DONE/1M and FAILED/1M count the job.completed events, and the job.failed events of attempts
that failed for good, written to the queue's event stream in the last 60 s (by Redis time). The
stream is capped (10,000 events by default), so on a queue ending more than ~3,000 jobs a minute
they count only the events still kept; with events turned off in the workers they stay 0.

Examples:
  $ millrace queues
  $ millrace queues --queue emails --json

A paused queue (millrace pause) is marked [paused]. A sharded queue shows as one row, "hot (6 shards)"; --json adds each shard's counts (shards).`)
    .action((flags: GlobalFlags & { queue?: string }) =>
      kit.run(flags, async (s) => {
        if (flags.queue !== undefined) await requireQueue(s.app, flags.queue);
        const names = flags.queue !== undefined ? [flags.queue] : await knownQueues(s.app);
        const reports = await queueReports(s.app, names, await s.app.workers());
        s.print(reports, () => queuesTable(reports));
      }),
    );

  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    withCommon(
      program
        .command(name)
        .summary(paused ? 'pause a queue: workers stop fetching its jobs, running ones finish' : 'resume a paused queue')
        .description(paused
          ? 'pause a queue: its workers stop fetching within a second, running jobs finish, enqueues go on; kept in Redis until resumed'
          : 'resume a paused queue: its workers fetch again at once')
        .argument('<queue>', 'the queue'),
    )
      .addHelpText('after', `
Examples:
  $ millrace ${name} emails
  $ millrace queues --queue emails`)
      .action((queue: string, flags: GlobalFlags) =>
        kit.run(flags, async (s) => {
          await requireQueue(s.app, queue);
          if (paused) await s.app.pause(queue);
          else await s.app.resume(queue);
          s.print({ queue, paused }, () => `queue '${queue}' ${paused ? 'paused: its workers stop fetching; running jobs finish' : 'resumed'}`);
        }),
      );
  }
}
