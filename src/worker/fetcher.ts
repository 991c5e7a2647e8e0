// Keeps the processor supplied: reads batches of new entries for free slots (prefetch),
// highest priority first, and blocks on the streams when the queue is empty.

import type { Logger } from 'pino';
import type { BlockingReader, Broker, Delivery, Fetched, QueueRef } from '../broker/types.js';
import type { Processor } from './processor.js';
import { Sleeper, withTimeout } from './periodic.js';
import { headerIdAndTask } from '../envelope.js';
import { clockOf } from '../memory/clock.js';

/** A delivered job's id: its header's, else (an auto id) its entry's. */
function idOf(d: Delivery): string {
  return (d.header === undefined || d.header === null ? '' : headerIdAndTask(String(d.header)).id) || d.entry;
}

/** The smallest half-window fetched on its own (see run()). */
const SPLIT_FROM = 32;
/** How long stop() lets a blocking read end by itself before closing its connection. */
const STOP_WAIT_MS = 1000;
/** While its queue is paused, how often a fetcher asks whether it still is (a resume notice wakes it sooner). */
const PAUSE_POLL_MS = 1000;
/** While a capped queue has no permit left, how often a fetcher asks again. */
export const CAP_POLL_MS = 100;

export class Fetcher {
  private stopped = true;
  private loop: Promise<void> | undefined;
  private readonly reader: BlockingReader;
  /** A limited wait on the broker's clock (a manual clock's advance ends it), polls on real time. */
  private readonly sleeper: Sleeper;
  /** The fetch (and blocking read) in progress, until its entries are accepted. */
  private inFlight: Promise<void> | undefined;
  /** Epoch ms of the last fetch that reached Redis. */
  lastFetchAt = 0;
  /** The queue is paused: no fetch until it is resumed (a fetch said so, or a notice). */
  private paused = false;
  /** Set when the next fetch must go through the fetch script (which sees a pause), not block at once. */
  private recheck = false;
  /** The queue's global concurrency cap had no permit left at the last fetch. */
  private capped = false;
  /** The queue is held or rate limited: the next fetch waits this long (ms), sending nothing meanwhile. */
  private limitedMs = 0;

  constructor(
    private readonly broker: Broker,
    private readonly queue: QueueRef,
    private readonly consumer: string,
    private readonly processor: Processor,
    private readonly blockMs: number,
    private readonly log: Logger,
  ) {
    this.reader = broker.blockingReader(queue, consumer);
    this.sleeper = new Sleeper(clockOf(broker));
  }

  start(): void {
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.wake();
    // While Redis is unreachable the interrupt cannot reach it, and a blocking read waits for
    // Redis forever: closing its connection ends the read.
    const interrupted = await withTimeout(this.reader.interrupt(), STOP_WAIT_MS / 2).then(() => true, () => false);
    if (interrupted) await withTimeout(this.loop ?? Promise.resolve(), STOP_WAIT_MS).catch(() => undefined);
    await this.reader.close();
    await this.loop;
  }

  /** A notice: the queue was paused (a blocked read ends at once) or resumed. */
  pauseChanged(paused: boolean): void {
    this.paused = paused;
    this.recheck = true;
    if (paused) void this.reader.interrupt().catch(() => undefined);
    this.sleeper.wake();
  }

  /** A notice: the queue was held (ctx.rateLimit): a blocked read ends, the next fetch goes through the script, which sees the hold. */
  held(): void {
    this.recheck = true;
    void this.reader.interrupt().catch(() => undefined);
    this.sleeper.wake();
  }

  /** Notices may have been missed: the next fetch goes through the fetch script, which sees a pause. */
  resync(): void {
    this.recheck = true;
    this.sleeper.wake();
  }

  /** Resolves once no fetch is in flight (a blocked read is interrupted): everything fetched is accepted. */
  async quiesce(): Promise<void> {
    while (this.inFlight) {
      const pass = this.inFlight;
      await this.reader.interrupt();
      // An interrupt that came before the read blocked is lost: send it again shortly.
      await Promise.race([pass.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 100))]);
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    // After a blocking read that found less than it asked for, the queue was empty a moment
    // ago: the next read blocks at once (it returns at once too when jobs came meanwhile),
    // sparing the empty priority-ordered fetch a round trip on every job of a light load.
    let drained = false;
    while (!this.stopped) {
      if (this.recheck) {
        this.recheck = false;
        drained = false;
      }
      if (this.limitedMs > 0) {
        // Held (ctx.rateLimit) or out of rate-limit tokens: no command until the fetch script
        // said there would be some (a hold notice or a stop wakes it sooner).
        const ms = this.limitedMs;
        this.limitedMs = 0;
        await this.sleeper.sleep(ms, true);
        continue;
      }
      if (this.capped) {
        // Every permit is held (by any worker): ask again shortly. The blocking read cannot
        // wait for a permit, only for entries.
        this.capped = false;
        await this.sleeper.sleep(CAP_POLL_MS);
        continue;
      }
      if (this.paused) {
        // Paused: running jobs go on; this queue is asked again now and then, or on a resume notice.
        await this.sleeper.sleep(PAUSE_POLL_MS);
        if (this.stopped) break;
        try {
          this.paused = await this.broker.isPaused(this.queue);
        } catch (err) {
          this.log.warn({ err, queue: this.queue.name }, 'could not learn whether the queue is still paused; asking again');
        }
        continue;
      }
      let asked: number;
      let want: number;
      if (this.processor.pooled) {
        // A shard of a sharded queue fetches its share of the queue's capacity at a time, in turn
        // with the other shards (so each is served alike), and blocks for one job when empty: a
        // shard waiting for work holds no room the others need (a read that returns takes at
        // most one job over the queue's capacity).
        // With jobs buffered (in any shard), it waits for half its window, so fetches come in batches.
        const window = this.processor.fetchWindow();
        asked = drained ? 0 : await this.processor.acquire(this.processor.poolBuffered() === 0 ? 1 : Math.ceil(window / 2), window);
        if (this.stopped) {
          this.processor.unreserve(asked);
          break;
        }
        if (!drained && asked === 0) continue;
        want = 1;
      } else {
        // Fetch as soon as there is room while the buffer is empty; with jobs buffered, wait
        // for half the prefetch window so fetches come in batches rather than one by one.
        const half = Math.max(1, Math.ceil(this.processor.capacity / 2));
        await this.processor.waitForRoom(this.processor.buffered() === 0 ? 1 : half);
        // In a narrow window, room frees as jobs finish, and the jobs finishing in this same turn
        // of the event loop free more: the fetch asks once the turn is over, for all of it (at c=1
        // two jobs a fetch, not one or two depending on which promise of the turn resolved first).
        // A wide window is split anyway, and a turn's wait there only delays the next half.
        if (this.processor.capacity < 2 * SPLIT_FROM) await new Promise<void>((resolve) => setImmediate(resolve));
        // A wide window is fetched half at a time: the next fetch goes out as soon as this one's
        // jobs are accepted, so Redis reads it while they run (double buffering). A narrow one
        // (below 2 x SPLIT_FROM) is fetched whole: a round trip per job or two costs more there.
        const room = Math.min(this.processor.room(), Math.max(half, SPLIT_FROM));
        if (this.stopped || room <= 0) continue;
        asked = drained ? 0 : room;
        want = room;
      }
      try {
        const pass = (async () => {
          let reserved = asked;
          try {
            let got: Delivery[] = asked > 0 ? await this.broker.fetch(this.queue, this.consumer, asked) : [];
            this.lastFetchAt = Date.now();
            drained = false;
            if ((got as Fetched).paused) {
              this.paused = true;
              return;
            }
            // No permit left, or limited: a queue's cap or limit asks again shortly or when told.
            // Fair groups say where a read may wait instead (a group at its cap: for the bell its
            // permit's return rings; every group resting: for a job of another group, the whole
            // rest): one blocked read, a stop interrupts it. On a clock only a test moves, they
            // sleep on that clock, which the read's timeout is not.
            const limited = (got as Fetched).limitedMs;
            const pollHere = (got as Fetched).after === undefined || this.broker.clock?.driven === true;
            if ((got as Fetched).capped && pollHere) {
              this.capped = true;
              return;
            }
            if (limited !== undefined && pollHere) {
              this.limitedMs = limited;
              return;
            }
            if (got.length === 0 && !this.stopped && !this.paused) {
              // A shard's reserved room goes back before it blocks: it waits for one job.
              this.processor.unreserve(reserved);
              reserved = 0;
              // A capped or rate-limited queue's read waits for entries past where the fetch saw
              // the streams end, then fetches through the script; never the plain read (it would
              // deliver past the cap or the rate).
              const after = (got as Fetched).after;
              got = await this.reader.read(want, limited ?? this.blockMs, after);
              this.lastFetchAt = Date.now();
              drained = after === undefined && got.length < want;
              // A plain read blocked before a hold began may deliver jobs before its notice ends
              // the read: they go back to the queue, unstarted, their attempts not spent.
              if (after === undefined && got.length > 0) {
                const heldMs = await this.broker.heldFor(this.queue);
                if (heldMs > 0) {
                  await this.broker.requeue(this.queue, this.consumer, got.map((delivery) => ({ delivery, id: idOf(delivery) })), this.queue.resultTtl ?? 3600);
                  this.limitedMs = heldMs;
                  got = [];
                }
              }
            }
            failures = 0;
            // Entries that arrive after stop() are held and handed back with the rest.
            this.processor.accept(got);
          } finally {
            // A shard's reserved room: the jobs accepted now count as held instead.
            this.processor.unreserve(reserved);
          }
        })();
        this.inFlight = pass;
        await pass.finally(() => (this.inFlight = undefined));
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.log.warn({ err, queue: this.queue.name }, 'fetching jobs failed; retrying');
        if (String((err as Error).message).includes('NOGROUP')) await this.broker.ensureGroups(this.queue).catch(() => undefined);
        await this.sleeper.sleep(Math.min(100 * 2 ** failures, 5000));
      }
    }
  }
}
