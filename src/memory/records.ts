// The byte-level helpers the Lua scripts share (lib.lua, jobs.lua), in TypeScript: header
// rewriting, outcome records written on a job's behalf, entry ids, and a map whose values
// expire on the broker's clock.

import type { Clock } from './clock.js';

export type Bytes = string | Buffer;

const text = (v: Bytes): string => (typeof v === 'string' ? v : v.toString('utf8'));

/**
 * The header "id|task|attempt|sig|opts" with its id and/or attempt replaced (undefined or ''
 * id, undefined attempt: kept); a malformed header is returned unchanged (the worker
 * dead-letters it when it reads it). As header_with in lib.lua.
 */
export function headerWith(raw: Bytes, id?: string, attempt?: string): Bytes {
  const h = text(raw);
  const a = h.indexOf('|');
  const b = a < 0 ? -1 : h.indexOf('|', a + 1);
  const c = b < 0 ? -1 : h.indexOf('|', b + 1);
  if (c < 0) return raw;
  return `${id || h.slice(0, a)}|${h.slice(a + 1, b)}|${attempt ?? h.slice(b + 1, c)}|${h.slice(c + 1)}`;
}

/** The id part of a header ('' for a plain job, whose id is its entry id). */
export function headerId(raw: Bytes | undefined): string {
  if (raw === undefined) return '';
  const h = text(raw);
  const a = h.indexOf('|');
  return a < 0 ? '' : h.slice(0, a);
}

/** The id of the job an entry carries: its header's id, or the entry id. */
export function jobIdOf(raw: Bytes | undefined, entry: string): string {
  return headerId(raw) || entry;
}

/**
 * An outcome record "status|{meta}\n" (empty value) with what it keeps of the job: its task,
 * priority `p`, enqueue time `q` and arguments (`a` bytes first in the body). As with_job in
 * jobs.lua.
 */
export function withJob(record: Bytes, h: Bytes | undefined, d: Bytes | undefined, level: string | undefined): Bytes {
  const buf = typeof record === 'string' ? Buffer.from(record) : record;
  const nl = buf.indexOf(10);
  if (nl < 0) return record;
  const header = h === undefined ? '' : text(h);
  let extra = '';
  const task = /^[^|]*\|([^|]*)\|/.exec(header)?.[1];
  if (task) extra += `,"task":${JSON.stringify(task)}`;
  if (level !== undefined) extra += `,"p":${JSON.stringify(level)}`;
  const q = /"q":(\d+)/.exec(header)?.[1];
  if (q) extra += `,"q":${q}`;
  const w = /"w":(\[[^\]]*\])/.exec(header)?.[1];
  if (w) extra += `,"w":${w}`;
  const args = d ?? '';
  const head = `${buf.subarray(0, nl - 1).toString('utf8')}${extra},"a":${byteLength(args)}}\n`;
  if (typeof record === 'string' && typeof args === 'string') return head + record.slice(record.indexOf('\n') + 1) + args;
  return Buffer.concat([Buffer.from(head), buf.subarray(nl + 1), typeof args === 'string' ? Buffer.from(args) : args]);
}

/** The record of a job aborted on request while it was being moved (retried, handed back, reclaimed). */
export function abortedRecord(message: string, now: number, h: Bytes | undefined, d: Bytes | undefined, level: string | undefined): Bytes {
  const meta = { name: 'JobAbortedError', message, reason: 'aborted', finishedAt: now };
  return withJob(`aborted|${JSON.stringify(meta)}\n`, h, d, level);
}

/** A failed record written on a job's behalf (poison, interrupted). */
export function failedRecord(meta: Record<string, unknown>, h: Bytes | undefined, d: Bytes | undefined, level: string | undefined): Bytes {
  return withJob(`failed|${JSON.stringify(meta)}\n`, h, d, level);
}

export function byteLength(v: Bytes): number {
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

export { compareIds } from '../broker/ids.js';

/** Hands out growing "ms-seq" ids from the clock, as the id counter of lib.lua and XADD * do. */
export class IdCounter {
  private ms = 0;
  private seq = -1;
  private residue = 0;
  private step = 1;

  /** A shard's counter: sequence numbers equal to its index modulo the shard count, as lib.lua hands out. */
  shard(index: number, count: number): void {
    this.residue = index;
    this.step = count;
  }

  next(now: number): string {
    if (now > this.ms) {
      this.ms = now;
      this.seq = this.residue;
    } else {
      this.seq += this.step;
    }
    return `${this.ms}-${this.seq}`;
  }

  /** The last id handed out ('0-0' before the first). */
  get last(): string {
    return this.seq < 0 ? '0-0' : `${this.ms}-${this.seq}`;
  }
}

/** A map whose values expire on the clock (a Redis key with PX / EX). */
export class Expiring<V> {
  private readonly map = new Map<string, { value: V; until: number }>();

  constructor(private readonly clock: Clock) {}

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.until <= this.clock.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Keeps the value ttlMs (Infinity: forever). */
  set(key: string, value: V, ttlMs: number): void {
    this.map.set(key, { value, until: this.clock.now() + ttlMs });
  }

  delete(key: string): boolean {
    return this.get(key) !== undefined && this.map.delete(key);
  }

  /** Live entries, oldest written first. */
  *entries(): IterableIterator<[string, V]> {
    for (const key of [...this.map.keys()]) {
      const v = this.get(key);
      if (v !== undefined) yield [key, v];
    }
  }
}

/** LRANGE: the items from start to end inclusive, negative indexes counting from the end. */
export function lrange<T>(list: readonly T[], start: number, end: number): T[] {
  const n = list.length;
  const from = Math.max(0, start < 0 ? n + start : start);
  const to = Math.min(n - 1, end < 0 ? n + end : end);
  return from > to ? [] : list.slice(from, to + 1);
}
