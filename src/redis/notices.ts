// The pub/sub side of the Redis broker: one subscriber connection (opened on first use) that
// carries every notice the scripts publish (results landed, aborts, pause/hold/due, workflow
// ends, schedule changes) to the listeners of each channel, and tells whoever waits on a
// notice to read again when notices may have been lost (the connection came back).

import type { Conn } from './topology.js';
import { isCluster } from './topology.js';

export type Listener = (message: string) => void;

/** On a Cluster, how often waiters read again in any case (a sharded subscriber's failover can lose notices). */
const CLUSTER_RESYNC_MS = 3000;

export class Notices {
  private subscriber: Conn | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly subscribed = new Map<string, Promise<unknown>>();
  /** Called after the subscriber connection (re)subscribed: messages published while it was away are lost. */
  private readonly resyncs = new Set<() => void>();
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly open: () => Conn) {}

  /** The subscriber connection, once opened. */
  get connection(): Conn | undefined {
    return this.subscriber;
  }

  /** Calls `fn` whenever notices may have been lost; answers the removal. */
  onResync(fn: () => void): () => void {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  /** Calls `fn` on every message of a channel and whenever notices may have been lost; answers the unsubscribe. */
  async notices(channel: string, fn: () => void): Promise<() => Promise<void>> {
    const onMessage: Listener = () => fn();
    await this.listen(channel, onMessage);
    const off = this.onResync(fn);
    return async () => {
      off();
      this.unlisten(channel, onMessage);
    };
  }

  async listen(channel: string, fn: Listener): Promise<void> {
    this.subscriber ??= this.openSubscriber();
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(fn);
    let sub = this.subscribed.get(channel);
    if (!sub) {
      sub = isCluster(this.subscriber) ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel);
      this.subscribed.set(channel, sub);
      sub.catch(() => this.subscribed.delete(channel));
    }
    // Who joins while the SUBSCRIBE is under way waits for it too: a message published before
    // it took effect is lost (result() waited in vain for results published in that window).
    await sub;
  }

  unlisten(channel: string, fn: Listener): void {
    // Channels stay subscribed: a client waiting on many results would otherwise churn.
    this.listeners.get(channel)?.delete(fn);
  }

  /**
   * The connection notices arrive on. ioredis subscribes again by itself on a new connection
   * (before 'ready'); a SUBSCRIBE of our own after it answers once those took effect, and then
   * whoever waits reads again what a notice may have said meanwhile. On a Cluster, notices are
   * sharded (SPUBLISH by the scripts, SSUBSCRIBE here, one connection per master): whoever
   * waits reads again whenever a master's subscriber came back, and every few seconds in any
   * case, so a notice lost in a failover delays a waiter but never strands it.
   */
  private openSubscriber(): Conn {
    const subscriber = this.open();
    const deliver = (ch: string, message: string) => {
      for (const l of this.listeners.get(ch) ?? []) l(message);
    };
    const resync = () => {
      for (const fn of [...this.resyncs]) fn();
    };
    if (isCluster(subscriber)) {
      subscriber.on('smessage', deliver);
      subscriber.on('subscribersReady', resync);
      this.resyncTimer = setInterval(resync, CLUSTER_RESYNC_MS);
      this.resyncTimer.unref();
      return subscriber;
    }
    subscriber.on('message', deliver);
    subscriber.on('ready', () => {
      const channels = [...this.subscribed.keys()];
      if (channels.length === 0) return;
      subscriber.subscribe(...channels).then(resync, () => undefined);
    });
    return subscriber;
  }

  /** Stops the Cluster's periodic resync (the broker closes the connection). */
  stop(): void {
    clearInterval(this.resyncTimer);
  }
}
