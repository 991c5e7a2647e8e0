// Tells the world this worker is alive: its registry entry, a health record per queue, and
// the health file that Docker and Kubernetes probes test. The file exists only while the
// worker runs and its last heartbeat reached Redis.

import { rm, utimes, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Broker, QueueRef, WorkerEntry } from '../broker/types.js';
import { Periodic, withTimeout } from './periodic.js';

export interface HeartbeatSettings {
  intervalMs: number;
  ttlMs: number;
  /** Path of the health file, or false for none. */
  healthFile: string | false;
}

export interface HeartbeatSource {
  entry(): WorkerEntry;
  queues: QueueRef[];
  /** The health record of one queue (counters), as stored under its health key. */
  healthRecord(queue: QueueRef): string;
  /** Jobs ended on one queue since the worker started (completed, failed for good): the throughput history. */
  ended?(queue: QueueRef): { completed: number; failed: number };
}

export class Heartbeater {
  private readonly periodic: Periodic;
  /** Epoch ms of the last heartbeat that reached Redis (0: none yet). */
  lastBeatAt = 0;
  lastError: string | undefined;
  private fileExists = false;
  /** Per queue: the ended totals of the last beat that reached Redis (its history counts their growth). */
  private readonly landed = new Map<QueueRef, { completed: number; failed: number }>();

  constructor(
    private readonly broker: Broker,
    private readonly source: HeartbeatSource,
    private readonly settings: HeartbeatSettings,
    private readonly log: Logger,
  ) {
    this.periodic = new Periodic('heartbeater', settings.intervalMs, () => this.beat(), log, { clock: broker.clock, kind: 'renew' });
  }

  /** Writes the first heartbeat and the health file, then beats every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.periodic.start(this.settings.intervalMs);
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
    // Jobs ended since the last beat go into the history too; not tried when Redis was out of reach.
    if (!this.lastError && this.source.queues.some((q) => this.endedOf(q)?.completed !== this.landed.get(q)?.completed || this.endedOf(q)?.failed !== this.landed.get(q)?.failed)) {
      await withTimeout(this.send(), 1000, 'Redis did not answer').catch((err: Error) => this.log.warn({ err }, 'the last jobs ended could not be added to the throughput history'));
    }
    await this.removeFile();
    // Bounded: while Redis is unreachable a stop must not wait for it (the entry expires by itself).
    await withTimeout(this.broker.removeWorker(this.source.entry().id, this.source.queues), 1000, 'Redis did not answer').catch((err: Error) => {
      this.log.warn({ err }, 'could not remove the worker registry entry; it expires by itself');
    });
  }

  private async beat(): Promise<void> {
    const entry = this.source.entry();
    try {
      // A beat that cannot land before the previous one expires counts as failed, even while
      // the client still retries it.
      await withTimeout(this.send(entry), Math.max(500, this.settings.ttlMs - this.settings.intervalMs), 'Redis did not take the heartbeat');
      this.lastBeatAt = Date.now();
      this.lastError = undefined;
      await this.touchFile();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.warn({ err }, 'heartbeat failed; the worker is unhealthy until Redis answers');
      await this.removeFile();
    }
  }

  private endedOf(queue: QueueRef): { completed: number; failed: number } | undefined {
    return this.source.ended?.(queue);
  }

  /** One heartbeat; once it landed, its ended totals are the landed ones. */
  private async send(entry = this.source.entry()): Promise<void> {
    const totals = new Map(this.source.queues.map((q) => [q, this.endedOf(q)] as const));
    await this.broker.heartbeat(entry, this.settings.ttlMs, this.source.queues.map((queue) => {
      const now = totals.get(queue);
      const landed = this.landed.get(queue) ?? { completed: 0, failed: 0 };
      const record = this.source.healthRecord(queue);
      return now ? { queue, record, ended: { ...now, landedCompleted: landed.completed, landedFailed: landed.failed } } : { queue, record };
    }));
    for (const [q, t] of totals) if (t) this.landed.set(q, t);
  }

  private async touchFile(): Promise<void> {
    const path = this.settings.healthFile;
    if (!path) return;
    const now = new Date();
    if (this.fileExists) {
      await utimes(path, now, now).catch(() => (this.fileExists = false));
      if (this.fileExists) return;
    }
    await writeFile(path, `${this.source.entry().id}\n`);
    this.fileExists = true;
  }

  private async removeFile(): Promise<void> {
    if (!this.settings.healthFile) return;
    await rm(this.settings.healthFile, { force: true });
    this.fileExists = false;
  }
}
