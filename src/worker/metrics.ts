// Prometheus metrics of one worker: job counters and histograms fed by its event map, and
// queue depths read from Redis when scraped. Each worker has its own registry.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Inspector, QueueRef } from '../broker/types.js';
import type { EventHub } from '../events.js';

export interface MetricsOptions {
  /** Serve the exposition over HTTP on this port (0 picks a free one). */
  port?: number;
  host?: string;
  /** Path of the exposition (default /metrics). */
  path?: string;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const PICKUP_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

export class WorkerMetrics {
  readonly registry = new Registry();
  private server: Server | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly hub: EventHub,
    inspector: Inspector,
    queues: QueueRef[],
    running: () => number,
    private readonly options: MetricsOptions,
    private readonly log: Logger,
    /** Per queue: outcomes recorded but not confirmed durable so far (durability.outcomes). */
    notDurable: () => [queue: string, count: number][] = () => [],
  ) {
    const r = [this.registry];
    const jobLabels = ['queue', 'task'] as const;
    const started = new Counter({ name: 'millrace_jobs_started_total', help: 'Job attempts started', labelNames: jobLabels, registers: r });
    const completed = new Counter({ name: 'millrace_jobs_completed_total', help: 'Jobs completed', labelNames: jobLabels, registers: r });
    const failed = new Counter({ name: 'millrace_jobs_failed_total', help: 'Job attempts that failed (retried or not)', labelNames: jobLabels, registers: r });
    const retried = new Counter({ name: 'millrace_jobs_retried_total', help: 'Retries scheduled', labelNames: jobLabels, registers: r });
    const dead = new Counter({ name: 'millrace_jobs_dead_total', help: 'Jobs moved to the dead-letter queue', labelNames: [...jobLabels, 'reason'], registers: r });
    const aborted = new Counter({ name: 'millrace_jobs_aborted_total', help: 'Jobs aborted on request', labelNames: jobLabels, registers: r });
    const duration = new Histogram({ name: 'millrace_job_duration_seconds', help: 'Time a job attempt ran', labelNames: [...jobLabels, 'status'], buckets: DURATION_BUCKETS, registers: r });
    const pickup = new Histogram({ name: 'millrace_job_pickup_latency_seconds', help: 'Time from enqueue to the start of the first attempt', labelNames: jobLabels, buckets: PICKUP_BUCKETS, registers: r });
    const counted = new Map<string, number>();
    new Counter({
      name: 'millrace_outcomes_not_durable_total', help: 'Job outcomes recorded but not confirmed durable (durability.outcomes): they stand', labelNames: ['queue'], registers: r,
      collect() {
        for (const [queue, n] of notDurable()) {
          const before = counted.get(queue) ?? 0;
          if (n >= before) this.inc({ queue }, n - before);
          counted.set(queue, n);
        }
      },
    });
    new Gauge({ name: 'millrace_worker_running_jobs', help: 'Jobs this worker runs now', registers: r, collect() { this.set(running()); } });
    const queueGauge = (name: string, help: string, labelNames = ['queue']) => new Gauge({ name, help, labelNames, registers: r });
    const waiting = queueGauge('millrace_queue_waiting', 'Jobs ready and not yet delivered, per priority', ['queue', 'priority']);
    const delayed = queueGauge('millrace_queue_delayed', 'Delayed jobs and scheduled retries');
    const inFlight = queueGauge('millrace_queue_in_flight', 'Jobs delivered to workers and not yet acknowledged');
    const dlq = queueGauge('millrace_queue_dead_letters', 'Jobs in the dead-letter queue');
    const scrapeOk = new Gauge({ name: 'millrace_queue_scrape_ok', help: '1 when the queue depths were read from Redis at this scrape', registers: r });
    // Queue depths are read from Redis at each scrape, so they are right however many workers run.
    this.refreshQueues = async () => {
      try {
        for (const q of queues) {
          const c = await inspector.counts(q);
          for (const [priority, n] of Object.entries(c.waiting)) waiting.set({ queue: q.name, priority }, n);
          delayed.set({ queue: q.name }, c.delayed);
          inFlight.set({ queue: q.name }, c.active);
          dlq.set({ queue: q.name }, c.dlq);
        }
        scrapeOk.set(1);
      } catch (err) {
        this.log.warn({ err }, 'reading queue depths for metrics failed');
        scrapeOk.set(0);
      }
    };
    this.subscribe = () => {
      const off = [
        hub.on('job.started', (e) => {
          started.inc({ queue: e.queue, task: e.task });
          if (e.attempt === 1 && e.pickupMs !== undefined) pickup.observe({ queue: e.queue, task: e.task }, Math.max(0, e.pickupMs) / 1000);
        }),
        hub.on('job.completed', (e) => {
          completed.inc({ queue: e.queue, task: e.task });
          duration.observe({ queue: e.queue, task: e.task, status: 'completed' }, e.durationMs / 1000);
        }),
        hub.on('job.failed', (e) => {
          failed.inc({ queue: e.queue, task: e.task });
          duration.observe({ queue: e.queue, task: e.task, status: 'failed' }, e.durationMs / 1000);
        }),
        hub.on('job.retried', (e) => retried.inc({ queue: e.queue, task: e.task })),
        hub.on('job.dead', (e) => dead.inc({ queue: e.queue, task: e.task, reason: e.reason })),
        hub.on('job.aborted', (e) => aborted.inc({ queue: e.queue, task: e.task })),
      ];
      return () => off.forEach((fn) => fn());
    };
  }

  private readonly subscribe: () => () => void;
  private readonly refreshQueues: () => Promise<void>;

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    await this.refreshQueues();
    return this.registry.metrics();
  }

  /** Starts counting, and serving over HTTP when a port is set; resolves with the bound port. */
  async start(): Promise<number | undefined> {
    this.unsubscribe = this.subscribe();
    if (this.options.port === undefined) return undefined;
    const path = this.options.path ?? '/metrics';
    this.server = createServer((req, res) => {
      if (req.url?.split('?')[0] !== path) {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => {
          this.log.warn({ err }, 'metrics scrape failed');
          res.writeHead(500).end(`${err.message}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host ?? '127.0.0.1', resolve);
    });
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : undefined;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
