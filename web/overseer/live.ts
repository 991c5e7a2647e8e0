// The page's one live connection (Server-Sent Events): the latest snapshot and the recent
// events, for whichever page is showing. The browser reconnects by itself, sending the last
// event id, and the server resumes the event feed from there.

import type { Snapshot } from '../../src/overseer/types.js';
import type { StoredEvent } from '../../src/broker/types.js';

export type { Snapshot, StoredEvent };

const MAX_EVENTS = 200;

type Listener = () => void;

export class Live {
  snapshot: Snapshot | undefined;
  /** Newest first. */
  readonly events: StoredEvent[] = [];
  problem: string | undefined;
  private readonly listeners = new Set<Listener>();
  private source: EventSource | undefined;
  private pending = false;

  constructor(private readonly status: HTMLElement) {}

  start(): void {
    const source = new EventSource('api/events');
    this.source = source;
    source.addEventListener('open', () => this.setStatus('live', 'ok'));
    source.addEventListener('error', () => this.setStatus(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…', 'bad'));
    source.addEventListener('snapshot', (e) => {
      this.snapshot = JSON.parse((e as MessageEvent<string>).data) as Snapshot;
      this.problem = undefined;
      this.setStatus('live', 'ok');
      this.notify();
    });
    source.addEventListener('problem', (e) => {
      this.problem = (JSON.parse((e as MessageEvent<string>).data) as { message: string }).message;
      this.setStatus('Redis trouble', 'bad');
      this.notify();
    });
    source.addEventListener('job', (e) => {
      this.events.unshift(JSON.parse((e as MessageEvent<string>).data) as StoredEvent);
      if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
      this.notify();
    });
  }

  /** Calls fn on every update until the returned function is called. */
  watch(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Pages redraw at most every 100 ms, however many events arrive. */
  private notify(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      for (const fn of this.listeners) fn();
    }, 100);
  }

  private setStatus(text: string, kind: 'ok' | 'bad'): void {
    this.status.textContent = text;
    this.status.className = `live ${kind}`;
  }
}
