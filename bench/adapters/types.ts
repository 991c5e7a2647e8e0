// The small interface every library adapter implements, so that each scenario runs the same
// code, payloads and settings against millrace, BullMQ and Bee-Queue.

export type LibName = 'millrace' | 'bullmq' | 'beequeue';
export const LIBS: LibName[] = ['millrace', 'bullmq', 'beequeue'];

/** The job data: a 100-byte string, plus the enqueue time (ms, cross-process clock) for latency runs. */
export interface Payload {
  p: string;
  t?: number;
}

export const PAYLOAD_STRING = 'x'.repeat(100);

export interface AdapterOptions {
  host: string;
  port: number;
  url: string;
  /** Keep results/completed jobs for an hour (true) or remove them at once (false). */
  keep: boolean;
  /** millrace only: write its Redis event stream (its default); --no-events turns it off. */
  events: boolean;
}

export interface Adapter {
  /** Connects the producer side (not part of any timing). */
  ready(): Promise<void>;
  /** Enqueues one batch with the library's bulk call. */
  enqueueBatch(items: Payload[]): Promise<void>;
  /** Enqueues one job with the library's single-job call. */
  enqueueOne(item: Payload): Promise<void>;
  /** Creates and connects a worker without consuming yet; onJob runs at handler start. */
  prepareWorker(concurrency: number, onJob: (data: Payload) => void): Promise<void>;
  /** Starts consuming. */
  startWorker(): Promise<void>;
  /** Jobs waiting or running in Redis (0 once drained and acknowledged). */
  pending(): Promise<number>;
  close(): Promise<void>;
}

/** Wall-clock milliseconds with sub-ms resolution, comparable between processes on one host. */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}
