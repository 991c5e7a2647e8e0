// The typed map of lifecycle events, and the in-process hub that fans them out to logs,
// metrics and the Redis event stream. One map, so every consumer sees the same shapes.

export interface EventMap {
  'worker.started': { worker: string; queues: string[]; hostname: string; pid: number };
  'worker.stopped': { worker: string; queues: string[]; handedBack: number };
  'job.enqueued': { queue: string; id: string; task: string };
  'job.started': { queue: string; id: string; task: string; attempt: number; worker: string; pickupMs?: number };
  'job.completed': { queue: string; id: string; task: string; attempt: number; worker: string; durationMs: number };
  /** An attempt failed; `willRetry` tells whether job.retried follows. */
  'job.failed': { queue: string; id: string; task: string; attempt: number; worker: string; durationMs: number; error: string; willRetry: boolean };
  'job.retried': { queue: string; id: string; task: string; attempt: number; worker: string; delayMs: number; error: string };
  'job.dead': { queue: string; id: string; task: string; attempt: number; worker: string; reason: string; error: string };
  'job.aborted': { queue: string; id: string; task: string; worker: string };
}

export type EventType = keyof EventMap;

/** One event: its type, epoch ms, and its fields. */
export type MillraceEvent = { [K in EventType]: { type: K; at: number } & EventMap[K] }[EventType];
export type EventOf<K extends EventType> = Extract<MillraceEvent, { type: K }>;

type Listener = (event: MillraceEvent) => void;

export class EventHub {
  private readonly typed = new Map<EventType, Set<Listener>>();
  private readonly any = new Set<Listener>();

  on<K extends EventType>(type: K, fn: (event: EventOf<K>) => void): () => void {
    let set = this.typed.get(type);
    if (!set) this.typed.set(type, (set = new Set()));
    set.add(fn as Listener);
    return () => set.delete(fn as Listener);
  }

  onAny(fn: (event: MillraceEvent) => void): () => void {
    this.any.add(fn);
    return () => this.any.delete(fn);
  }

  emit<K extends EventType>(type: K, fields: EventMap[K]): void {
    if (this.any.size === 0 && !this.typed.get(type)?.size) return;
    const event = { type, at: Date.now(), ...fields } as MillraceEvent;
    for (const fn of this.typed.get(type) ?? []) fn(event);
    for (const fn of this.any) fn(event);
  }
}
