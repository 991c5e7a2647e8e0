// Everything one worker runs for one queue, wired together: fetcher, processor, lease
// keeper, recoverer and scheduler.

import type { Logger } from 'pino';
import type { NodeSettler } from './settle.js';
import type { Broker, Durability } from '../broker/types.js';
import type { Queue } from '../registry.js';
import type { Serializer } from '../serializer.js';
import type { Middleware } from '../types.js';
import type { EventHub } from '../events.js';
import type { OtelApi } from '../tracing.js';
import { Fetcher } from './fetcher.js';
import { LeaseKeeper } from './leaseKeeper.js';
import { Processor, type ProcessorStats } from './processor.js';
import { Recoverer } from './recoverer.js';
import { Scheduler } from './scheduler.js';
import type { ThreadPool } from './threads.js';
import type { SlotPool } from './slotPool.js';

export interface RunnerSettings {
  concurrency: number;
  prefetch: number;
  idleTimeout: number;
  blockMs: number;
  schedulerPollMs: number;
  /** Overrides the queue's deadLetter option. */
  deadLetter?: boolean;
  /** Outcome writes wait for this durability. */
  durability?: Durability;
  /** The limit shared with the queue's other shards (a shard of a sharded queue). */
  pool?: SlotPool;
}

export class QueueRunner {
  readonly processor: Processor;
  private readonly fetcher: Fetcher;
  private readonly leaseKeeper: LeaseKeeper;
  private readonly recoverer: Recoverer;
  private readonly scheduler: Scheduler;

  readonly concurrency: number;

  constructor(
    private readonly broker: Broker,
    readonly queue: Queue<unknown>,
    consumer: string,
    settings: RunnerSettings,
    shared: { serializer: Serializer; signingSecret: string | undefined; middleware: Middleware<unknown>[]; deps: () => unknown; events: EventHub; otel: () => OtelApi | null; threads?: ThreadPool; workflows?: () => NodeSettler },
    log: Logger,
  ) {
    const qlog = log.child(queue.shard === undefined ? { queue: queue.name } : { queue: queue.name, shard: queue.shard });
    this.concurrency = settings.concurrency;
    this.scheduler = new Scheduler(broker, queue, settings.schedulerPollMs, qlog);
    this.processor = new Processor({
      broker, queue, consumer, concurrency: settings.concurrency, prefetch: settings.prefetch, deadLetter: settings.deadLetter, durability: settings.durability, pool: settings.pool, ...shared, log: qlog,
      onRetryScheduled: (ms) => this.scheduler.dueIn(ms),
    });
    this.fetcher = new Fetcher(broker, queue, consumer, this.processor, settings.blockMs, qlog);
    this.processor.quiesceFetch = () => this.fetcher.quiesce();
    this.leaseKeeper = new LeaseKeeper(broker, queue, consumer, this.processor, settings.idleTimeout, qlog);
    this.recoverer = new Recoverer(broker, queue, consumer, this.processor, settings.idleTimeout, () => this.leaseKeeper.wake(), () => this.startedAt, qlog, shared.workflows);
    this.processor.onIsolationEnd = () => this.recoverer.wake();
  }

  /** Server ms this runner started: entries delivered to its consumer since then reached this process. */
  private startedAt = 0;

  async start(): Promise<void> {
    this.startedAt = await this.broker.serverNow();
    await this.broker.registerQueue(this.queue, true);
    await this.broker.ensureGroups(this.queue);
    this.leaseKeeper.start();
    this.scheduler.start();
    this.recoverer.start();
    this.fetcher.start();
  }

  /** Stops fetching and starting jobs (first step of a graceful stop). */
  async stopFetching(): Promise<void> {
    this.processor.stopAccepting();
    await this.fetcher.stop();
  }

  /** Lets running jobs finish within the grace period, hands back the rest, stops the rest. */
  async finish(graceMs: number): Promise<number> {
    await this.recoverer.stop();
    await this.scheduler.stop();
    await this.processor.drain(graceMs);
    await this.leaseKeeper.stop();
    return this.processor.handBack();
  }

  /** The queue (this shard of it) was paused or resumed. */
  held(): void {
    this.fetcher.held();
  }

  pauseChanged(paused: boolean): void {
    this.fetcher.pauseChanged(paused);
  }

  /** Notices may have been missed: leases renewed now (aborts asked for meanwhile), a pause looked for. */
  /** Notices may have been lost (the subscriber came back): what they would have said is looked at again. */
  resync(): void {
    this.leaseKeeper.wake();
    this.fetcher.resync();
    this.scheduler.dueIn(0);
  }

  /** A delayed job of the queue became its earliest due (a notice from any process). */
  dueChanged(): void {
    this.scheduler.dueIn(0);
  }


  get lastFetchAt(): number {
    return this.fetcher.lastFetchAt;
  }

  stats(): ProcessorStats {
    return this.processor.getStats();
  }
}
