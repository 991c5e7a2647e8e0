// Cleans up after workers that vanished: removes their registry entries and hands their
// pending jobs straight back to the queue (sooner than waiting for leases to expire), and
// dead-letters the at-most-once jobs they were running (reason 'interrupted').

import type { Logger } from 'pino';
import type { Inspector, QueueRef } from '../broker/types.js';
import type { Clock } from '../memory/clock.js';
import { Periodic } from './periodic.js';

export class Janitor {
  private readonly periodic: Periodic;

  constructor(inspector: Inspector, queues: QueueRef[], staleMs: number, intervalMs: number, log: Logger, clock?: Clock) {
    this.periodic = new Periodic('janitor', intervalMs, async () => {
      const { workers, jobs, interrupted } = await inspector.cleanupStaleWorkers(staleMs, queues);
      if (workers.length) log.warn({ workers, jobs }, 'removed stale workers and handed their jobs back');
      if (interrupted.length) log.error({ jobs: interrupted }, "at-most-once jobs of dead workers dead-lettered (reason 'interrupted')");
    }, log, { clock, kind: 'check' });
  }

  start(): void {
    this.periodic.start(0);
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
