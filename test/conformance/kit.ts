// What the contract tests share: a describe block per topology with a fresh Subject per test,
// a queue, and builders of the values the Broker interface takes (items, leases, outcomes).

import { afterEach, beforeEach, describe } from 'vitest';
import type { Completion, DeadLetter, Delivery, EnqueueItem, HeldLease, QueueRef, ReclaimOptions, WorkerEntry } from '../../src/broker/types.js';
import { encodeHeader } from '../../src/envelope.js';
import { decodeResult, encodeResult, type FinalStatus, type ResultMeta } from '../../src/results.js';
import { topologies, type OpenOptions, type Subject } from './topologies.js';

/** Runs `body` once per topology, in a describe named after it; `s()` is the test's own Subject. */
export function conformance(title: string, body: (s: () => Subject) => void, options?: OpenOptions): void {
  for (const topology of topologies()) {
    describe(`${topology.name}: ${title}`, () => {
      let subject: Subject | undefined;
      beforeEach(async () => {
        subject = await topology.open(options);
      });
      afterEach(async () => {
        await subject?.close();
        subject = undefined;
      });
      body(() => subject!);
    });
  }
}

export const LOW = 0;
export const NORMAL = 1;
export const HIGH = 2;
export const CRITICAL = 3;

export const Q: QueueRef = { name: 'q', levels: ['low', 'normal', 'high', 'critical'], resultTtl: 3600 };

/** An item to enqueue: task 't', level normal, its data a JSON array; with a group, in it (and its header's options say so, as the client writes them). */
export function item(opts: { id?: string; task?: string; level?: number; data?: string; due?: EnqueueItem['due']; group?: string } = {}): EnqueueItem {
  const id = opts.id ?? '';
  const task = opts.task ?? 't';
  const data = opts.data ?? '[]';
  const wire = opts.group === undefined ? undefined : { g: opts.group };
  const it: EnqueueItem = { level: opts.level ?? NORMAL, id, task, header: encodeHeader(id, task, wire, data), data };
  if (opts.due) it.due = opts.due;
  if (opts.group !== undefined) it.group = opts.group;
  return it;
}

/** The header's id part ('' for an auto id). */
export function headerId(d: Delivery): string {
  const h = String(d.header);
  return h.slice(0, h.indexOf('|'));
}

/** The header's attempt part. */
export function headerAttempt(header: unknown): string {
  return String(header).split('|')[2]!;
}

export function lease(delivery: Delivery, id?: string): HeldLease {
  return { delivery, id: id ?? (headerId(delivery) || delivery.entry) };
}

export function record(status: FinalStatus = 'completed', value = '"v"', meta: ResultMeta = {}): string {
  return encodeResult(status, { task: 't', attempts: 1, ...meta }, value) as string;
}

export function completion(delivery: Delivery, id: string, opts: Partial<Omit<Completion, 'delivery' | 'id'>> = {}): Completion {
  return { delivery, id, record: record(), ttl: 3600, hasRecord: true, abortRequested: false, ...opts };
}

export function deadLetter(delivery: Delivery, id: string, opts: Partial<Omit<DeadLetter, 'delivery' | 'id'>> = {}): DeadLetter {
  return {
    delivery, id, reason: 'max-tries', error: 'Error: boom', stack: 'Error: boom\n    at here', attempts: 3, worker: 'w1',
    record: record('failed', '', { name: 'Error', message: 'boom' }), ttl: 3600, useDlq: true, ...opts,
  };
}

export const ABORTED = { record: record('aborted', '', { name: 'JobAbortedError', reason: 'aborted' }), ttl: 3600 };

/** Reclaim options: claims what is idle 20 ms or more, up to 10, 3 recoveries allowed. */
export function reclaimOpts(opts: Partial<ReclaimOptions> = {}): ReclaimOptions {
  return { minIdleMs: 20, count: 10, maxRecoveries: 3, ttl: 3600, ...opts };
}

/** Large enough that nothing a test did is idle that long: the "not yet" threshold. */
export const NOT_YET = 60_000;

/** A result record's status and meta (the value as text). */
export function decoded(raw: string | Buffer | null | undefined) {
  if (raw === null || raw === undefined) return undefined;
  const r = decodeResult(raw);
  return { status: r.status, meta: r.meta, value: String(r.value), args: r.args === undefined ? undefined : String(r.args) };
}

/** Resolves once `check` holds, looking again every 10 ms; no deadline of its own (the test's timeout is). */
export async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}

/** Whether the promise settled (resolved or rejected), and how. */
export function settled<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

/** A worker's registry entry, heartbeat at `at`. */
export function workerEntry(id: string, at: number, concurrency = 1): WorkerEntry {
  return {
    id, hostname: 'h', pid: 1, queues: ['q'], concurrency, startedAt: at, heartbeatAt: at, uptimeMs: 0, version: '0.1.0',
    running: 0, held: 0, processed: 0, completed: 0, failed: 0, retried: 0, aborted: 0, deadLettered: 0,
  };
}
