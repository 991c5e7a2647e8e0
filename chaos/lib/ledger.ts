// The external record of what really ran: an append-only file per scenario, one line per
// event (`start|done|abort <jobKey> <attempt> <workerId> <epochMs> [extra]`), written by the
// tasks themselves, so it survives killed workers and restarted Redis. The checker compares
// it with the jobs a scenario enqueued.

import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realNow } from './util.js';

export type LedgerEvent = 'start' | 'done' | 'abort';

export interface LedgerLine {
  event: LedgerEvent;
  key: string;
  attempt: number;
  worker: string;
  at: number;
  extra: string | undefined;
}

/** A new, empty ledger file path in its own temp directory. */
export function newLedger(scenario: string): string {
  return join(mkdtempSync(join(tmpdir(), `millrace-chaos-${scenario}-`)), 'ledger.log');
}

/** Appends one line; appends of a few bytes are atomic, so processes share the file safely. */
export function record(path: string, event: LedgerEvent, key: string, attempt: number, worker: string, extra = ''): void {
  appendFileSync(path, `${event} ${key} ${attempt} ${worker} ${realNow()}${extra ? ` ${extra}` : ''}\n`);
}

export function readLedger(path: string): LedgerLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [event, key, attempt, worker, at, ...extra] = line.split(' ');
    return { event: event as LedgerEvent, key: key!, attempt: Number(attempt), worker: worker!, at: Number(at), extra: extra.length ? extra.join(' ') : undefined };
  });
}

export interface LedgerCheck {
  expected: number;
  started: number;
  done: number;
  /** Expected jobs with no `done`. */
  lost: string[];
  /** Jobs with more than one `done`. */
  duplicates: string[];
  /** Jobs in the ledger that were never expected (including tampered ones that ran). */
  unexpected: string[];
  /** Extra starts over all jobs (runs beyond the first). */
  reruns: number;
}

/** Lost, duplicate and unexpected jobs, by the ledger against the keys a scenario enqueued. */
export function checkLedger(lines: LedgerLine[], expected: Iterable<string>): LedgerCheck {
  const want = new Set(expected);
  const starts = new Map<string, number>();
  const dones = new Map<string, number>();
  const unexpected = new Set<string>();
  for (const l of lines) {
    if (!want.has(l.key)) unexpected.add(l.key);
    if (l.event === 'start') starts.set(l.key, (starts.get(l.key) ?? 0) + 1);
    if (l.event === 'done') dones.set(l.key, (dones.get(l.key) ?? 0) + 1);
  }
  let reruns = 0;
  for (const n of starts.values()) reruns += n - 1;
  return {
    expected: want.size,
    started: starts.size,
    done: dones.size,
    lost: [...want].filter((k) => !dones.has(k)),
    duplicates: [...dones].filter(([, n]) => n > 1).map(([k]) => k),
    unexpected: [...unexpected],
    reruns,
  };
}

/** Lines per key, in order. */
export function byKey(lines: LedgerLine[]): Map<string, LedgerLine[]> {
  const out = new Map<string, LedgerLine[]>();
  for (const l of lines) {
    let list = out.get(l.key);
    if (!list) out.set(l.key, (list = []));
    list.push(l);
  }
  return out;
}
