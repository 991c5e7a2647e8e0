// The throughput history every broker keeps: per queue (per shard) and UTC day, two counters per
// minute of the day, completed and failed for good, added to by workers at heartbeat time. A day
// is one value of 1440 x 2 u32 (big-endian, as Redis BITFIELD lays them out): 11,520 bytes, kept
// 8 days after its last write. What brokers share of it: the day and minute of a time, the
// delta rule that keeps a beat sent twice from counting twice, and the plan of a read.

import { ConfigError } from '../errors.js';

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
export const MINUTES_PER_DAY = 1440;
/** Bytes of one day's value: 1440 minutes x 2 counters x 4 bytes. */
export const DAY_BYTES = MINUTES_PER_DAY * 2 * 4;
/** Seconds a day's value is kept after its last write. */
export const HISTORY_TTL_S = 8 * 86_400;
/** How long Redis remembers the totals a worker's last beat brought (to count only what they grew by). */
export const SEEN_TTL_MS = 3_600_000;
/** The longest range one read may ask for. */
export const MAX_RANGE_MS = 8 * DAY_MS;

/**
 * Jobs a worker ended on one queue (shard) since it started, completed and failed for good, and
 * the same totals as of its last beat known to have landed (0 before its first).
 */
export interface EndedTotals {
  completed: number;
  failed: number;
  landedCompleted: number;
  landedFailed: number;
}

/** Jobs of a queue ended per minute: `completed[i]` and `failed[i]` in the minute starting at `start + i` minutes. */
export interface ThroughputHistory {
  /** Epoch ms of the first minute. */
  start: number;
  completed: number[];
  failed: number[];
}

/** "yyyymmdd" of a time, UTC. */
export function dayOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** Minute of the UTC day, 0-1439. */
export function minuteOfDay(ms: number): number {
  return Math.floor((((ms % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
}

/**
 * What a beat adds (the rule of health.lua): the totals' growth since those Redis saw last from
 * this worker, when it remembers them and they lie between the landed totals and these (a beat
 * sent again, or one that landed though its reply was lost, adds nothing twice); else since the
 * landed totals (a first beat, or a worker Redis forgot about).
 */
export function endedDelta(t: EndedTotals, seen: { completed: number; failed: number } | undefined): { completed: number; failed: number } {
  let from = { completed: t.landedCompleted, failed: t.landedFailed };
  if (seen && seen.completed >= from.completed && seen.failed >= from.failed && seen.completed <= t.completed && seen.failed <= t.failed) from = seen;
  return { completed: Math.max(0, t.completed - from.completed), failed: Math.max(0, t.failed - from.failed) };
}

/** One day's part of a read: which minutes of the day, and where they go in the answer. */
export interface DaySlice {
  day: string;
  firstMinute: number;
  minutes: number;
  at: number;
}

/** The whole minutes from `fromMs`'s through the one before `toMs` (at least one), split by UTC day. */
export function planRange(fromMs: number, toMs: number): { start: number; minutes: number; days: DaySlice[] } {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs) throw new ConfigError('throughput range', 'finite epoch ms, from <= to', `${fromMs}..${toMs}`);
  if (toMs - fromMs > MAX_RANGE_MS) throw new ConfigError('throughput range', `at most ${MAX_RANGE_MS / DAY_MS} days`, `${Math.round((toMs - fromMs) / 3_600_000)} hours`);
  const start = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
  const minutes = Math.max(1, Math.ceil((toMs - start) / MINUTE_MS));
  const days: DaySlice[] = [];
  for (let at = 0; at < minutes;) {
    const ms = start + at * MINUTE_MS;
    const firstMinute = minuteOfDay(ms);
    const n = Math.min(minutes - at, MINUTES_PER_DAY - firstMinute);
    days.push({ day: dayOf(ms), firstMinute, minutes: n, at });
    at += n;
  }
  return { start, minutes, days };
}

/** Adds a day's counters (bytes from its first minute's on, big-endian u32 pairs) into the answer. */
export function addDay(out: { completed: number[]; failed: number[] }, slice: DaySlice, bytes: Uint8Array | undefined): void {
  if (!bytes) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < slice.minutes; i++) {
    const o = i * 8;
    if (o + 8 > bytes.byteLength) break;
    out.completed[slice.at + i]! += view.getUint32(o);
    out.failed[slice.at + i]! += view.getUint32(o + 4);
  }
}
