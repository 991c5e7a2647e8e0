// Fair groups on a memory broker (QueueRef.groups, EnqueueItem.group), as the Redis scripts keep
// them: each group's list of waiting job ids (FIFO), the ring of groups with jobs to serve (each
// with its turn), the groups resting (held, or out of tokens) until a time, those at their
// concurrency cap (full), the paused ones, each group's held set (its jobs served and not ended,
// kept under a cap) and token bucket, and the bell a capped read waits on. A fetch serves the
// ring after the ready streams: one job per group per turn, each within its group's limits.

import type { GroupLimits, GroupOverride, GroupSummary, QueueRef } from '../broker/types.js';
import { withJob, type Bytes } from './records.js';
import type { JobRecord, QueueState } from './state.js';

/** A token bucket (as the queue's): tokens at clock ms. */
interface Bucket {
  tokens: number;
  at: number;
}

/** Everything of one queue's groups. */
export class GroupState {
  /** Each group's waiting job ids, oldest first (only groups with jobs). */
  readonly lists = new Map<string, string[]>();
  /** Groups with jobs waiting to be served, by turn; the map's order is the turns' order (a new turn is always the highest). */
  readonly ring = new Map<string, number>();
  /** Groups resting (held, or out of tokens) until a clock ms. */
  readonly rest = new Map<string, number>();
  /** Groups at their concurrency cap: back in the ring once a permit frees. */
  readonly full = new Set<string>();
  readonly paused = new Set<string>();
  /** Each group's jobs served and not ended (kept under a cap only). */
  readonly held = new Map<string, Set<string>>();
  /** Each group's token bucket (under a rate limit). */
  readonly buckets = new Map<string, Bucket>();
  /** The groups with limits of their own (Broker.setGroupLimits), over the queue's. */
  readonly limits = new Map<string, GroupOverride>();
  /** Weighted groups in the middle of their turn: the jobs left of it. */
  readonly credits = new Map<string, number>();
  /** The groups bell's position: moves on whenever jobs join a group. */
  bell = 0;

  /** Jobs waiting in all the groups together. */
  get waiting(): number {
    let n = 0;
    for (const list of this.lists.values()) n += list.length;
    return n;
  }

  /** The next turn: one past the highest in the ring (1 for an empty ring). */
  private nextTurn(): number {
    let top = 0;
    for (const turn of this.ring.values()) top = turn;
    return top + 1;
  }

  /** Gives the group the next turn (the end of the ring), leaving its place if it had one. */
  turn(group: string): void {
    const turn = this.nextTurn();
    this.ring.delete(group);
    this.ring.set(group, turn);
  }

  /** The group joins the ring at its end, if it has jobs and is not in it, resting, full or paused. */
  join(group: string): void {
    if (!this.lists.get(group)?.length) return;
    if (this.ring.has(group) || this.rest.has(group) || this.full.has(group) || this.paused.has(group)) return;
    this.turn(group);
  }

  /** A group with no job left leaves the ring, its rest and the full set. */
  drop(group: string): void {
    this.lists.delete(group);
    this.ring.delete(group);
    this.rest.delete(group);
    this.full.delete(group);
  }
}

/** The group a header's options name (`g`), if any (a malformed header names none). */
export function headerGroup(raw: Bytes | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const h = typeof raw === 'string' ? raw : raw.toString('utf8');
  let at = -1;
  for (let i = 0; i < 4; i++) {
    at = h.indexOf('|', at + 1);
    if (at < 0) return undefined;
  }
  const opts = h.slice(at + 1);
  if (!opts.includes('"g"')) return undefined;
  try {
    const g = (JSON.parse(opts) as { g?: unknown } | null)?.g;
    return typeof g === 'string' && g !== '' ? g : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A job joins the end of its group's list as 'grouped' (its record holding its envelope and
 * group), the group joins the ring (unless it is there, resting, full or paused), and the bell
 * rings.
 */
export function addToGroup(q: QueueState, id: string, group: string, rec: Omit<JobRecord, 'st' | 'g' | 'e'>): void {
  const old = q.records.get(id);
  const fields: JobRecord = { ...old, ...rec, st: 'grouped', g: group };
  delete fields.e;
  q.records.set(id, fields);
  const gs = q.groups;
  let list = gs.lists.get(group);
  if (!list) gs.lists.set(group, (list = []));
  list.push(id);
  gs.join(group);
  q.ringBell();
}

/** Pauses a group (it leaves the ring) or resumes it (it joins the ring's end if it has jobs and is not resting or full; the bell rings). */
export function setGroupPaused(q: QueueState, group: string, paused: boolean): void {
  const gs = q.groups;
  if (paused) {
    gs.paused.add(group);
    gs.ring.delete(group);
    return;
  }
  if (!gs.paused.delete(group) || !gs.lists.get(group)?.length) return;
  gs.join(group);
  q.ringBell();
}

/** Rests a group until `ms` from now (a longer rest already set stands); it leaves the ring. */
export function holdGroup(q: QueueState, group: string, ms: number): void {
  const gs = q.groups;
  const until = q.clock.now() + Math.max(1, Math.ceil(ms));
  gs.rest.set(group, Math.max(gs.rest.get(group) ?? 0, until));
  gs.ring.delete(group);
}

/** abort.lua for a job waiting in its group: out of the list, its record gone, recorded aborted with its arguments. */
export function abortGrouped(q: QueueState, id: string, rec: JobRecord, record: Bytes, ttl: number): void {
  const group = rec.g ?? '';
  const list = q.groups.lists.get(group);
  const at = list?.indexOf(id) ?? -1;
  if (list && at >= 0) list.splice(at, 1);
  if (!list?.length) q.groups.drop(group);
  q.records.delete(id);
  q.storeResult(id, withJob(record, rec.h, rec.d, rec.level), ttl);
}

/** The group's held jobs still held (a job counts while its record is queued or running): pruned, counted. */
function heldCount(q: QueueState, group: string): number {
  const held = q.groups.held.get(group);
  if (!held) return 0;
  // As fetch.lua's held_by: running (taken at most once), or queued with its entry on its stream or pending.
  for (const id of held) {
    const rec = q.records.get(id);
    const stream = rec?.level === undefined ? undefined : q.streams.get(rec.level);
    const queued = rec?.st === 'queued' && rec.e !== undefined && stream !== undefined && (stream.entries.has(rec.e) || stream.pending.has(rec.e));
    if (rec?.st !== 'running' && !queued) held.delete(id);
  }
  if (held.size === 0) q.groups.held.delete(group);
  return held.size;
}

function tokensNow(b: Bucket | undefined, rate: { max: number; perMs: number }, now: number): number {
  if (!b) return rate.max;
  return now > b.at ? Math.min(rate.max, b.tokens + ((now - b.at) * rate.max) / rate.perMs) : b.tokens;
}

/** A group's limits (as fairfetch.lua's limits_of): the queue's, or the group's own where it has some. */
function groupLimits(gs: GroupState, queue: GroupLimits, group: string): { cap: number; rate: { max: number; perMs: number } | undefined; weight: number } {
  const own = gs.limits.get(group);
  const cap = own?.concurrency === undefined ? (queue.concurrency ?? 0) : (own.concurrency ?? 0);
  const rate = own?.rateLimit === undefined ? queue.rateLimit : (own.rateLimit ?? undefined);
  return { cap, rate, weight: Math.max(1, own?.weight ?? 1) };
}

/** Gives a group limits of its own, or takes them away; the bell rings (a waiting read looks again). */
export function setGroupLimits(q: QueueState, group: string, limits: GroupOverride | undefined): void {
  if (limits === undefined) q.groups.limits.delete(group);
  else q.groups.limits.set(group, { ...limits });
  q.ringBell();
}

/**
 * fetch.lua's group phase, after the ready streams gave fewer than `want`: groups whose rest is
 * over and full ones with a permit free back in the ring, then the ring served in turn, one job
 * per group per turn, each group within its cap and rate limit. A job served becomes a new entry
 * of its level's stream (its record 'queued', its group kept), not yet delivered: returned, level
 * and entry, in the order served, for the fetch to deliver.
 */
export function serveGroups(q: QueueState, ref: QueueRef, want: number): { level: string; entry: string }[] {
  const gs = q.groups;
  const fed: { level: string; entry: string }[] = [];
  if (want <= 0 || (gs.ring.size === 0 && gs.rest.size === 0 && gs.full.size === 0)) return fed;
  const now = q.clock.now();
  const limitsOf = (group: string) => groupLimits(gs, ref.groups ?? {}, group);
  // Rests over: back in the ring, earliest first.
  const over = [...gs.rest].filter(([, until]) => until <= now).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [group] of over) {
    gs.rest.delete(group);
    gs.join(group);
  }
  // Full groups with a permit free again (or no cap now): back in the ring.
  for (const group of [...gs.full]) {
    const { cap } = limitsOf(group);
    if (cap > 0 && heldCount(q, group) >= cap) continue;
    gs.full.delete(group);
    gs.join(group);
  }
  while (want > 0) {
    const candidates = [...gs.ring.keys()].slice(0, want);
    if (candidates.length === 0) break;
    // As fetch.lua: one job per group per turn, a group's turns of this fetch taken at once.
    const share = Math.max(1, Math.floor(want / candidates.length));
    for (const group of candidates) {
      if (want <= 0) break;
      const { cap, rate, weight } = limitsOf(group);
      // As fairfetch.lua: a weighted group's turn is `weight` jobs, kept across fetches.
      const credit = weight > 1 ? (gs.credits.get(group) ?? weight) : undefined;
      let k = Math.min(credit ?? share, want);
      const held = cap > 0 ? heldCount(q, group) : 0;
      if (cap > 0 && held >= cap) {
        gs.ring.delete(group);
        gs.full.add(group);
        continue;
      }
      if (cap > 0) k = Math.min(k, cap - held);
      let tokens = 0;
      if (rate) {
        tokens = tokensNow(gs.buckets.get(group), rate, now);
        if (tokens < 1) {
          gs.ring.delete(group);
          gs.rest.set(group, now + Math.max(1, Math.ceil(((1 - tokens) * rate.perMs) / rate.max)));
          continue;
        }
        k = Math.min(k, Math.floor(tokens));
      }
      const list = gs.lists.get(group);
      let served = 0;
      for (const id of list?.splice(0, k) ?? []) {
        const rec = q.records.get(id);
        if (rec?.st !== 'grouped' || rec.h === undefined) continue;
        const level = rec.level ?? q.levels?.at(-1) ?? ref.levels.at(-1) ?? '';
        const entry = q.ids.next(now);
        q.stream(level).add(entry, { h: rec.h, d: rec.d ?? '' });
        Object.assign(rec, { st: 'queued', e: entry, level });
        delete rec.h;
        delete rec.d;
        if (cap > 0) {
          let heldSet = gs.held.get(group);
          if (!heldSet) gs.held.set(group, (heldSet = new Set()));
          heldSet.add(id);
        }
        fed.push({ level, entry });
        served++;
      }
      if (rate && served > 0) gs.buckets.set(group, { tokens: tokens - served, at: now });
      want -= served;
      if (!list?.length) {
        gs.lists.delete(group);
        gs.ring.delete(group);
        gs.credits.delete(group);
      } else if (credit !== undefined && credit - served > 0) {
        gs.credits.set(group, credit - served); // the rest of its turn: it keeps its place
      } else {
        gs.credits.delete(group);
        gs.turn(group);
      }
    }
  }
  return fed;
}

/**
 * What an empty fetch of a grouped (capped, rate-limited) queue says of its groups: capped
 * while a group is at its cap, else how long until the earliest rest ends; undefined: neither.
 */
export function groupsWait(q: QueueState): { capped: true } | { limitedMs: number } | undefined {
  const gs = q.groups;
  if (gs.full.size > 0) return { capped: true };
  if (gs.rest.size === 0) return undefined;
  let earliest = Infinity;
  for (const until of gs.rest.values()) earliest = Math.min(earliest, until);
  return { limitedMs: Math.max(1, earliest - q.clock.now()) };
}

/** The groups with jobs waiting, or paused, by key, up to `limit`. */
export function groupSummaries(q: QueueState, limit: number): GroupSummary[] {
  const gs = q.groups;
  const keys = new Set<string>(gs.paused);
  for (const [group, list] of gs.lists) if (list.length > 0) keys.add(group);
  return [...keys]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, Math.max(0, limit))
    .map((key) => {
      const own = gs.limits.get(key);
      return { key, waiting: gs.lists.get(key)?.length ?? 0, paused: gs.paused.has(key), ...(own ? { limits: { ...own } } : {}) };
    });
}
