// Copies a worker's lifecycle events to its queues' capped Redis event streams, in batches:
// what gathered over FLUSH_MS (or FLUSH_COUNT events, whichever comes first) is one entry per
// queue. Batching by time rather than per turn of the event loop keeps a lightly loaded worker
// from writing an entry for every job (at 2,000 jobs/s: 20 writes a second instead of
// thousands), which took pickup latency p99 from 3.5 to about 2 ms (docs/PERFORMANCE.md).

import type { Logger } from 'pino';
import type { Broker, QueueRef } from '../broker/types.js';
import type { EventHub, MillraceEvent } from '../events.js';
import { withTimeout } from './periodic.js';

/** Events kept while Redis is unreachable; older ones are dropped past this. */
const MAX_BUFFERED = 10_000;
/** Events wait at most this long before they are written. */
const FLUSH_MS = 50;
/** ...or until this many have gathered. */
const FLUSH_COUNT = 1000;
/** How long stop() tries to write what is left. */
const STOP_WAIT_MS = 1000;

export class EventPublisher {
  private buffer: MillraceEvent[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  private unsubscribe: (() => void) | undefined;
  private dropped = 0;
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    private readonly hub: EventHub,
    private readonly queues: QueueRef[],
    private readonly log: Logger,
    /** The worker whose events these are (named once per stored batch). */
    private readonly worker: string,
  ) {}

  start(): void {
    this.unsubscribe = this.hub.onAny((event) => {
      if (this.buffer.length >= MAX_BUFFERED) {
        this.buffer.shift();
        this.dropped++;
      }
      this.buffer.push(event);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.buffer.length >= FLUSH_COUNT) {
      if (this.immediate) return;
      this.immediate = true;
      setImmediate(() => {
        this.immediate = false;
        void this.flush();
      });
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, FLUSH_MS);
      this.timer.unref(); // stop() writes what is left
    }
  }

  /** Stops listening and writes what is buffered (giving up after a while when Redis does not answer). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopped = true;
    const written = (async () => {
      await this.flushing;
      await this.flush();
    })();
    const done = await withTimeout(written, STOP_WAIT_MS).then(() => true, () => false);
    if (!done || this.buffer.length > 0) this.log.warn({ events: this.buffer.length }, 'stopping: events not written (Redis did not answer)');
  }

  private async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    if (batch.length === 0) return;
    this.buffer = [];
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(batch: MillraceEvent[]): Promise<void> {
    const byQueue = new Map<string, MillraceEvent[]>();
    for (const e of batch) {
      // Worker events concern every queue the worker serves.
      const names = 'queue' in e ? [e.queue] : e.queues;
      for (const name of names) {
        const list = byQueue.get(name);
        if (list) list.push(e);
        else byQueue.set(name, [e]);
      }
    }
    try {
      await Promise.all(
        [...byQueue].map(([name, events]) => {
          const ref = this.queues.find((q) => q.name === name);
          return ref ? this.broker.publishEvents(ref, events, this.worker) : undefined;
        }),
      );
      if (this.dropped) {
        this.log.warn({ dropped: this.dropped }, 'events dropped while Redis was unreachable');
        this.dropped = 0;
      }
      // Events that arrived during this write must not wait for a further event to be written.
      if (this.buffer.length > 0) this.schedule();
    } catch (err) {
      this.log.warn({ err, events: batch.length }, 'publishing events failed; they are kept for the next try');
      this.buffer = [...batch, ...this.buffer].slice(-MAX_BUFFERED);
      if (!this.stopped) setTimeout(() => this.buffer.length > 0 && this.schedule(), 1000).unref();
    }
  }
}
