// BullMQ configured as its docs recommend for throughput: addBulk for batches, the Worker
// concurrency option, removeOnComplete to drop or age out finished jobs.

import { Queue, Worker } from 'bullmq';
import type { Adapter, AdapterOptions, Payload } from './types.js';

export function bullmqAdapter(opts: AdapterOptions): Adapter {
  const connection = { host: opts.host, port: opts.port, maxRetriesPerRequest: null };
  // removeOnComplete is a job option in BullMQ; the queue's defaults apply it to add and addBulk.
  const removeOnComplete = opts.keep ? { age: 3600 } : true;
  const queue = new Queue<Payload>('bench', { connection, defaultJobOptions: { removeOnComplete, removeOnFail: true } });
  let worker: Worker<Payload> | undefined;
  let running: Promise<void> | undefined;

  return {
    async ready() {
      await queue.waitUntilReady();
    },
    async enqueueBatch(items) {
      await queue.addBulk(items.map((data) => ({ name: 'noop', data })));
    },
    async enqueueOne(item) {
      await queue.add('noop', item);
    },
    async prepareWorker(concurrency, onJob) {
      worker = new Worker<Payload>('bench', async (job) => {
        onJob(job.data);
      }, { connection, concurrency, autorun: false });
      worker.on('error', (err) => console.error('bullmq worker error', err));
      await worker.waitUntilReady();
    },
    async startWorker() {
      running = worker!.run();
    },
    async pending() {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).reduce((a, b) => a + b, 0);
    },
    async close() {
      await worker?.close();
      await running;
      await queue.close();
    },
  };
}
