// The job envelope: a stream entry's fields `h` (header) and `d` (serialized arguments).
//
// The header is "id|task|attempt|sig|opts": id is empty for a plain job (its id is its
// entry id), attempt counts attempts already spent ('' for none), sig is an optional
// HMAC-SHA256 over task, opts and data, and opts is a compact JSON of per-job overrides.
// Lua scripts rewrite only id and attempt, so the signature does not cover them.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { BadJobError } from './errors.js';

/** Per-job overrides carried in the header (short keys keep waiting jobs small). */
export interface WireOptions {
  /** timeout, ms */
  t?: number;
  /** max tries */
  m?: number;
  /** expires at, epoch ms */
  x?: number;
  /** enqueued at, epoch ms (only when the entry id does not tell it) */
  q?: number;
  /** trace context of the enqueuer (W3C traceparent...), when OpenTelemetry is in use */
  c?: Record<string, string>;
  /** the job's place in a workflow: [workflow id, stage, node] (src/workflow) */
  w?: readonly [string, number, number];
  /** its group (fair groups: docs/flow-control.md#fair-groups) */
  g?: string;
}

export interface Header {
  id: string;
  task: string;
  attempt: number;
  sig: string;
  opts: WireOptions;
  optsRaw: string;
}

/** A new job's header "id|task|attempt|sig|opts" (id '' for an auto id: its entry id). */
export function encodeHeader(id: string, task: string, opts: WireOptions | undefined, data: string | Buffer, secret?: string): string {
  let optsRaw = '';
  if (opts) for (const _ in opts) {
    optsRaw = JSON.stringify(opts);
    break;
  }
  const sig = secret ? sign(secret, task, optsRaw, data) : '';
  return `${id}|${task}||${sig}|${optsRaw}`;
}

/**
 * The id and task a dead-lettered header names: a malformed one is kept as it was found, and
 * its id still leads it (the task is then '').
 */
export function headerIdAndTask(header: string): { id: string; task: string } {
  try {
    const { id, task } = decodeHeader(header);
    return { id, task };
  } catch {
    const bar = header.indexOf('|');
    return { id: bar < 0 ? '' : header.slice(0, bar), task: '' };
  }
}

export function decodeHeader(raw: string | Buffer | undefined): Header {
  if (raw === undefined) throw new BadJobError('malformed', 'the entry has no header field');
  const h = typeof raw === 'string' ? raw : raw.toString('utf8');
  const a = h.indexOf('|');
  const b = a < 0 ? -1 : h.indexOf('|', a + 1);
  const c = b < 0 ? -1 : h.indexOf('|', b + 1);
  const d = c < 0 ? -1 : h.indexOf('|', c + 1);
  if (d < 0) throw new BadJobError('malformed', `header ${JSON.stringify(h.slice(0, 60))} is not "id|task|attempt|sig|opts"`);
  const attemptRaw = h.slice(b + 1, c);
  const attempt = attemptRaw === '' ? 0 : Number(attemptRaw);
  if (!Number.isInteger(attempt) || attempt < 0) throw new BadJobError('malformed', `attempt ${JSON.stringify(attemptRaw)} is not a count`);
  const optsRaw = h.slice(d + 1);
  let opts: WireOptions = {};
  if (optsRaw !== '') {
    try {
      opts = JSON.parse(optsRaw) as WireOptions;
    } catch {
      throw new BadJobError('malformed', 'job options are not valid JSON');
    }
    if (typeof opts !== 'object' || opts === null) throw new BadJobError('malformed', 'job options are not an object');
    if (opts.w !== undefined && !isPlace(opts.w)) throw new BadJobError('malformed', 'its workflow place (w) is not [workflow id, stage, node]');
    if (opts.g !== undefined && (typeof opts.g !== 'string' || opts.g === '')) throw new BadJobError('malformed', 'its group (g) is not a non-empty string');
  }
  return { id: h.slice(0, a), task: h.slice(a + 1, b), attempt, sig: h.slice(c + 1, d), opts, optsRaw };
}

function isPlace(w: unknown): boolean {
  return Array.isArray(w) && w.length === 3 && typeof w[0] === 'string' && w[0] !== '' && Number.isInteger(w[1]) && w[1] >= 0 && Number.isInteger(w[2]) && w[2] >= 0;
}

export function sign(secret: string, task: string, optsRaw: string, data: string | Buffer): string {
  return createHmac('sha256', secret).update(`${task}|${optsRaw}|`).update(data).digest('base64url');
}

/** Throws unless the header's signature matches; runs before anything is decoded. */
export function verify(secret: string, header: Header, data: string | Buffer): void {
  if (header.sig === '') throw new BadJobError('bad-signature', 'the job is not signed but a signing secret is set');
  const expected = Buffer.from(sign(secret, header.task, header.optsRaw, data));
  const got = Buffer.from(header.sig);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new BadJobError('bad-signature', 'the signature does not match the job (tampered, or signed with another secret)');
  }
}

/** Epoch ms encoded in an entry id ("ms-seq"). */
export function entryTime(entry: string): number {
  return Number(entry.slice(0, entry.indexOf('-')));
}

export const AUTO_ID = /^\d+-\d+$/;
