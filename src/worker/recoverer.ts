// Reclaims jobs whose lease expired (their worker died or hung) and runs them here; a job
// whose workers kept dying goes to the dead-letter stream as poison.

import type { Logger } from 'pino';
import type { Broker } from '../broker/types.js';
import type { Queue } from '../registry.js';
import type { Processor } from './processor.js';
import { Periodic } from './periodic.js';

export class Recoverer {
  private readonly periodic: Periodic;

  constructor(broker: Broker, queue: Queue<unknown>, consumer: string, processor: Processor, idleTimeoutMs: number, log: Logger) {
    const interval = Math.min(5000, Math.max(250, Math.floor(idleTimeoutMs / 4)));
    this.periodic = new Periodic('recoverer', interval, async () => {
      const room = processor.room();
      if (room <= 0) return;
      const { claimed, dead } = await broker.reclaim(queue, consumer, {
        minIdleMs: idleTimeoutMs,
        count: Math.min(room, 100),
        maxRecoveries: queue.options.maxRecoveries,
        ttl: queue.options.resultTtl,
      });
      if (claimed.length) log.warn({ queue: queue.name, jobs: claimed.length }, 'reclaimed jobs of an unresponsive worker');
      if (dead.length) log.error({ queue: queue.name, jobs: dead }, 'poison jobs dead-lettered: their workers kept dying');
      processor.accept(claimed);
    }, log);
  }

  start(): void {
    this.periodic.start(0);
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
