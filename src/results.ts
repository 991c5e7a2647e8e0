// A job's outcome record: "<status>|<meta JSON>\n<serialized value>". Lua writes some of
// these itself (poison jobs), so the frame is fixed while the value uses the serializer.

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
}

export interface ResultRecord {
  status: FinalStatus;
  meta: ResultMeta;
  value: string | Buffer;
}

const STATUSES = new Set<string>(['completed', 'failed', 'aborted', 'expired']);

export function encodeResult(status: FinalStatus, meta: ResultMeta, value: string | Buffer = ''): string | Buffer {
  const head = `${status}|${JSON.stringify(meta)}\n`;
  return typeof value === 'string' ? head + value : Buffer.concat([Buffer.from(head), value]);
}

/** encodeResult for a completed job, written out by hand: it runs once per job. */
export function encodeCompleted(taskJson: string, attempts: number, startedAt: number | undefined, finishedAt: number, workerJson: string, value: string | Buffer = ''): string | Buffer {
  const started = startedAt === undefined ? '' : `,"startedAt":${startedAt}`;
  const head = `completed|{"task":${taskJson},"attempts":${attempts}${started},"finishedAt":${finishedAt},"worker":${workerJson}}\n`;
  return typeof value === 'string' ? head + value : Buffer.concat([Buffer.from(head), value]);
}

export function decodeResult(raw: string | Buffer): ResultRecord {
  const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
  const nl = buf.indexOf(10);
  const head = buf.subarray(0, nl < 0 ? buf.length : nl).toString('utf8');
  const bar = head.indexOf('|');
  const status = head.slice(0, bar);
  if (bar < 0 || !STATUSES.has(status)) throw new BadJobError('malformed', 'result record is not "status|meta"');
  const rest = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
  return {
    status: status as FinalStatus,
    meta: JSON.parse(head.slice(bar + 1)) as ResultMeta,
    value: typeof raw === 'string' ? rest.toString('utf8') : rest,
  };
}
