// Records finished jobs' outcomes in batches: completions arriving in the same turn of the
// event loop go to Redis in one script call (one round trip for many jobs). A batch that fails
// is kept and sent again until Redis takes it (see persist.ts), or until a stopping worker's
// time for writes is over.

import type { Logger } from 'pino';
import type { Broker, Completion, DurableWrites, QueueRef } from '../broker/types.js';
import { GAVE_UP, type Persistence } from './persist.js';

const MAX_BATCH = 500;

/** true: recorded; false: refused (the lease was lost); undefined: given up (the job stays pending). */
export type AckResult = boolean | undefined;

export class Acker {
  private queue: { item: Completion; done: (recorded: AckResult) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly broker: Broker,
    private readonly ref: QueueRef,
    private readonly consumer: string,
    private readonly persistence: Persistence,
    private readonly log: Logger,
    /** Completions wait for this durability (the queue's `durability.outcomes`). */
    private readonly durable?: DurableWrites,
  ) {}

  /** Calls `done` once the outcome is recorded, refused by the fence, or given up. */
  push(item: Completion, done: (recorded: AckResult) => void): void {
    this.queue.push({ item, done });
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves when everything pushed so far is recorded (or given up). */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) await this.flush();
      else await this.flushing;
    }
  }

  private flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return this.flushing;
    this.flushing = this.run().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, MAX_BATCH);
      let out: boolean[] | typeof GAVE_UP | undefined;
      try {
        out = await this.persistence.race(this.broker.complete(this.ref, this.consumer, batch.map((b) => b.item), this.durable));
      } catch (err) {
        // Redis is unreachable, read-only or full: keep the outcomes and try again; if the leases
        // expire meanwhile, the fence refuses them and the jobs run again elsewhere.
        failures++;
        if (failures === 1 || failures % 20 === 0) this.log.warn({ err, pending: this.queue.length, failures }, 'recording job outcomes failed; retrying');
      }
      if (out === GAVE_UP || (out === undefined && this.persistence.over)) {
        this.log.warn({ jobs: this.queue.length }, 'stopping: job outcomes not recorded; the jobs stay pending in Redis and run again after the idle timeout');
        for (const b of this.queue.splice(0)) this.call(b.done, undefined);
        return;
      }
      if (out === undefined) {
        await this.persistence.sleep(Math.min(50 * 2 ** failures, 2000));
        continue;
      }
      if (failures > 0) this.log.info({ failures }, 'job outcomes recorded after failed tries');
      failures = 0;
      this.queue.splice(0, batch.length);
      for (let i = 0; i < batch.length; i++) this.call(batch[i]!.done, out[i] ?? false);
    }
  }

  /** A callback's failure is logged, never lets the other outcomes of the batch go unreported. */
  private call(done: (recorded: AckResult) => void, recorded: AckResult): void {
    try {
      done(recorded);
    } catch (err) {
      this.log.error({ err }, 'internal error after recording a job outcome');
    }
  }
}
