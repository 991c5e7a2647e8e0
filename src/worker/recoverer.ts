// Reclaims jobs whose lease expired (their worker died or hung) and runs them here; a job
// whose workers kept dying goes to the dead-letter stream as poison.

import type { Logger } from 'pino';
import type { Broker } from '../broker/types.js';
import type { Queue } from '../registry.js';
import { suspectAt, type Processor } from './processor.js';
import { Periodic } from './periodic.js';

export class Recoverer {
  private readonly periodic: Periodic;

  constructor(broker: Broker, queue: Queue<unknown>, consumer: string, processor: Processor, idleTimeoutMs: number, log: Logger) {
    const interval = Math.min(5000, Math.max(250, Math.floor(idleTimeoutMs / 4)));
    this.periodic = new Periodic('recoverer', interval, async () => {
      const room = processor.room();
      // A full processor still looks for poison and (long-waiting) suspects: it never has room under steady load.
      if (room <= 0 && !processor.takesSuspect()) return;
      const { claimed, dead } = await broker.reclaim(queue, consumer, {
        minIdleMs: idleTimeoutMs,
        count: Math.min(room, 100),
        maxRecoveries: queue.options.maxRecoveries,
        ttl: queue.options.resultTtl,
        // A suspect runs alone: an idle worker takes it at once; a busy one (which must drain
        // for it) only after it waited 3 idle timeouts, so it is never stranded.
        suspectAt: suspectAt(queue.options.maxRecoveries),
        suspectMinIdleMs: processor.idle() ? idleTimeoutMs : 3 * idleTimeoutMs,
      });
      if (claimed.length) log.warn({ queue: queue.name, jobs: claimed.length }, 'reclaimed jobs of an unresponsive worker');
      if (dead.length) log.error({ queue: queue.name, jobs: dead }, 'poison jobs dead-lettered: their workers kept dying');
      processor.accept(claimed);
    }, log);
  }

  start(): void {
    this.periodic.start(0);
  }

  /** Looks for expired leases now (after a suspect ended: the next may be waiting). */
  wake(): void {
    this.periodic.wake();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
