// One concurrency limit shared by the processors of a sharded queue's shards: a worker runs at
// most `concurrency` of the queue's jobs and holds at most `capacity` (with prefetch), over all
// shards together. Free slots go to the shards in turn, so no shard's jobs wait behind another's;
// a fetch reserves the room it asks for, so shards fetching at once do not all take the same room.
// A suspect job (see Processor) runs alone over the whole queue, as on a queue that is not sharded.

/** What the pool needs of each member processor. */
export interface PoolMember {
  /** Jobs running now. */
  readonly runningCount: number;
  /** Jobs held that take room (see Processor.room()). */
  busy(): number;
  /** Jobs held at all. */
  readonly heldCount: number;
  /** Jobs waiting for a slot. */
  buffered(): number;
  /** Whether the member holds a suspect that must run alone. */
  readonly isolating: boolean;
  /** Starts its next buffered job; false when it has none it may start. */
  startNext(): boolean;
  /** Starts its suspect once nothing else of the queue is held; true when it has one. */
  startIsolated(othersHeld: number): boolean;
  /** Hands its buffered jobs back (a suspect of another shard runs alone). */
  yieldBuffer(): void;
  /** Resolves once no fetch of the member is in flight. */
  quiesceFetch(): Promise<void>;
  /** Tells its fetcher's waiters the room changed. */
  roomChangedOwn(): void;
}

/**
 * Fetches of a sharded queue's shards in flight at once, per worker. One, as a queue that is not
 * sharded: each then finds the room freed while the one before ran, and asks for a batch as
 * large (measured, 6 shards, concurrency 50: 16 jobs a fetch with six at once, against 50).
 */
const FETCHES_AT_ONCE = 1;

/** A shard's fetch asks for at least this many (when the capacity allows), as the fetcher of a queue that is not sharded does. */
const FETCH_MIN = 32;

export class SlotPool {
  private readonly members: PoolMember[] = [];
  private turn = 0;
  private reserved = 0;

  constructor(
    readonly concurrency: number,
    readonly capacity: number,
  ) {}

  join(member: PoolMember): void {
    this.members.push(member);
  }

  /** The member whose suspect runs alone, if any. */
  isolating(): PoolMember | undefined {
    return this.members.find((m) => m.isolating);
  }

  /**
   * The most a shard's fetch asks for: what a queue that is not sharded fetches at a time (half
   * the capacity, at least FETCH_MIN): Redis' cost per job is its calls' (a fetch and a
   * completion call per batch), so shards fetch batches as large, taking turns.
   */
  share(): number {
    return Math.min(this.capacity, Math.max(Math.ceil(this.capacity / 2), FETCH_MIN));
  }

  buffered(): number {
    let n = 0;
    for (const m of this.members) n += m.buffered();
    return n;
  }

  /** How many more jobs the queue's processors may take now, reservations deducted. */
  room(): number {
    if (this.isolating()) return 0;
    let busy = this.reserved;
    for (const m of this.members) busy += m.busy();
    return Math.max(0, this.capacity - busy);
  }

  /** Fetches granted room and not yet released. */
  private fetching = 0;

  private reserve(want: number): number {
    const got = Math.max(0, Math.min(want, this.room()));
    this.reserved += got;
    this.fetching++;
    return got;
  }

  /** Whether a fetch may be granted room now: one at a time, as a queue that is not sharded fetches. */
  private grantable(need: number): boolean {
    return this.fetching < FETCHES_AT_ONCE && this.room() >= need;
  }

  /** Fetches waiting for room, first come first served: each gets its room in turn. */
  private waiting: { member: PoolMember; need: number; want: number; resolve: (n: number) => void }[] = [];

  /**
   * Reserves up to `want` of the room for a member's fetch, once it is that member's turn and
   * at least `need` is free (released with release()): fetches come in batches, as on a queue
   * that is not sharded. Resolves 0 when cancelled.
   */
  acquire(member: PoolMember, need: number, want: number): Promise<number> {
    if (this.waiting.length === 0 && this.grantable(need)) return Promise.resolve(this.reserve(want));
    return new Promise((resolve) => this.waiting.push({ member, need, want, resolve }));
  }

  /** Ends the member's wait for room (it stops). */
  cancel(member: PoolMember): void {
    for (const w of this.waiting) if (w.member === member) w.resolve(0);
    this.waiting = this.waiting.filter((w) => w.member !== member);
  }

  release(n: number): void {
    if (n === 0) return;
    this.reserved -= n;
    this.fetching--;
    this.roomChanged();
  }

  /** Starts buffered jobs while slots are free, one per shard in turn. */
  pump(): void {
    const alone = this.isolating();
    if (alone) {
      let held = 0;
      for (const m of this.members) if (m !== alone) held += m.heldCount;
      alone.startIsolated(held);
      return;
    }
    let running = 0;
    for (const m of this.members) running += m.runningCount;
    let idle = 0;
    while (running < this.concurrency && idle < this.members.length) {
      const m = this.members[this.turn]!;
      this.turn = (this.turn + 1) % this.members.length;
      if (m.startNext()) {
        running++;
        idle = 0;
      } else idle++;
    }
  }

  /** A member took a suspect: the others hand back their buffered jobs and stop fetching. */
  isolate(alone: PoolMember): Promise<void> {
    for (const m of this.members) if (m !== alone) m.yieldBuffer();
    return Promise.all(this.members.map((m) => m.quiesceFetch())).then(() => undefined);
  }

  /** Room changed: every member's waiters look again, starting with a different member each time. */
  roomChanged(): void {
    while (this.waiting.length > 0 && this.grantable(this.waiting[0]!.need)) {
      const w = this.waiting.shift()!;
      w.resolve(this.reserve(w.want));
    }
    const n = this.members.length;
    const start = this.turn;
    for (let i = 0; i < n; i++) this.members[(start + i) % n]!.roomChangedOwn();
  }
}
