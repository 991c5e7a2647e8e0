// Fires the cron schedules of the queues a worker serves: on each tick (by Redis server
// time) it asks the enqueue script to add the tick's job, which succeeds once per tick
// over all workers. Schedules defined in code and those stored in Redis at runtime both count.

import type { Logger } from 'pino';
import { latestTick, nextTick, type ScheduleDefinition } from '../cron.js';
import type { Clock } from '../memory/clock.js';
import { Periodic } from './periodic.js';

export interface CronHost {
  /** Code-defined schedules and those stored in Redis. */
  schedules(): Promise<ScheduleDefinition[]>;
  /** Enqueues the schedule's job for this tick unless a worker already did; true if it did. */
  fire(def: ScheduleDefinition, tick: number): Promise<boolean>;
  /** Enqueues the schedule's job once for this worker's start. */
  fireAtStartup(def: ScheduleDefinition): Promise<void>;
  serverTime(): Promise<number>;
  /** The clock of serverTime, when it is not the host's (a memory broker's). */
  clock?: Clock;
  /** Calls fn when a schedule was added or removed, where that can be known; returns the unsubscribe. */
  onChange?(fn: () => void): () => void;
}

/** Longest sleep between checks, so schedules added at runtime are seen soon, where no notice tells. */
const MAX_SLEEP_MS = 1000;
/** Longest sleep where a notice tells of changes (the Redis broker's): the safety net for a lost one, or a process too old to send it. */
const NOTIFIED_SLEEP_MS = 30_000;

export class CronScheduler {
  private readonly periodic: Periodic;
  /** Longest sleep: on a clock that moves only when told, until the next tick (changes wake it). */
  private readonly maxSleepMs: number;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly host: CronHost,
    private readonly queues: Set<string>,
    private readonly log: Logger,
  ) {
    this.maxSleepMs = !host.onChange ? MAX_SLEEP_MS : host.clock?.driven ? Infinity : NOTIFIED_SLEEP_MS;
    this.periodic = new Periodic('cron', this.maxSleepMs, () => this.check(), log, { clock: host.clock, kind: 'due' });
  }

  async start(): Promise<void> {
    for (const def of await this.mine()) {
      if (def.runAtStartup) await this.host.fireAtStartup(def);
    }
    this.unsubscribe = this.host.onChange?.(() => this.periodic.wake());
    this.periodic.start(0);
  }

  stop(): Promise<void> {
    this.unsubscribe?.();
    return this.periodic.stop();
  }

  private async mine(): Promise<ScheduleDefinition[]> {
    return (await this.host.schedules()).filter((d) => this.queues.has(d.queue));
  }

  /** Fires each schedule's latest tick unless it is older than its drift; returns ms to sleep. */
  private async check(): Promise<number> {
    const defs = await this.mine();
    if (defs.length === 0) return this.maxSleepMs;
    const now = await this.host.serverTime();
    let sleep = this.maxSleepMs;
    for (const def of defs) {
      try {
        const tick = latestTick(def, now);
        if (tick !== undefined && now - tick <= def.maxDriftMs && (await this.host.fire(def, tick))) {
          this.log.info({ schedule: def.name, task: def.task, tick: new Date(tick).toISOString() }, 'cron tick enqueued');
        }
        const next = nextTick(def, now);
        if (next !== undefined) sleep = Math.min(sleep, Math.max(0, next - now));
      } catch (err) {
        this.log.warn({ err, schedule: def.name }, 'cron schedule failed');
      }
    }
    return sleep;
  }
}
