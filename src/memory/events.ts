// A queue's capped event stream in memory, and the reader over many of them. Each entry holds a
// batch of events packed as the Redis broker packs them (src/events.ts); an event's cursor is
// "<entry id>:<index>", and a bare entry id means "after that whole entry", as in
// src/redis/events.ts. A blocking read waits on a promise that the next append resolves.

import type { EventReader, StoredEvent } from '../broker/types.js';
import { packEvents, unpackEvents, type MillraceEvent } from '../events.js';
import type { Clock } from './clock.js';
import { compareIds, IdCounter } from './records.js';
import type { MemoryState } from './state.js';

interface EventEntry {
  id: string;
  worker: string | undefined;
  packed: string;
}

export class EventLog {
  private entries: EventEntry[] = [];
  private readonly ids = new IdCounter();
  /** Blocked readers to wake on the next append. */
  readonly readers = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /** Appends one batch, keeping at most `cap` entries (XADD MAXLEN). */
  append(events: readonly MillraceEvent[], worker: string | undefined, cap: number): void {
    this.entries.push({ id: this.ids.next(this.clock.now()), worker, packed: packEvents(events, worker ?? '') });
    if (this.entries.length > cap) this.entries = this.entries.slice(this.entries.length - cap);
    for (const wake of [...this.readers]) wake();
  }

  get latest(): string {
    return this.entries.at(-1)?.id ?? '0-0';
  }

  /** Events after a cursor: the rest of its batch, then up to `count` whole entries after it. */
  read(queue: string, cursor: string, count: number): StoredEvent[] {
    const [entryId, index] = (cursor === '$' ? this.latest : cursor).split(':') as [string, string | undefined];
    const out: StoredEvent[] = [];
    if (index !== undefined) {
      const entry = this.entries.find((e) => e.id === entryId);
      if (entry) out.push(...unpack(queue, entry, Number(index) + 1));
    }
    let n = 0;
    for (const e of this.entries) {
      if (n >= count) break;
      if (compareIds(e.id, entryId) <= 0) continue;
      n++;
      out.push(...unpack(queue, e, 0));
    }
    return out;
  }
}

function unpack(queue: string, entry: EventEntry, from: number): StoredEvent[] {
  const events = unpackEvents(entry.packed, queue, entry.worker) ?? [];
  const out: StoredEvent[] = [];
  for (let k = from; k < events.length; k++) out.push({ queue, cursor: `${entry.id}:${k}`, event: events[k]! });
  return out;
}

export class MemoryEventReader implements EventReader {
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly state: MemoryState,
    private readonly onClose: (reader: MemoryEventReader) => void,
  ) {}

  async read(cursors: Record<string, string>, count: number, blockMs?: number): Promise<StoredEvent[]> {
    // '$' means "from now": fixed when the read starts, as XREAD does.
    const fixed = Object.fromEntries(Object.entries(cursors).map(([q, c]) => [q, c === '$' ? this.state.queue(q).events.latest : c]));
    const now = this.readNow(fixed, count);
    if (now.length > 0 || blockMs === undefined || this.closed) return now;
    await this.waitForAppend(Object.keys(fixed), blockMs);
    return this.readNow(fixed, count);
  }

  private readNow(cursors: Record<string, string>, count: number): StoredEvent[] {
    return Object.entries(cursors).flatMap(([q, c]) => this.state.queue(q).events.read(q, c, count));
  }

  /** Resolves on the next append to one of the queues, after blockMs (0: no limit), or on close. */
  private waitForAppend(queues: string[], blockMs: number): Promise<void> {
    const logs = queues.map((q) => this.state.queue(q).events);
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        for (const log of logs) log.readers.delete(done);
        this.wake = undefined;
        resolve();
      };
      for (const log of logs) log.readers.add(done);
      this.wake = done;
      if (blockMs > 0) {
        timer = setTimeout(done, blockMs);
        timer.unref();
      }
    });
  }

  async latest(queues: string[]): Promise<Record<string, string>> {
    return Object.fromEntries(queues.map((q) => [q, this.state.queue(q).events.latest]));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.onClose(this);
  }
}
