// Records finished jobs' outcomes in batches: completions arriving in the same turn of the
// event loop go to Redis in one script call (one round trip for many jobs).

import type { Logger } from 'pino';
import type { Broker, Completion, QueueRef } from '../broker/types.js';

const MAX_BATCH = 500;

export class Acker {
  private queue: { item: Completion; done: (recorded: boolean) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly broker: Broker,
    private readonly ref: QueueRef,
    private readonly consumer: string,
    private readonly log: Logger,
  ) {}

  /** Calls `done` with true once recorded, false when the lease was lost (fenced). */
  push(item: Completion, done: (recorded: boolean) => void): void {
    this.queue.push({ item, done });
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves when everything pushed so far is recorded. */
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
      try {
        const out = await this.broker.complete(this.ref, this.consumer, batch.map((b) => b.item));
        this.queue.splice(0, batch.length);
        batch.forEach((b, i) => b.done(out[i] ?? false));
        failures = 0;
      } catch (err) {
        // Redis is unreachable: keep the outcomes and try again; if the leases expire
        // meanwhile, the fence refuses them and the jobs run again elsewhere.
        failures++;
        this.log.warn({ err, pending: this.queue.length }, 'recording job outcomes failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }
}
