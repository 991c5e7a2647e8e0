// A broker whose deliveries a test controls: the test kit's worker fetches through it, and it
// lets through only as many jobs as the test allows (none in fake mode until drain() or run()).
// Everything else goes straight to the broker underneath.

import type { BlockingReader, Broker, Delivery, Fetched, QueueRef } from '../broker/types.js';

interface Reserved {
  n: number;
  /** Taken from the queue's own allowance, not the shared one. */
  own: boolean;
  epoch: number;
}

export class DeliveryGate {
  /** Deliveries still allowed in every queue (Infinity: open). */
  private allowance = 0;
  /** Deliveries allowed in one queue only. */
  private readonly perQueue = new Map<string, number>();
  /** Counts shut()s: what a read reserved before the last one is not given back. */
  private epoch = 0;
  private waiters = new Set<() => void>();
  private readonly readers = new Set<BlockingReader>();
  /** Calls to allow() not released yet: the gate shuts when the last one is. */
  private holders = 0;

  /**
   * Lets `n` more jobs be delivered (Infinity: every job), in one queue or in all, until the
   * returned release is called and no other allow() holds the gate open.
   */
  allow(n: number, queue?: string): () => Promise<void> {
    if (queue === undefined) this.allowance += n;
    else this.perQueue.set(queue, (this.perQueue.get(queue) ?? 0) + n);
    this.holders++;
    for (const wake of [...this.waiters]) wake();
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) await this.shut();
    };
  }

  /** Lets no job be delivered, whoever holds it open; a blocked read in progress returns at once. */
  async shut(): Promise<void> {
    this.holders = 0;
    this.allowance = 0;
    this.perQueue.clear();
    this.epoch++;
    await Promise.all([...this.readers].map((r) => r.interrupt()));
  }

  private open(queue: string): boolean {
    return this.allowance > 0 || (this.perQueue.get(queue) ?? 0) > 0;
  }

  /** Takes up to `count` deliveries from the allowance; give back what was not used. */
  private reserve(queue: string, count: number): Reserved {
    const own = this.perQueue.get(queue) ?? 0;
    if (own > 0) {
      const n = Math.min(count, own);
      this.perQueue.set(queue, own - n);
      return { n, own: true, epoch: this.epoch };
    }
    const n = Math.min(count, this.allowance);
    this.allowance -= n;
    return { n, own: false, epoch: this.epoch };
  }

  private refund(queue: string, taken: Reserved, used: number): void {
    const back = taken.n - used;
    if (back <= 0 || taken.epoch !== this.epoch) return;
    if (taken.own) this.perQueue.set(queue, (this.perQueue.get(queue) ?? 0) + back);
    else this.allowance += back;
  }

  /** Resolves once deliveries are allowed in the queue, or when `stop` resolves first. */
  private opened(queue: string, stop: Promise<unknown>): Promise<void> {
    if (this.open(queue)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      void stop.then(wake);
    });
  }

  /** The broker, with fetch and blocking reads going through the gate. */
  wrap(broker: Broker): Broker {
    const fetch = async (queue: QueueRef, consumer: string, count: number): Promise<Fetched> => {
      const taken = this.reserve(queue.name, count);
      if (taken.n === 0) return [];
      let got: Fetched = [];
      try {
        got = await broker.fetch(queue, consumer, taken.n);
      } finally {
        this.refund(queue.name, taken, got.length);
      }
      return got;
    };
    const blockingReader = (queue: QueueRef, consumer: string): BlockingReader => {
      const inner = broker.blockingReader(queue, consumer);
      let interrupted = resolvers();
      const reader: BlockingReader = {
        read: async (count, blockMs, after) => {
          const taken = this.reserve(queue.name, count);
          if (taken.n === 0) {
            // Shut: wait for the gate (or an interrupt, or the block time) and let the caller read again.
            let timer: NodeJS.Timeout | undefined;
            const timeUp = blockMs > 0 ? new Promise<void>((r) => (timer = setTimeout(r, blockMs))) : new Promise<void>(() => undefined);
            try {
              await this.opened(queue.name, Promise.race([interrupted.promise, timeUp]));
            } finally {
              clearTimeout(timer);
            }
            return [];
          }
          let got: Delivery[] = [];
          try {
            got = await inner.read(taken.n, blockMs, after);
          } finally {
            this.refund(queue.name, taken, got.length);
          }
          return got;
        },
        interrupt: async () => {
          interrupted.resolve();
          interrupted = resolvers();
          await inner.interrupt();
        },
        close: async () => {
          this.readers.delete(reader);
          interrupted.resolve();
          await inner.close();
        },
      };
      this.readers.add(reader);
      return reader;
    };
    // The broker's own methods, bound once (not per call: tests enqueue and complete a lot).
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(broker, {
      get(target, key) {
        if (key === 'fetch') return fetch;
        if (key === 'blockingReader') return blockingReader;
        const value = Reflect.get(target, key) as unknown;
        if (typeof value !== 'function') return value;
        let fn = bound.get(key);
        if (fn === undefined) bound.set(key, (fn = (value as (...a: unknown[]) => unknown).bind(target)));
        return fn;
      },
    });
  }
}

function resolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
