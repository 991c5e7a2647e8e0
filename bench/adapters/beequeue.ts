// Bee-Queue configured as its README recommends for throughput: saveAll for batches,
// process(concurrency, fn), and events/job tracking turned off where nothing listens.

import BeeQueue from 'bee-queue';
import type { Adapter, AdapterOptions, Payload } from './types.js';

export function beequeueAdapter(opts: AdapterOptions): Adapter {
  const redis = { host: opts.host, port: opts.port };
  // Nothing here listens to job events, so neither side sends, receives or tracks them.
  const quiet = { getEvents: false, sendEvents: false, storeJobs: false };
  const producer = new BeeQueue<Payload>('bench', { redis, isWorker: false, ...quiet });
  let worker: BeeQueue<Payload> | undefined;
  let concurrency = 1;
  let handler: (data: Payload) => void = () => {};

  return {
    async ready() {
      await producer.ready();
    },
    async enqueueBatch(items) {
      const errors = await producer.saveAll(items.map((d) => producer.createJob(d)));
      if (errors.size) throw [...errors.values()][0];
    },
    async enqueueOne(item) {
      await producer.createJob(item).save();
    },
    async prepareWorker(c, onJob) {
      concurrency = c;
      handler = onJob;
      // Results kept: Bee-Queue's default keeps succeeded jobs (and results) until removed.
      worker = new BeeQueue<Payload>('bench', { redis, isWorker: true, removeOnSuccess: !opts.keep, removeOnFailure: true, ...quiet });
      worker.on('error', (err) => console.error('bee-queue worker error', err));
      await worker.ready();
    },
    async startWorker() {
      worker!.process(concurrency, async (job) => {
        handler(job.data);
      });
    },
    async pending() {
      const h = await producer.checkHealth();
      return h.waiting + h.active + h.delayed;
    },
    async close() {
      await worker?.close(5000);
      await producer.close(5000);
    },
  };
}
