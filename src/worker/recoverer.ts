// Reclaims jobs whose lease expired (their worker died or hung) and runs them here; a job
// whose workers kept dying goes to the dead-letter stream as poison.
//
// This worker's own idle entries are never taken from itself while it still runs them (its
// event loop was blocked past the idle timeout: the attempt goes on under the same lease, and
// the lease keeper renews it at once). Own entries it does not hold (a fetch whose reply was
// lost, a former process that had the same id) are orphans: they are claimed and run; one
// delivered since this process started counts no death (it never reached this process).

import type { Logger } from 'pino';
import type { Broker, ReclaimOptions } from '../broker/types.js';
import type { Queue } from '../registry.js';
import { suspectAt, type Processor } from './processor.js';
import { Periodic } from './periodic.js';
import type { NodeSettler } from './settle.js';

export class Recoverer {
  private readonly periodic: Periodic;

  constructor(
    broker: Broker, queue: Queue<unknown>, consumer: string, processor: Processor, idleTimeoutMs: number, renewNow: () => void, since: () => number, log: Logger,
    workflows?: () => NodeSettler,
  ) {
    const interval = Math.min(5000, Math.max(250, Math.floor(idleTimeoutMs / 4)));
    this.periodic = new Periodic('recoverer', interval, async () => {
      const room = processor.room();
      // A full processor still looks for poison and (long-waiting) suspects: it never has room under steady load.
      if (room <= 0 && !processor.takesSuspect()) return;
      const opts: ReclaimOptions = {
        minIdleMs: idleTimeoutMs,
        count: Math.min(room, 100),
        maxRecoveries: queue.options.maxRecoveries,
        ttl: queue.options.resultTtl,
        // A suspect runs alone: an idle worker takes it at once; a busy one (which must drain
        // for it) only after it waited 3 idle timeouts, so it is never stranded.
        suspectAt: suspectAt(queue.options.maxRecoveries),
        suspectMinIdleMs: processor.idle() ? idleTimeoutMs : 3 * idleTimeoutMs,
        since: since(),
      };
      const first = await broker.reclaim(queue, consumer, opts);
      const { own } = first;
      let { claimed, dead } = first;
      if (own.length) {
        const orphans = own.filter((e) => !processor.holdsEntry(e.level, e.entry));
        const held = own.filter((e) => processor.holdsEntry(e.level, e.entry));
        if (held.length) {
          if (held.some((e) => e.idleMs >= idleTimeoutMs)) log.warn({ queue: queue.name, jobs: held.length }, 'leases of running jobs went idle (event loop blocked?); renewing them');
          renewNow();
        }
        if (orphans.length) {
          // They are this worker's in Redis already: claimed whatever its room.
          const again = await broker.reclaim(queue, consumer, { ...opts, count: Math.max(0, opts.count - claimed.length), orphans: orphans.map(({ level, entry }) => ({ level, entry })) });
          claimed = [...claimed, ...again.claimed];
          dead = [...dead, ...again.dead];
        }
      }
      if (claimed.length) log.warn({ queue: queue.name, jobs: claimed.length }, 'reclaimed jobs of an unresponsive worker');
      if (dead.length) log.error({ queue: queue.name, jobs: dead }, 'poison jobs dead-lettered: their workers kept dying');
      processor.accept(claimed);
      // Workflow nodes' jobs the broker ended itself (no worker settled them), and jobs workflows
      // watch that ended: settled in their workflows (idempotent), then dropped.
      if (first.notes && workflows) await broker.dropNodeNotes(queue, await workflows().settleNotes(await broker.nodeNotes(queue, 100)));
    }, log, { clock: broker.clock, kind: 'check' });
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
