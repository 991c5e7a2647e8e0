// What the broker noted of jobs that ended where no worker settled them in a workflow
// (Broker.nodeNotes): a node's job ended by a script (its record's first line, carrying its
// place `w`), or a job a workflow watches (after()) that ended ('@' + its id: the places
// waiting, a newline, its whole record). Both become settles of those places: a completed
// job's value, or its failure with a reason.

import type { NodeNote } from '../broker/types.js';
import { decodeResult, type ResultMeta, type ResultRecord } from '../results.js';

export type Place = readonly [string, number, number];

export interface Settle {
  place: Place;
  outcome: 'ok' | 'fail';
  value: string | Buffer;
  reason: string;
}

/** The settles a note asks for (none for a note that says nothing settleable); throws on a note that cannot be read. */
export function settlesOf(note: NodeNote): Settle[] {
  if (note.id.startsWith('@')) {
    const raw = note.meta;
    const nl = typeof raw === 'string' ? raw.indexOf('\n') : raw.indexOf(10);
    const places = JSON.parse(typeof raw === 'string' ? raw.slice(0, nl) : raw.subarray(0, nl).toString('utf8')) as Place[];
    const record = typeof raw === 'string' ? raw.slice(nl + 1) : raw.subarray(nl + 1);
    return places.map((place) => fromRecord(place, note.id.slice(1), decodeResult(record)));
  }
  const text = String(note.meta);
  const bar = text.indexOf('|');
  const meta = JSON.parse(text.slice(bar + 1)) as ResultMeta;
  if (!Array.isArray(meta.w)) return [];
  return [{ place: meta.w, outcome: 'fail', ...nodeFailure(note.id, text.slice(0, bar), meta) }];
}

/** What an ended job's record settles a place with: its value, or its failure. */
export function fromRecord(place: Place, id: string, rec: ResultRecord): Settle {
  if (rec.status === 'completed') return { place, outcome: 'ok', value: rec.value, reason: '' };
  return { place, outcome: 'fail', ...nodeFailure(id, rec.status, rec.meta) };
}

/**
 * A node's failure as its workflow keeps it: the error JSON (what 'continue' passes on) and the
 * reason ("node order-17:0:1 dead-lettered (max-tries): Error: disk full").
 */
export function nodeFailure(id: string, status: string, m: Pick<ResultMeta, 'name' | 'message' | 'reason'>): { value: string; reason: string } {
  const dead = status === 'failed' && m.reason !== 'ignored';
  const what = dead ? `dead-lettered (${m.reason ?? 'failed'})` : status;
  const value = JSON.stringify({ name: m.name ?? status, message: m.message ?? '', reason: m.reason ?? status });
  return { value, reason: `node ${id} ${what}: ${m.name ?? 'Error'}: ${m.message ?? ''}` };
}
