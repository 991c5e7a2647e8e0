// Moves delayed jobs and retries that are due, by the Redis server's clock, to their ready
// streams; sleeps until the next one is due, or while none is, until a notice says one became
// the earliest due (a delayed enqueue, a retry, a promote-now from any process: '|due' on the
// queue's channel), and at most `pollMs` (schedulerInterval): the safety net for a notice lost
// (a reconnection resyncs too) or a producer too old to send one.

import type { Logger } from 'pino';
import type { Broker, QueueRef } from '../broker/types.js';
import { Periodic } from './periodic.js';

const BATCH = 1000;

export class Scheduler {
  private readonly periodic: Periodic;

  constructor(broker: Broker, queue: QueueRef, pollMs: number, log: Logger) {
    this.periodic = new Periodic('scheduler', pollMs, async () => {
      const { moved, nextDueMs } = await broker.promote(queue, BATCH);
      if (moved === BATCH) return 0;
      return nextDueMs >= 0 ? Math.min(pollMs, nextDueMs) : pollMs;
    }, log, { clock: broker.clock, kind: 'check' });
  }

  start(): void {
    this.periodic.start(0);
  }

  /** A job of this queue becomes due in `ms`. */
  dueIn(ms: number): void {
    this.periodic.wake(ms);
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
