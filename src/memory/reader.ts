// A blocking read over a queue's streams on a memory broker (XREADGROUP ... BLOCK): it delivers
// at once what is there, else waits on a promise that the next added entry (enqueue, promote,
// retry, hand-back, replay) resolves (a capped read's, given `after`, also the groups bell: jobs
// joining a group), with blockMs on a real timer that holds the process like a socket would; interrupt() and
// close() end it.

import type { BlockingReader, Delivery, QueueRef } from '../broker/types.js';
import type { QueueState } from './state.js';
import { fetch } from './transitions.js';

export class MemoryStreamReader implements BlockingReader {
  private closed = false;
  /** Ends the read in progress (with what it found, or nothing). */
  private end: (() => void) | undefined;

  constructor(
    private readonly q: QueueState,
    private readonly ref: QueueRef,
    private readonly consumer: string,
    private readonly onClose: (reader: MemoryStreamReader) => void,
  ) {}

  read(count: number, blockMs: number, after?: string[]): Promise<Delivery[]> {
    if (this.closed) return Promise.resolve([]);
    const now = fetch(this.q, this.ref, this.consumer, count);
    if (now.length > 0) return Promise.resolve(now);
    // A capped queue's read (as Redis's): woken by an entry, it answers what the capped fetch gives, even nothing.
    const capped = after !== undefined;
    return new Promise<Delivery[]>((resolve) => {
      // BLOCK 0 waits until an entry comes (or an interrupt). The timer is kept referenced: a
      // worker waiting for jobs keeps its process alive, as one blocked on a Redis socket does.
      const timer = blockMs > 0 ? setTimeout(() => finish([]), blockMs) : setInterval(() => undefined, 2 ** 30);
      const finish = (got: Delivery[]) => {
        clearTimeout(timer); // clears an interval too
        this.q.readers.delete(wake);
        this.q.bellReaders.delete(wake);
        this.end = undefined;
        resolve(got);
      };
      // Woken by an added entry: another reader may have taken it first, then wait on.
      const wake = () => {
        const got = fetch(this.q, this.ref, this.consumer, count);
        if (got.length > 0 || capped) finish(got);
      };
      this.q.readers.add(wake);
      // A capped read waits on the groups bell too (jobs joined a group), as Redis's on the bell stream.
      if (capped) this.q.bellReaders.add(wake);
      this.end = () => finish([]);
    });
  }

  async interrupt(): Promise<void> {
    this.end?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.end?.();
    this.onClose(this);
  }
}
