// A job's outcome record: "<status>|<meta JSON>\n<arguments><serialized value>". Lua writes
// some of these itself (poison and aborted jobs), so the frame is fixed while the value uses
// the serializer. So that a finished job still shows what it was (its arguments, priority and
// enqueue time, as job.info() promises while the result is kept), meta carries `p` (priority),
// `q` (enqueued at, when its id does not tell it) and `a`: the byte length of the job's
// serialized arguments, which come first in the body. Records without `a` have no arguments.

import { BadJobError } from './errors.js';

export type FinalStatus = 'completed' | 'failed' | 'aborted' | 'expired';

export interface ResultMeta {
  task?: string;
  attempts?: number;
  startedAt?: number;
  finishedAt?: number;
  worker?: string;
  /** For failures: the error's class name, message and stack, and why it ended. */
  name?: string;
  message?: string;
  stack?: string;
  reason?: string;
  /** Priority level name. */
  p?: string;
  /** Enqueued at, epoch ms (custom ids and delayed jobs; an auto id tells it). */
  q?: number;
  /** Byte length of the serialized arguments at the start of the body. */
  a?: number;
  /**
   * A workflow node's place, on a record written for a job that ended where no worker settled it
   * in its workflow: the script that writes it notes the node for a recoverer (lib.lua wf_notes).
   */
  w?: readonly [string, number, number];
}

/** What the record keeps of the job itself. */
export interface JobFacts {
  priority?: string;
  enqueuedAt?: number;
  args?: string | Buffer;
}

export interface ResultRecord {
  status: FinalStatus;
  meta: ResultMeta;
  value: string | Buffer;
  /** The job's serialized arguments, when the record kept them. */
  args: string | Buffer | undefined;
}

const STATUSES = new Set<string>(['completed', 'failed', 'aborted', 'expired']);

export function encodeResult(status: FinalStatus, meta: ResultMeta, value: string | Buffer = '', job?: JobFacts): string | Buffer {
  const m: ResultMeta = job ? { ...meta, ...factsMeta(job) } : meta;
  return frame(`${status}|${JSON.stringify(m)}\n`, job?.args, value);
}

/** encodeResult for a completed job, written out by hand: it runs once per job. */
export function encodeCompleted(taskJson: string, attempts: number, startedAt: number | undefined, finishedAt: number, workerJson: string, value: string | Buffer = '', job?: JobFacts): string | Buffer {
  const started = startedAt === undefined ? '' : `,"startedAt":${startedAt}`;
  let facts = '';
  if (job) {
    if (job.priority !== undefined) facts += `,"p":${JSON.stringify(job.priority)}`;
    if (job.enqueuedAt !== undefined) facts += `,"q":${job.enqueuedAt}`;
    if (job.args !== undefined) facts += `,"a":${byteLength(job.args)}`;
  }
  const head = `completed|{"task":${taskJson},"attempts":${attempts}${started},"finishedAt":${finishedAt},"worker":${workerJson}${facts}}\n`;
  return frame(head, job?.args, value);
}

function factsMeta(job: JobFacts): ResultMeta {
  const m: ResultMeta = {};
  if (job.priority !== undefined) m.p = job.priority;
  if (job.enqueuedAt !== undefined) m.q = job.enqueuedAt;
  if (job.args !== undefined) m.a = byteLength(job.args);
  return m;
}

function byteLength(v: string | Buffer): number {
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function frame(head: string, args: string | Buffer | undefined, value: string | Buffer): string | Buffer {
  if (typeof value === 'string' && (args === undefined || typeof args === 'string')) return head + (args ?? '') + value;
  const parts: Buffer[] = [Buffer.from(head)];
  if (args !== undefined) parts.push(typeof args === 'string' ? Buffer.from(args) : args);
  parts.push(typeof value === 'string' ? Buffer.from(value) : value);
  return Buffer.concat(parts);
}

export function decodeResult(raw: string | Buffer): ResultRecord {
  const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
  const nl = buf.indexOf(10);
  const head = buf.subarray(0, nl < 0 ? buf.length : nl).toString('utf8');
  const bar = head.indexOf('|');
  const status = head.slice(0, bar);
  if (bar < 0 || !STATUSES.has(status)) throw new BadJobError('malformed', 'result record is not "status|meta"');
  let meta: ResultMeta;
  try {
    meta = JSON.parse(head.slice(bar + 1)) as ResultMeta;
  } catch {
    throw new BadJobError('malformed', 'result record meta is not JSON');
  }
  const body = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
  const argsLength = typeof meta.a === 'number' && meta.a >= 0 && meta.a <= body.length ? meta.a : 0;
  const args = meta.a === undefined ? undefined : body.subarray(0, argsLength);
  const rest = body.subarray(argsLength);
  const text = typeof raw === 'string';
  return {
    status: status as FinalStatus,
    meta,
    value: text ? rest.toString('utf8') : rest,
    args: args === undefined ? undefined : text ? args.toString('utf8') : args,
  };
}
