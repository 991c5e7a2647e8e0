// The one live feed of a dashboard process: a snapshot of every queue and worker, computed at
// most once per interval and only while a stream is open, and the lifecycle events followed on
// one connection; both fanned out, serialized once, to every open stream.

import type { Logger } from 'pino';
import type { StoredEvent } from '../broker/types.js';
import type { OverseerData } from './data.js';
import { parseStorageName } from '../shards/index.js';
import { cursorMs, Throughput, HISTORY_SECONDS } from './throughput.js';
import type { Snapshot } from './types.js';

export type { Snapshot } from './types.js';

/** One message for every stream: its SSE event name, its data serialized once, its SSE id. */
export interface LiveMessage {
  event: 'snapshot' | 'job' | 'problem';
  data: string;
  id: string;
  /** For job events: where it sits in its queue's stream (streams drop what they already sent). */
  queue?: string;
  cursor?: string;
}

export type Listener = (message: LiveMessage) => void;

/** What a stream gives the feed: where its messages go, and how it is ended when the feed closes. */
interface Member {
  send: Listener;
  end: () => void;
}

/** How many recent events a new stream is sent first. */
const RECENT = 100;

/** Event cursors per queue as an SSE id: `queue=cursor&...` (URL-encoded). */
export function encodeCursors(cursors: Record<string, string>): string {
  return new URLSearchParams(cursors).toString();
}

/** An event cursor: a stream entry id, and the event's index in that entry's batch. */
const CURSOR = /^\d{1,15}-\d{1,15}(:\d{1,9})?$/;

/** The cursors of a Last-Event-ID; anything malformed is ignored (the stream starts fresh). */
export function decodeCursors(id: string | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!id || id.length > 20_000) return out;
  for (const [queue, cursor] of new URLSearchParams(id)) if (queue !== '' && CURSOR.test(cursor)) out[queue] = cursor;
  return out;
}

function cursorParts(c: string): [number, number, number] {
  const [entry = '', index] = c.split(':');
  const [ms, seq] = entry.split('-');
  // An entry id alone stands after every event of its batch.
  return [Number(ms), Number(seq ?? 0), index === undefined ? Infinity : Number(index)];
}

/** Event cursor order: -1, 0, 1. */
export function compareCursors(a: string, b: string): number {
  const x = cursorParts(a);
  const y = cursorParts(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

export class LiveHub {
  private readonly listeners = new Set<Member>();
  private readonly throughput = new Throughput();
  private readonly recent: StoredEvent[] = [];
  /** The newest event cursor followed per queue. */
  private readonly cursors: Record<string, string> = {};
  private latest: LiveMessage | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private follower: { queues: string; stop: AbortController; done: Promise<void> } | undefined;
  /** Events older than this were read to fill the history, not news: not fanned out. */
  private newsSince = 0;
  private closed = false;
  /** Snapshots computed (what the Redis work of the live view is counted in). */
  computed = 0;

  constructor(
    private readonly data: OverseerData,
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Whether snapshots are being computed (a stream is open, or the last one just left). */
  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Open streams. */
  get size(): number {
    return this.listeners.size;
  }

  /** Adds a stream; it gets the latest snapshot, the recent events, and every message after. */
  join(send: Listener, end: () => void): { leave: () => void; latest: LiveMessage | undefined; recent: StoredEvent[]; cursors: Record<string, string> } {
    const member = { send, end };
    if (this.closed) end();
    else this.listeners.add(member);
    if (!this.loop && !this.closed) this.loop = this.run();
    return {
      leave: () => {
        this.listeners.delete(member);
        if (this.listeners.size === 0) this.wake?.();
      },
      latest: this.latest,
      recent: this.recent.slice(-RECENT),
      cursors: { ...this.cursors },
    };
  }

  /** Message of a job event with the id of every cursor followed so far. */
  eventMessage(e: StoredEvent, id = encodeCursors(this.cursors)): LiveMessage {
    return { event: 'job', data: JSON.stringify(e), id, queue: e.queue, cursor: e.cursor };
  }

  /** Ends every open stream and stops the feed; streams that come later are ended at once. */
  async close(): Promise<void> {
    this.closed = true;
    const members = [...this.listeners];
    this.listeners.clear();
    for (const m of members) m.end();
    this.wake?.();
    await this.loop;
  }

  /** Snapshots at most once per interval while anyone listens; then the follower stops too. */
  private async run(): Promise<void> {
    try {
      while (this.listeners.size > 0 && !this.closed) {
        const started = Date.now();
        await this.tick();
        const wait = started + this.intervalMs - Date.now();
        if (wait > 0 && this.listeners.size > 0 && !this.closed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
        }
      }
    } finally {
      const follower = this.follower;
      this.follower = undefined;
      follower?.stop.abort();
      await follower?.done;
      this.loop = undefined;
      // A stream that joined while the loop was ending starts a new one.
      if (this.listeners.size > 0 && !this.closed) this.loop = this.run();
    }
  }

  private async tick(): Promise<void> {
    let message: LiveMessage;
    try {
      const [names, entries] = await Promise.all([this.data.queueNames(), this.data.app.workers()]);
      this.ensureFollower(names);
      const queues = await this.data.queues(names, entries);
      const now = Date.now();
      this.throughput.prune(now);
      this.computed++;
      const snapshot: Snapshot = {
        at: now,
        seq: this.computed,
        queues: queues.map((q) => {
          const minute = this.throughput.lastMinute(q.name, now);
          return { ...q, completedPerMin: minute.completed, failedPerMin: minute.failed, pickupP50Ms: this.throughput.pickupP50(q.name) };
        }),
        workers: this.data.workerViews(entries, now),
        throughput: this.throughput.series(now),
      };
      message = { event: 'snapshot', data: JSON.stringify(snapshot), id: encodeCursors(this.cursors) };
      this.latest = message;
    } catch (err) {
      this.log.warn({ err }, 'overseer: the live snapshot could not be read');
      message = { event: 'problem', data: JSON.stringify({ message: `cannot read the queues: ${(err as Error).message}` }), id: encodeCursors(this.cursors) };
    }
    this.fanOut(message);
  }

  /** Follows the event streams of these queues (restarted from its cursors when the set changes). */
  private ensureFollower(names: string[]): void {
    const key = names.join('\n');
    if (this.follower?.queues === key || names.length === 0) return;
    this.follower?.stop.abort();
    const stop = new AbortController();
    // The first minutes are read to fill the throughput history; a queue followed before goes on
    // from its cursor (not from further back than the history).
    const historyStart = `${Date.now() - HISTORY_SECONDS * 1000}-0`;
    if (!this.follower) this.newsSince = Date.now() - 2000;
    const after = Object.fromEntries(names.map((q) => {
      const c = this.cursors[q];
      return [q, c && compareCursors(c, historyStart) > 0 ? c : historyStart];
    }));
    const previous = this.follower?.done ?? Promise.resolve();
    const done = previous.then(() => this.follow(names, after, stop.signal));
    this.follower = { queues: key, stop, done };
  }

  private async follow(queues: string[], after: Record<string, string>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const e of this.data.follow(queues, { ...after, ...this.pick(queues) }, signal)) this.onEvent(e);
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ err }, 'overseer: following the event streams failed; trying again in a second');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private pick(queues: string[]): Record<string, string> {
    // Cursors are per stream: a sharded queue's are its shards' ('hot#2/4').
    return Object.fromEntries(Object.entries(this.cursors).filter(([stream]) => queues.includes(parseStorageName(stream).name)));
  }

  private onEvent(e: StoredEvent): void {
    const known = this.cursors[e.queue];
    if (known && compareCursors(e.cursor, known) <= 0) return;
    this.cursors[e.queue] = e.cursor;
    this.throughput.add({ ...e, queue: parseStorageName(e.queue).name });
    this.recent.push(e);
    if (this.recent.length > RECENT * 2) this.recent.splice(0, this.recent.length - RECENT);
    if (cursorMs(e.cursor) >= this.newsSince) this.fanOut(this.eventMessage(e));
  }

  private fanOut(message: LiveMessage): void {
    for (const member of this.listeners) {
      try {
        member.send(message);
      } catch (err) {
        this.log.warn({ err }, 'overseer: a stream failed to take a message; it is dropped');
        this.listeners.delete(member);
      }
    }
  }
}
