// Jobs ended per second (completed, failed for good) and pickup latencies, tallied from the
// event feed the dashboard follows: kept in memory for the last few minutes only.

import type { StoredEvent } from '../broker/types.js';
import type { Series } from './types.js';

/** Seconds of history kept (and charted). */
export const HISTORY_SECONDS = 300;

interface Bin {
  completed: number;
  failed: number;
}

/** An event cursor's time: stream ids start with the Redis server's ms. */
export function cursorMs(cursor: string): number {
  return Number(cursor.slice(0, cursor.indexOf('-')));
}

export class Throughput {
  private readonly total = new Map<number, Bin>();
  private readonly perQueue = new Map<string, Map<number, Bin>>();
  /** Per queue: [ms, pickup ms] of job.started events, oldest first. */
  private readonly pickups = new Map<string, [number, number][]>();

  add({ queue, cursor, event }: StoredEvent): void {
    const ms = cursorMs(cursor);
    if (event.type === 'job.started') {
      if (event.pickupMs !== undefined) this.pickupsOf(queue).push([ms, event.pickupMs]);
      return;
    }
    const completed = event.type === 'job.completed';
    if (!completed && !(event.type === 'job.failed' && !event.willRetry)) return;
    const second = Math.floor(ms / 1000);
    for (const bins of [this.total, this.binsOf(queue)]) {
      let bin = bins.get(second);
      if (!bin) bins.set(second, (bin = { completed: 0, failed: 0 }));
      if (completed) bin.completed++;
      else bin.failed++;
    }
  }

  /** Drops what is older than the history. */
  prune(nowMs: number): void {
    const oldest = Math.floor(nowMs / 1000) - HISTORY_SECONDS;
    for (const bins of [this.total, ...this.perQueue.values()]) {
      for (const second of bins.keys()) if (second < oldest) bins.delete(second);
    }
    for (const samples of this.pickups.values()) {
      const cut = samples.findIndex(([ms]) => ms >= nowMs - 60_000);
      samples.splice(0, cut < 0 ? samples.length : cut);
    }
  }

  /** Per second over the history, up to the second before `nowMs` (the current one is still filling). */
  series(nowMs: number): Series {
    const end = Math.floor(nowMs / 1000);
    const start = end - HISTORY_SECONDS;
    const completed: number[] = [];
    const failed: number[] = [];
    for (let s = start; s < end; s++) {
      const bin = this.total.get(s);
      completed.push(bin?.completed ?? 0);
      failed.push(bin?.failed ?? 0);
    }
    return { start, completed, failed };
  }

  /** Jobs of a queue that ended in the last 60 s. */
  lastMinute(queue: string, nowMs: number): Bin {
    const out = { completed: 0, failed: 0 };
    const from = Math.floor(nowMs / 1000) - 60;
    for (const [second, bin] of this.perQueue.get(queue) ?? []) {
      if (second < from) continue;
      out.completed += bin.completed;
      out.failed += bin.failed;
    }
    return out;
  }

  /** Median pickup latency (enqueue or due time to start) of a queue's jobs started in the last 60 s. */
  pickupP50(queue: string): number | undefined {
    const samples = this.pickups.get(queue);
    if (!samples || samples.length === 0) return undefined;
    const sorted = samples.map(([, v]) => v).sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
  }

  private binsOf(queue: string): Map<number, Bin> {
    let bins = this.perQueue.get(queue);
    if (!bins) this.perQueue.set(queue, (bins = new Map()));
    return bins;
  }

  private pickupsOf(queue: string): [number, number][] {
    let samples = this.pickups.get(queue);
    if (!samples) this.pickups.set(queue, (samples = []));
    return samples;
  }
}
