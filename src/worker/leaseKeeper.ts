// Keeps the leases of the jobs a worker holds fresh, so a long job on a healthy worker is
// never reclaimed; reports leases lost (the job was reclaimed elsewhere) and aborts asked for.

import type { Logger } from 'pino';
import type { Broker, QueueRef } from '../broker/types.js';
import type { Processor } from './processor.js';
import { Periodic } from './periodic.js';

export class LeaseKeeper {
  private readonly periodic: Periodic;

  constructor(broker: Broker, queue: QueueRef, consumer: string, processor: Processor, idleTimeoutMs: number, log: Logger) {
    // Three renewals fit in one idle timeout, so one slow renewal does not lose a lease.
    const interval = Math.max(100, Math.floor(idleTimeoutMs / 3));
    this.periodic = new Periodic('lease keeper', interval, async () => {
      const leases = processor.leases();
      for (let i = 0; i < leases.length; i += 500) {
        const sent = leases.slice(i, i + 500);
        const { lost, abort } = await broker.touch(queue, consumer, sent);
        if (lost.length) {
          const ids = new Set(lost);
          processor.leaseLost(sent.filter((l) => ids.has(l.id)));
        }
        for (const id of abort) processor.requestAbort(id);
      }
    }, log, { clock: broker.clock, kind: 'renew' });
  }

  start(): void {
    this.periodic.start(0);
  }

  /** Renews now (leases went idle: the event loop was blocked). */
  wake(): void {
    this.periodic.wake();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
