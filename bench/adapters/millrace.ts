// millrace through its public API: one queue, one no-op task, a worker with the given concurrency.

import { Millrace, type Worker } from '../lib/millrace.js';
import type { Adapter, AdapterOptions, Payload } from './types.js';

export function millraceAdapter(opts: AdapterOptions): Adapter {
  const app = new Millrace({ redis: opts.url, prefix: 'bench', logLevel: 'warn', events: opts.events });
  // Results: 'none' drops them at completion; '1h' keeps them for an hour like the peers' settings.
  const queue = app.queue('bench', { resultTtl: opts.keep ? '1h' : 'none' });
  let onJob: (data: Payload) => void = () => {};
  const task = queue.task('noop', async (_ctx, data: Payload) => {
    onJob(data);
  });
  let worker: Worker | undefined;

  return {
    async ready() {
      // millrace connects lazily: a count of the queue opens the connection outside any timing.
      await app.inspector.counts(queue);
    },
    async enqueueBatch(items) {
      await task.enqueueMany(items.map((d) => [d] as [Payload]));
    },
    async enqueueOne(item) {
      await task.enqueue(item);
    },
    async prepareWorker(concurrency, fn) {
      onJob = fn;
      worker = app.worker({ handleSignals: false, concurrency });
    },
    async startWorker() {
      await worker!.start();
    },
    async pending() {
      const c = await app.inspector.counts(queue);
      return Object.values(c.waiting).reduce((a, b) => a + b, 0) + c.active + c.delayed;
    },
    async close() {
      if (worker && worker.status !== 'new') await worker.stop({ grace: 1000 });
      await app.close();
    },
  };
}
