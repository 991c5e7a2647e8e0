// The state transitions of a job on a memory broker, one function each, with the semantics of
// the Lua script of the same name in src/redis/lua (their headers are the specification):
// enqueue, fetch, complete, retry, dead, take, requeue (hand-back), touch, promote, abort,
// unschedule, locate. Each runs synchronously, so it is atomic as a script is.

import type {
  Fetched, AbortOutcome, Completion, DeadLetter, Delivery, EnqueueItem, EnqueueOutcome, HeldLease, Location, QueueRef, RetryOutcome,
} from '../broker/types.js';
import type { MillraceEvent } from '../events.js';
import { AUTO_ID } from '../envelope.js';
import { abortGrouped, addToGroup, groupsWait, serveGroups } from './groups.js';
import { abortedRecord, headerWith, jobIdOf, withJob, type Bytes } from './records.js';
import type { Entry, QueueState, Stream } from './state.js';

/** The level name of a level index. */
export function levelName(ref: QueueRef, level: number): string {
  return ref.levels[level] ?? ref.levels[0] ?? '';
}

/** The level index of a level name (0 when the queue does not have it). */
export function levelIndex(ref: QueueRef, name: string | undefined): number {
  const i = name === undefined ? -1 : ref.levels.indexOf(name);
  return i < 0 ? 0 : i;
}

export function deliveryOf(ref: QueueRef, level: string, entry: string, f: Entry, token = '1'): Delivery {
  const d: Delivery = { level: levelIndex(ref, level), entry, token, header: f.h, data: f.d };
  if (f.r) d.deaths = f.r;
  return d;
}

/**
 * enqueue.lua: ready or delayed jobs; custom ids that exist (as a job or a kept result) are
 * skipped. A job of a group due now waits in its group (./groups.ts), named by its id: an auto
 * one is handed out now and written into its header, as a delayed auto job's is.
 */
export function enqueue(q: QueueState, ref: QueueRef, items: EnqueueItem[], cron: { schedule: string; tick: number } | undefined, eventsMaxLen: number): EnqueueOutcome[] {
  if (cron) {
    const last = q.cronTicks.get(cron.schedule);
    if (last !== undefined && last >= cron.tick) return [];
    q.cronTicks.set(cron.schedule, cron.tick);
  }
  const now = q.clock.now();
  const out: EnqueueOutcome[] = [];
  const events: MillraceEvent[] = [];
  let earliest = false;
  for (const it of items) {
    const custom = it.id !== '';
    if (custom && (q.records.has(it.id) || q.results.has(it.id))) {
      out.push({ id: it.id, created: false });
      continue;
    }
    const level = levelName(ref, it.level);
    const dueAt = it.due === undefined ? undefined : 'delay' in it.due ? now + it.due.delay : it.due.at;
    let id = it.id;
    const group = it.group;
    if (dueAt !== undefined && dueAt > now) {
      // A delayed job's header names its id: it gets a new entry id when it is promoted.
      if (!custom) id = q.ids.next(now);
      q.records.set(id, { st: 'delayed', level, h: custom ? it.header : id + it.header, d: it.data, ...(group === undefined ? {} : { g: group }) });
      if (q.delay(id, dueAt, true)) earliest = true;
    } else if (group !== undefined) {
      if (!custom) id = q.ids.next(now);
      addToGroup(q, id, group, { level, h: custom ? it.header : id + it.header, d: it.data });
    } else {
      const entry = q.append(level, { h: it.header, d: it.data });
      if (custom) q.records.set(id, { st: 'queued', level, e: entry });
      else id = entry;
    }
    out.push({ id, created: true });
    events.push({ type: 'job.enqueued', at: now, queue: ref.name, id, task: it.task });
  }
  if (earliest) q.publishAbort('|due');
  if (eventsMaxLen > 0 && events.length > 0) q.events.append(events, undefined, Math.max(1, Math.ceil(eventsMaxLen / events.length)));
  return out;
}

/**
 * fetch.lua: up to `count` new entries, highest priority first; then, when the streams gave
 * fewer, jobs served from the groups (./groups.ts), delivered in the same fetch.
 */
export function fetch(q: QueueState, ref: QueueRef, consumer: string, count: number): Fetched {
  q.seen(consumer);
  const now = q.clock.now();
  if (q.heldUntil > now) return Object.assign([], { limitedMs: q.heldUntil - now });
  const cap = ref.globalConcurrency ?? 0;
  if (cap > 0) {
    // The queue's jobs held by every worker: pending entries and at-most-once jobs off their stream.
    let held = q.taken.size;
    for (const level of ref.levels) held += q.stream(level).pending.size;
    if (held >= cap) return Object.assign([], { capped: true as const });
    count = Math.min(count, cap - held);
  }
  const rate = ref.rateLimit;
  let tokens = 0;
  if (rate) {
    tokens = tokensNow(q, rate, now);
    const wait = tokenWait(rate, tokens, count);
    if (wait > 0) return Object.assign([], { limitedMs: wait });
    count = Math.min(count, Math.floor(tokens));
  }
  const out: Delivery[] = [];
  for (let i = ref.levels.length - 1; i >= 0 && out.length < count; i--) {
    const level = ref.levels[i]!;
    for (const [entry, f] of q.stream(level).deliver(consumer, count - out.length, q.clock.now())) out.push(deliveryOf(ref, level, entry, f));
  }
  if (out.length < count) {
    // The jobs the groups served, delivered now, highest priority first (in the order served within a level).
    const fed = serveGroups(q, ref, count - out.length);
    for (let i = ref.levels.length - 1; i >= 0 && fed.length > 0; i--) {
      const level = ref.levels[i]!;
      const stream = q.stream(level);
      for (const f of fed) {
        if (f.level !== level) continue;
        const got = stream.deliverEntry(f.entry, consumer, now);
        if (got) out.push(deliveryOf(ref, level, f.entry, got));
      }
    }
  }
  if (rate && out.length > 0) q.bucket = { tokens: tokens - out.length, at: now };
  // As fetch.lua: a capped, limited or grouped queue's empty fetch says so, for the reader that
  // waits for entries: a grouped one's capped while a group is at its cap, limited while every
  // group with jobs rests (with where to wait meanwhile for another group's job); else where the
  // streams and the groups bell end.
  if ((cap > 0 || rate || ref.groups) && out.length === 0) {
    const groups = ref.groups ? groupsWait(q) : undefined;
    return Object.assign(out, groups ?? {}, { after: [...ref.levels.map(() => ''), String(q.groups.bell)] });
  }
  return out;
}

/** fetch.lua's token bucket: full at max, refilled continuously, spent by what is delivered. */
function tokensNow(q: QueueState, rate: { max: number; perMs: number }, now: number): number {
  const b = q.bucket ?? { tokens: rate.max, at: now };
  return now > b.at ? Math.min(rate.max, b.tokens + ((now - b.at) * rate.max) / rate.perMs) : b.tokens;
}

/** How long until the bucket holds a batch for a fetch of `count` (up to 10 ms worth, at least one); 0: now. */
function tokenWait(rate: { max: number; perMs: number }, tokens: number, count: number): number {
  const batch = Math.max(1, Math.min(count, Math.floor((rate.max * 10) / rate.perMs)));
  return tokens < batch ? Math.max(1, Math.ceil(((batch - tokens) * rate.perMs) / rate.max)) : 0;
}

/** How long until a fetch of the queue could deliver, held or rate limited (0: now): what a manual clock must be advanced by. */
export function limitedFor(q: QueueState, ref: QueueRef): number {
  const now = q.clock.now();
  if (q.heldUntil > now) return q.heldUntil - now;
  const own = ref.rateLimit ? tokenWait(ref.rateLimit, tokensNow(q, ref.rateLimit, now), Infinity) : 0;
  if (own > 0 || q.groups.ring.size > 0) return own;
  // Every group with jobs rests (held, out of tokens): until the first may be served.
  const groups = groupsWait(q);
  return groups && 'limitedMs' in groups ? groups.limitedMs : 0;
}

/** complete.lua: records outcomes and acknowledges entries still held (an entry '' was taken: no fence). */
export function complete(q: QueueState, ref: QueueRef, consumer: string, items: Completion[]): boolean[] {
  return items.map((c) => {
    const { entry, token } = c.delivery;
    const level = levelName(ref, c.delivery.level);
    if (entry !== '') {
      if (!q.holds(level, entry, consumer, token)) return false;
      q.stream(level).remove(entry);
    }
    if (c.hasRecord) {
      q.permitFreed(c.id);
      q.records.delete(c.id);
    }
    if (entry === '') q.taken.delete(c.id);
    // An abort asked for may have raced the outcome: the request ends with the job either way.
    q.aborting.delete(c.id);
    q.storeResult(c.id, c.record, c.ttl);
    return true;
  });
}

/** Takes a held entry off its stream (XACK + XDEL), answering its fields. */
function takeOff(stream: Stream, entry: string): Entry | undefined {
  const f = stream.entries.get(entry);
  stream.remove(entry);
  return f;
}

/** retry.lua: the failed attempt's entry is replaced by the next attempt, now or delayed. */
export function retry(q: QueueState, ref: QueueRef, consumer: string, lease: HeldLease, attempt: number, delayMs: number, error: string, ifAborted: { record: Bytes; ttl: number }): RetryOutcome {
  const { entry, token } = lease.delivery;
  const level = levelName(ref, lease.delivery.level);
  if (!q.holds(level, entry, consumer, token)) return 'refused';
  const f = takeOff(q.stream(level), entry);
  const id = lease.id;
  if (!f?.h) {
    q.deadTrace(entry, level, consumer, id);
    q.records.delete(id);
    return 'refused';
  }
  if (q.aborting.delete(id)) {
    q.records.delete(id);
    q.storeResult(id, ifAborted.record, ifAborted.ttl);
    return 'aborted';
  }
  const h = headerWith(f.h, id, String(attempt));
  const delay = Math.max(0, Math.round(delayMs));
  if (delay <= 0) {
    const next = q.append(level, { h, d: f.d ?? '' });
    const rec = q.setRecord(id, { st: 'queued', level, e: next, err: error });
    delete rec.h;
    delete rec.d;
  } else {
    q.permitFreed(id);
    q.setRecord(id, { st: 'delayed', level, h, d: f.d ?? '', err: error });
    q.delay(id, q.clock.now() + delay);
  }
  return 'scheduled';
}

/** dead.lua: to the DLQ (or only the failure recorded, without use_dlq), if still held. */
export function deadLetter(q: QueueState, ref: QueueRef, consumer: string, item: DeadLetter): boolean {
  const { entry, token } = item.delivery;
  const level = levelName(ref, item.delivery.level);
  const id = item.id;
  let h: Bytes = item.delivery.header ?? '';
  let d: Bytes = item.delivery.data ?? '';
  if (entry !== '') {
    if (!q.holds(level, entry, consumer, token)) return false;
    const f = takeOff(q.stream(level), entry);
    if (f) {
      h = f.h ?? '';
      d = f.d ?? '';
    }
  } else {
    q.taken.delete(id);
  }
  q.permitFreed(id);
  q.records.delete(id);
  q.aborting.delete(id);
  if (item.useDlq) {
    // The header counts attempts spent; the failed one is spent too (replay goes on from it).
    q.addDlq({
      h: headerWith(h, id, item.attempts > 0 ? String(item.attempts) : undefined), d, level,
      reason: item.reason, error: item.error, stack: item.stack, attempts: item.attempts, worker: item.worker,
    });
  }
  q.storeResult(id, item.record, item.ttl);
  return true;
}

/** take.lua: at-most-once, off the stream before it runs; true again for this consumer's own take. */
export function take(q: QueueState, ref: QueueRef, consumer: string, lease: HeldLease): boolean {
  const { entry, token } = lease.delivery;
  const level = levelName(ref, lease.delivery.level);
  const id = lease.id;
  if (!q.holds(level, entry, consumer, token)) {
    const rec = q.records.get(id);
    return rec?.st === 'running' && rec.w === consumer && rec.e === entry;
  }
  const f = takeOff(q.stream(level), entry);
  q.setRecord(id, { st: 'running', level, w: consumer, e: entry, h: f?.h ?? '', d: f?.d ?? '' });
  q.taken.set(id, { worker: consumer, at: q.clock.now() });
  return true;
}

/**
 * hand_back (jobs.lua): a held entry goes back to its stream as a new entry at the end, no
 * attempt spent, its deaths carried in field r; one whose abort was asked for ends aborted.
 * Returns 1 when handed back (or ended), 0 when not held with this token.
 */
export function handBack(q: QueueState, level: string, entry: string, consumer: string, token: string, id: string, ttl: number): number {
  const p = q.holds(level, entry, consumer, token);
  if (!p) return 0;
  const stream = q.stream(level);
  const f = stream.entries.get(entry);
  const r = (f?.r ?? 0) + p.count - (token === '' ? 0 : 1);
  stream.remove(entry);
  if (!f?.h) {
    q.deadTrace(entry, level, consumer, id !== '' ? id : undefined);
    if (id !== '') q.records.delete(id);
    return 1;
  }
  const jobId = id || jobIdOf(f.h, entry);
  if (q.aborting.delete(jobId)) {
    q.records.delete(jobId);
    q.storeResult(jobId, abortedRecord('aborted while it was handed back', q.clock.now(), f.h, f.d, level), ttl);
    return 1;
  }
  const next = q.append(level, r > 0 ? { h: headerWith(f.h, jobId), d: f.d ?? '', r } : { h: headerWith(f.h, jobId), d: f.d ?? '' });
  q.setRecord(jobId, { st: 'queued', level, e: next });
  return 1;
}

/** requeue.lua */
export function requeue(q: QueueState, ref: QueueRef, consumer: string, leases: HeldLease[], ttl: number): number {
  let n = 0;
  for (const l of leases) n += handBack(q, levelName(ref, l.delivery.level), l.delivery.entry, consumer, l.delivery.token, l.id, ttl);
  return n;
}

/** touch.lua: renews held leases (idle time reset, delivery count kept); reports lost ones and aborts asked for. */
export function touch(q: QueueState, ref: QueueRef, consumer: string, leases: HeldLease[]): { lost: string[]; abort: string[] } {
  const lost: string[] = [];
  const abort: string[] = [];
  const now = q.clock.now();
  for (const l of leases) {
    const p = q.holds(levelName(ref, l.delivery.level), l.delivery.entry, consumer, l.delivery.token);
    if (p) {
      // XCLAIM ... JUSTID of a held entry: the consumer is seen.
      q.seen(consumer);
      p.at = now;
      if (q.aborting.has(l.id)) abort.push(l.id);
    } else {
      const rec = q.records.get(l.id);
      if (!(rec?.st === 'running' && rec.w === consumer && rec.e === l.delivery.entry)) lost.push(l.id);
    }
  }
  return { lost, abort };
}

/** promote.lua: due delayed jobs and retries to their streams (by the broker's clock). */
export function promote(q: QueueState, count: number): { moved: number; nextDueMs: number } {
  const now = q.clock.now();
  const due = q.delayed.first(count).filter((e) => e.at <= now);
  for (const { id } of due) {
    q.delayed.remove(id);
    const rec = q.records.get(id);
    if (rec?.h === undefined) {
      q.malformedDelayed(id, rec);
      continue;
    }
    // A record without its level goes to the highest one, as promote.lua reads a missing l as 1.
    const level = rec.level ?? q.levels?.at(-1) ?? '';
    // A job of a group goes back to the end of its group's list.
    if (rec.g !== undefined) {
      addToGroup(q, id, rec.g, { level, h: rec.h, d: rec.d ?? '' });
      continue;
    }
    const entry = q.append(level, { h: rec.h, d: rec.d ?? '' });
    Object.assign(rec, { st: 'queued', e: entry, level });
    delete rec.h;
    delete rec.d;
  }
  const [next] = q.delayed.first(1);
  return { moved: due.length, nextDueMs: next ? Math.max(0, next.at - now) : -1 };
}

/** abort.lua: a waiting or delayed job is removed and recorded aborted; a held one is flagged and its worker told. */
export function abort(q: QueueState, id: string, record: Bytes, ttl: number): AbortOutcome {
  const rec = q.records.get(id);
  if (rec?.st === 'delayed') {
    q.delayed.remove(id);
    q.records.delete(id);
    q.storeResult(id, withJob(record, rec.h, rec.d, rec.level), ttl);
    return 'aborted';
  }
  if (rec?.st === 'running') return flagAbort(q, id);
  if (rec?.st === 'grouped') {
    abortGrouped(q, id, rec, record, ttl);
    return 'aborted';
  }
  let found: { level: string; stream: Stream } | undefined;
  let entry: string;
  if (rec?.st === 'queued' && rec.e !== undefined) {
    entry = rec.e;
    found = { level: rec.level ?? '', stream: q.stream(rec.level ?? '') };
  } else {
    if (q.results.has(id)) return 'finished';
    if (!AUTO_ID.test(id)) return 'not_found';
    entry = id;
    found = q.findEntry(id);
    if (!found) return 'not_found';
  }
  if (found.stream.pending.has(entry)) return flagAbort(q, id);
  const f = takeOff(found.stream, entry);
  q.records.delete(id);
  q.storeResult(id, withJob(record, f?.h, f?.d, found.level), ttl);
  return 'aborted';
}

function flagAbort(q: QueueState, id: string): AbortOutcome {
  q.aborting.add(id);
  q.publishAbort(id);
  return 'aborting';
}

/** unschedule.lua */
export function unschedule(q: QueueState, id: string): boolean {
  if (!q.delayed.remove(id)) return false;
  q.records.delete(id);
  return true;
}

/** locate.lua: where a job is now (read only). */
export function locate(q: QueueState, ref: QueueRef, id: string): Location {
  const rec = q.records.get(id);
  const result = q.results.get(id) ?? null;
  const record: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec ?? {})) {
    if (v !== undefined) record[k === 'level' ? 'l' : k] = k === 'level' ? String(ref.levels.length - levelIndex(ref, v as string)) : String(v);
  }
  const base: Location = {
    state: 'unknown', level: 0, entry: '', owner: '', deliveries: 0, idleMs: 0, record, result, dueAt: null,
    abortRequested: q.aborting.has(id), header: rec?.h, data: rec?.d,
  };
  if (rec?.st === 'delayed') return { ...base, state: 'delayed', level: levelIndex(ref, rec.level), dueAt: q.delayed.dueAt(id) ?? null };
  if (rec?.st === 'running') return { ...base, state: 'active', level: levelIndex(ref, rec.level), deliveries: 1 };
  // Waiting in its group: no entry yet.
  if (rec?.st === 'grouped') return { ...base, state: 'waiting', level: levelIndex(ref, rec.level) };
  let level = rec?.level;
  let entry = rec?.e;
  if (entry === undefined) {
    if (result) return { ...base, state: 'ended' };
    const found = AUTO_ID.test(id) ? q.findEntry(id) : undefined;
    if (!found) return base;
    level = found.level;
    entry = id;
  }
  const stream = q.stream(level ?? '');
  const f = stream.entries.get(entry);
  const p = stream.pending.get(entry);
  const at = { level: levelIndex(ref, level), entry, header: f?.h ?? rec?.h, data: f?.d ?? rec?.d };
  if (p) return { ...base, ...at, state: 'active', owner: p.owner, deliveries: p.count, idleMs: q.clock.now() - p.at };
  if (f) return { ...base, ...at, state: 'waiting' };
  return { ...base, state: result ? 'ended' : 'unknown' };
}
