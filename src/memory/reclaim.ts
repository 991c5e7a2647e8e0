// Recovery on a memory broker, as reclaim.lua and dropworker.lua: claiming expired leases
// (poison jobs to the DLQ, suspects one at a time, the caller's own entries listed, orphans
// claimed), and forgetting a dead worker (hand-back, at-most-once jobs dead-lettered).

import type { Delivery, QueueRef, ReclaimOptions, ReclaimOutcome } from '../broker/types.js';
import { abortedRecord, failedRecord, headerWith, jobIdOf } from './records.js';
import type { Entry, Pending, QueueState } from './state.js';
import { deliveryOf, handBack, levelIndex } from './transitions.js';

interface Candidate {
  level: string;
  entry: string;
  f: Entry | undefined;
  p: Pending;
  pel: number;
  deliveries: number;
}

export function reclaim(q: QueueState, ref: QueueRef, consumer: string, opts: ReclaimOptions): ReclaimOutcome {
  const now = q.clock.now();
  const claimed: Delivery[] = [];
  const dead: string[] = [];
  const own: ReclaimOutcome['own'] = [];
  const orphans = new Set((opts.orphans ?? []).map((o) => `${o.level}:${o.entry}`));
  const since = opts.since ?? 0;
  const maxRec = opts.maxRecoveries;
  const suspectAt = opts.suspectAt ?? maxRec + 1;
  const suspectIdle = opts.suspectMinIdleMs ?? opts.minIdleMs;
  const ownIdle = Math.floor(opts.minIdleMs / 2);
  let budget = opts.count;
  let suspect: Candidate | undefined;

  /** XCLAIM with its min-idle check; one whose abort was asked for ends here. */
  const claim = (c: Candidate, lostHere: boolean, idleAtLeast: number): boolean => {
    const stream = q.stream(c.level);
    if (!c.f?.h) {
      // XACK + XDEL: an entry without a header leaves its stream too.
      stream.remove(c.entry);
      q.deadTrace(c.entry, c.level, consumer);
      return false;
    }
    if (now - c.p.at < idleAtLeast) return false;
    // XCLAIM makes the caller a consumer of the group when it claims something (and only then).
    q.seen(consumer);
    c.p.owner = consumer;
    c.p.at = now;
    // A delivery lost on its way to the caller is claimed without counting one (JUSTID).
    if (!lostHere) c.p.count++;
    const id = jobIdOf(c.f.h, c.entry);
    if (q.aborting.delete(id)) {
      stream.remove(c.entry);
      q.records.delete(id);
      q.storeResult(id, abortedRecord('aborted while its worker was gone', now, c.f.h, c.f.d, c.level), opts.ttl);
      return true;
    }
    claimed.push({ ...deliveryOf(ref, c.level, c.entry, c.f, String(lostHere ? c.pel : c.pel + 1)), deaths: c.deliveries });
    return true;
  };

  const poison = (c: Candidate): void => {
    q.stream(c.level).remove(c.entry);
    if (!c.f?.h) {
      q.deadTrace(c.entry, c.level, c.p.owner);
      return;
    }
    const id = jobIdOf(c.f.h, c.entry);
    const err = `worker died while running the job ${c.deliveries} times`;
    q.addDlq({
      h: headerWith(c.f.h, id), d: c.f.d ?? '', level: c.level, reason: 'poison', error: `PoisonJobError: ${err}`, stack: '',
      attempts: c.deliveries, worker: c.p.owner,
    });
    q.records.delete(id);
    q.aborting.delete(id);
    const meta = { name: 'PoisonJobError', message: err, attempts: c.deliveries, reason: 'poison', finishedAt: now };
    q.storeResult(id, failedRecord(meta, c.f.h, c.f.d, c.level), opts.ttl);
    dead.push(id);
  };

  for (let i = ref.levels.length - 1; i >= 0; i--) {
    const level = ref.levels[i]!;
    const stream = q.streams.get(level);
    if (!stream) continue;
    // XPENDING IDLE own_idle, in id order, as many as the script looks at.
    const limit = budget + 20 + 2 * orphans.size;
    const pending = [...stream.pending].filter(([, p]) => now - p.at >= ownIdle).slice(0, limit);
    for (const [entry, p] of pending) {
      const idle = now - p.at;
      const mine = p.owner === consumer;
      const orphan = mine && orphans.has(`${i}:${entry}`);
      if (mine && !orphan) {
        own.push({ level: i, entry, idleMs: idle });
        continue;
      }
      if (!orphan && idle < opts.minIdleMs) continue;
      const f = stream.entries.get(entry);
      // An orphan delivered since the caller's process started never reached it: no death.
      const lostHere = orphan && now - idle >= since;
      const deliveries = p.count + (f?.r ?? 0) - (lostHere ? 1 : 0);
      const c: Candidate = { level, entry, f, p, pel: p.count, deliveries };
      if (deliveries > maxRec) poison(c);
      else if (orphan) claim(c, lostHere, ownIdle);
      else if (deliveries < suspectAt) {
        if (budget > 0 && claim(c, false, opts.minIdleMs)) budget--;
      } else if (!suspect && idle >= suspectIdle) suspect = c;
    }
  }
  if (suspect && claimed.length === 0) claim(suspect, false, opts.minIdleMs);
  return q.wfNotes.size > 0 ? { claimed, dead, own, notes: q.wfNotes.size } : { claimed, dead, own };
}

/**
 * dropworker.lua: forgets a dead worker on one queue, unless it shows a sign of life (its health
 * record, or its consumer active within staleMs): its pending entries are handed back, its
 * at-most-once jobs dead-lettered with reason 'interrupted', its consumer deleted.
 */
export function dropWorker(q: QueueState, ref: QueueRef, consumer: string, staleMs: number): { state: 'alive' | 'done'; jobs: number; interrupted: string[] } {
  const now = q.clock.now();
  const seen = q.consumers.get(consumer);
  if (q.health.has(consumer) || (seen !== undefined && now - seen < staleMs)) return { state: 'alive', jobs: 0, interrupted: [] };
  const ttl = ref.resultTtl ?? 3600;
  let jobs = 0;
  for (const [level, stream] of q.streams) {
    for (const [entry, p] of [...stream.pending]) if (p.owner === consumer) jobs += handBack(q, level, entry, consumer, '', '', ttl);
  }
  q.consumers.delete(consumer);
  const interrupted: string[] = [];
  const message = 'its worker died while it ran; at-most-once jobs are not run again';
  for (const [id, t] of [...q.taken]) {
    if (t.worker !== consumer) continue;
    const rec = q.records.get(id);
    q.taken.delete(id);
    q.records.delete(id);
    const level = rec?.level ?? ref.levels[levelIndex(ref, undefined)] ?? '';
    if (rec?.h !== undefined) {
      q.addDlq({
        h: headerWith(rec.h, id), d: rec.d ?? '', level, reason: 'interrupted', error: `WorkerLostError: ${message}`, stack: '',
        attempts: 0, worker: consumer,
      });
    }
    q.aborting.delete(id);
    const meta = { name: 'WorkerLostError', message, reason: 'interrupted', worker: consumer, finishedAt: now };
    q.storeResult(id, failedRecord(meta, rec?.h, rec?.d, level), ttl);
    interrupted.push(id);
  }
  return { state: 'done', jobs, interrupted };
}
