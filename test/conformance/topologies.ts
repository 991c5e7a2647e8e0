// The brokers the conformance suite runs against. A Topology opens a Subject: a Broker and its
// Inspector on fresh, empty data, a way to let time pass for it, and the few hooks the contract
// tests need to reach under the interface (to tamper with an entry or a job record, as a bug or
// an operator with redis-cli could).
//
// Which topologies run is a parameter: MILLRACE_CONFORMANCE, a comma list of names (default
// 'redis,sentinel,cluster,memory'). To add one, write its `open()` (and, for servers of
// its own, `beforeAll`/`afterAll`) below and add it to TOPOLOGIES: every contract test then
// runs against it too. Run one topology alone with
// `MILLRACE_CONFORMANCE=memory npx vitest run test/conformance`.

import { afterAll, beforeAll } from 'vitest';
import type { Broker, Inspector, QueueRef } from '../../src/broker/types.js';
import { ManualClock } from '../../src/memory/clock.js';
import { MemoryBroker } from '../../src/memory/broker.js';
import { MemoryInspector } from '../../src/memory/inspector.js';
import type { Entry } from '../../src/memory/state.js';
import { RedisBroker } from '../../src/redis/broker.js';
import { RedisInspector } from '../../src/redis/inspector.js';
import { resolveRedisSettings, type RedisSettings } from '../../src/settings.js';
import { removePrefix } from '../../src/testing/prefix.js';
import { REDIS_URL, removeKeys, uniquePrefix } from '../helpers.js';
import { startSentinelSet, type SentinelSet } from '../support/sentinel.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

/** The job record fields a test may set or remove (st, e, h, d as the scripts name them; l is the level). */
export type RecordField = 'st' | 'e' | 'h' | 'd' | 'l';

export interface Subject {
  broker: Broker;
  inspector: Inspector;
  /**
   * Lets `ms` pass on the broker's clock: real time on Redis (its TIME), the manual clock's
   * advance on the memory broker. Keep it small: tens of ms.
   */
  elapse(ms: number): Promise<void>;
  /** Whether letting time pass promotes due delayed jobs by itself (the memory broker's clock does). */
  readonly promotesOnElapse: boolean;
  /**
   * A TTL or delay (ms) that surely has not run out between two calls one right after the other:
   * tests that look at something before its TTL runs out use it. On real time a loaded machine
   * can stall for hundreds of ms between two calls, so a second; on a manual clock nothing
   * passes between calls, so tens of ms.
   */
  readonly short: number;
  /** Adds an entry with exactly these fields (no check of its header) under the queue's next entry id. */
  addRawEntry(queue: QueueRef, level: number, fields: { h?: string; d?: string; r?: number }): Promise<string>;
  /** Deletes an entry's fields from its stream, leaving its pending entry (lease), as XDEL does. */
  dropEntry(queue: QueueRef, level: number, entry: string): Promise<void>;
  /** Sets and removes fields of a job record (l: the level, by index). */
  editRecord(queue: QueueRef, id: string, set: Partial<Record<Exclude<RecordField, 'l'>, string>>, remove?: RecordField[]): Promise<void>;
  /** Whether a result wait for the job is registered (so a result landing now is kept for it). */
  hasWaiter(queue: QueueRef, id: string): Promise<boolean>;
  /** Ends the broker and removes its data. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Events each queue's event stream keeps (default 1000). */
  eventsMaxLen?: number;
}

export interface Topology {
  name: string;
  /** Once per test file before its first open() (what the topology runs on), and after its last. */
  beforeAll?(): Promise<void>;
  afterAll?(): Promise<void>;
  open(options?: OpenOptions): Promise<Subject>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Real time: at least `ms` by the host's clock (a timer may fire a little early). */
async function realElapse(ms: number): Promise<void> {
  const until = Date.now() + ms + 1;
  while (Date.now() < until) await sleep(until - Date.now());
}

// The next entry id of a queue as lib.lua's id_begin / id_next / id_end hand it out, then XADD.
const ADD_RAW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms, seq = now, 0
local last = redis.call('GET', KEYS[1])
if last then
  local dash = string.find(last, '-', 1, true)
  local lms = tonumber(string.sub(last, 1, dash - 1))
  if lms >= now then ms, seq = lms, tonumber(string.sub(last, dash + 1)) + 1 end
end
local id = string.format('%d-%d', ms, seq)
redis.call('SET', KEYS[1], id)
redis.call('XADD', KEYS[2], id, unpack(ARGV))
return id`;

/**
 * A Subject on a RedisBroker of these settings under a fresh key prefix; `removeKeys` removes
 * the prefix's keys after the broker closed. Every Redis topology shares these hooks.
 */
async function redisSubject(settings: RedisSettings, name: string, removePrefixKeys: (prefix: string) => Promise<unknown>, options: OpenOptions): Promise<Subject> {
  const prefix = uniquePrefix(name);
  const broker = new RedisBroker(settings, { prefix, binary: false, eventsMaxLen: options.eventsMaxLen ?? 1000 });
  const inspector = new RedisInspector(broker.ctx);
  const conn = broker.ctx.conn;
  const stream = (q: QueueRef, level: number) => broker.ctx.keys(q).streams[broker.ctx.luaLevel(q, level) - 1]!;
  return {
    broker,
    inspector,
    elapse: realElapse,
    promotesOnElapse: false,
    short: 1000,
    async addRawEntry(q, level, fields) {
      const args: string[] = [];
      for (const [k, v] of Object.entries(fields)) args.push(k, String(v));
      return String(await conn.eval(ADD_RAW, 2, broker.ctx.keys(q).lastId, stream(q, level), ...args));
    },
    async dropEntry(q, level, entry) {
      await conn.xdel(stream(q, level), entry);
    },
    async editRecord(q, id, set, remove = []) {
      const key = broker.ctx.keys(q).jobPrefix + id;
      const pairs = Object.entries(set).flat();
      if (pairs.length) await conn.hset(key, ...pairs);
      if (remove.length) await conn.hdel(key, ...remove);
    },
    async hasWaiter(q, id) {
      return (await conn.zscore(broker.ctx.keys(q).waiters, id)) !== null;
    },
    async close() {
      await broker.close();
      await removePrefixKeys(prefix);
    },
  };
}

/** Redis standalone: the shared server at REDIS_URL, under a key prefix of its own (never flushed). */
const redis: Topology = {
  name: 'redis',
  open: (options = {}) => redisSubject(resolveRedisSettings(REDIS_URL), 'conf', removeKeys, options),
};

/**
 * Redis Sentinel: a set of our own (a master, two replicas, three sentinels; test/support/sentinel.ts),
 * one per test file, reached through the sentinels as an app configured with `redis.sentinels` is.
 */
let sentinelSet: Promise<SentinelSet> | undefined;
const sentinel: Topology = {
  name: 'sentinel',
  async beforeAll() {
    sentinelSet ??= startSentinelSet({ name: 'conformance' });
    await sentinelSet;
  },
  async afterAll() {
    const set = sentinelSet;
    sentinelSet = undefined;
    await (await set)?.stop();
  },
  async open(options = {}) {
    if (!sentinelSet) throw new Error("the 'sentinel' topology opened outside its beforeAll");
    const set = await sentinelSet;
    const settings = resolveRedisSettings({ sentinels: set.sentinels, name: set.name }, {});
    return redisSubject(settings, 'confsentinel', (prefix) => removePrefix(settings, prefix), options);
  },
};

/**
 * Redis Cluster: three masters with a replica each, of our own (test/support/cluster.ts), one
 * per test file, reached through its seed nodes as an app configured with `redis.cluster` is.
 */
let testCluster: Promise<TestCluster> | undefined;
const cluster: Topology = {
  name: 'cluster',
  async beforeAll() {
    testCluster ??= startCluster();
    await testCluster;
  },
  async afterAll() {
    const c = testCluster;
    testCluster = undefined;
    await (await c)?.stop();
  },
  async open(options = {}) {
    if (!testCluster) throw new Error("the 'cluster' topology opened outside its beforeAll");
    const settings = resolveRedisSettings({ cluster: (await testCluster).nodes }, {});
    return redisSubject(settings, 'confcluster', (prefix) => removePrefix(settings, prefix), options);
  },
};

/** The memory broker on a manual clock. */
const memory: Topology = {
  name: 'memory',
  async open(options = {}) {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const broker = new MemoryBroker({ clock, eventsMaxLen: options.eventsMaxLen ?? 1000 });
    const inspector = new MemoryInspector(broker);
    const queue = (q: QueueRef) => broker.state.queue(q.name);
    const level = (q: QueueRef, i: number) => q.levels[i]!;
    return {
      broker,
      inspector,
      async elapse(ms) {
        // Resolves once what came due settled (readers woken by the promotion included).
        await clock.advance(ms);
        await new Promise<void>((resolve) => setImmediate(resolve));
      },
      promotesOnElapse: true,
      short: 30,
      async addRawEntry(q, i, fields) {
        const entry: Entry = { h: fields.h, d: fields.d };
        if (fields.r !== undefined) entry.r = fields.r;
        return queue(q).append(level(q, i), entry);
      },
      async dropEntry(q, i, entry) {
        queue(q).stream(level(q, i)).entries.delete(entry);
      },
      async editRecord(q, id, set, remove = []) {
        const rec = queue(q).setRecord(id, { ...(set as object) });
        for (const f of remove) delete rec[f === 'l' ? 'level' : f];
      },
      async hasWaiter(q, id) {
        return (queue(q).waiters.get(id)?.size ?? 0) > 0;
      },
      async close() {
        await broker.close();
      },
    };
  },
};

/** Every topology the suite knows; MILLRACE_CONFORMANCE picks among them. */
export const TOPOLOGIES: readonly Topology[] = [redis, sentinel, cluster, memory];

/** The topologies whose file-level hooks are registered (once per test file: modules are per file). */
const hooked = new Set<Topology>();

/**
 * The topologies to run: MILLRACE_CONFORMANCE (comma list of names), default 'redis,sentinel,cluster,memory'.
 * Called while a test file is collected: it registers each topology's beforeAll/afterAll once
 * for the file.
 */
export function topologies(): Topology[] {
  const wanted = (process.env.MILLRACE_CONFORMANCE ?? 'redis,sentinel,cluster,memory').split(',').map((s) => s.trim()).filter(Boolean);
  return wanted.map((name) => {
    const t = TOPOLOGIES.find((x) => x.name === name);
    if (!t) throw new Error(`MILLRACE_CONFORMANCE: unknown topology '${name}' (known: ${TOPOLOGIES.map((x) => x.name).join(', ')})`);
    if (!hooked.has(t)) {
      hooked.add(t);
      if (t.beforeAll) beforeAll(() => t.beforeAll!());
      if (t.afterAll) afterAll(() => t.afterAll!());
    }
    return t;
  });
}
