// Redis Cluster end to end, on a Cluster of our own (test/support/cluster.ts: three masters,
// each with a replica): an app configured by REDIS_CLUSTER_NODES runs queues spread over the
// masters (results, aborts and events through sharded pub/sub and per-slot reads); the commands
// that name no key go to the master owning the slot they concern; a worker serving a steady
// stream lives through a master killed -9 (its replica promoted), a manual failover and its
// queue's slot migrated to another master, with every job completed once.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Millrace, type MillraceOptions } from '../src/index.js';
import { queueKeys, workersKey } from '../src/redis/keys.js';
import { slotOf } from '../src/redis/topology.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { startCluster, type TestCluster } from './support/cluster.js';
import { clientNames } from './support/processes.js';
import { steadyStream } from './support/stream.js';
import { shardOfId, shardRefs, storageName } from '../src/shards/index.js';


/** Calls of a command a server has answered (INFO commandstats). */
async function calls(node: Redis, command: string): Promise<number> {
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await node.info('commandstats'));
  return m ? Number(m[1]) : 0;
}

type App = Millrace<Record<string, never>>;

describe('Redis Cluster', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  const apps: App[] = [];
  const tracker = workers();

  beforeAll(async () => {
    cluster = await startCluster();
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** An app on the cluster (its data dies with the cluster: nothing to remove). */
  function app(options: MillraceOptions<Record<string, never>> = {}): App {
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('cluster'), redis: { cluster: cluster.nodes }, ...options });
    apps.push(a);
    return a;
  }

  /** The master owning a queue's slot now. */
  const ownerOfQueue = (a: App, queue: string) => cluster.ownerOf(slotOf(queueKeys(a.prefix, queue, []).base));

  it('runs queues spread over the masters for an app configured by REDIS_CLUSTER_NODES: results, aborts, events', async () => {
    vi.stubEnv('REDIS_CLUSTER_NODES', cluster.nodeList);
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1'); // the Cluster nodes win over a URL of the same layer
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('cluster') });
    apps.push(a);
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const tasks = names.map((q) => a.queue(q).task(`double-${q}`, async (_ctx, n: number) => n * 2));
    let aborted = 0;
    const slow = a.queue('a').task('slow', async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted++;
      throw ctx.signal.reason;
    }, { maxTries: 1 });
    const owners = new Set(await Promise.all(names.map((q) => ownerOfQueue(a, q))));
    expect(owners.size).toBeGreaterThan(1); // the queues are spread

    await tracker.start(a, { concurrency: 4 });
    const jobs = await Promise.all(tasks.map((t, i) => t.enqueue(i)));
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })))).toEqual([0, 2, 4, 6, 8, 10]);
    // Each queue's blocking reader is on the master owning its slot.
    for (const q of names) expect(await clientNames(await ownerOfQueue(a, q))).toContain(`millrace:reader:${q}`);

    // An abort reaches the running handler through the queue's sharded abort channel.
    const job = await slow.enqueue();
    await waitFor(async () => (await job.status()) === 'active', { timeout: 20_000, what: 'the slow job running' });
    expect(await job.abort()).toBe('aborting');
    await waitFor(() => aborted === 1, { timeout: 20_000, what: 'the handler seeing the abort' });

    // Events of queues in different slots are read together.
    const { events } = await a.readEvents({ queues: names, after: Object.fromEntries(names.map((q) => [q, '0-0'])), count: 100 });
    expect(new Set(events.filter((e) => e.event.type === 'job.completed').map((e) => e.queue))).toEqual(new Set(names));
  });

  it('sends the commands that name no key to the master owning their slot: TIME to the registry slot, notices by SPUBLISH', async () => {
    const a = app();
    const echo = a.queue('q').task('echo', async (_ctx, s: string) => s);
    await tracker.start(a);
    expect(await (await echo.enqueue('warm')).result({ timeout: 20_000 })).toBe('warm');
    const masters = await cluster.masterPorts();
    const registryOwner = await cluster.ownerOf(slotOf(workersKey(a.prefix)));
    const before = await Promise.all(masters.map((p) => calls(cluster.node(p), 'time')));
    const broker = a.broker as unknown as { time(): Promise<number> };
    for (let i = 0; i < 5; i++) await broker.time();
    const after = await Promise.all(masters.map((p) => calls(cluster.node(p), 'time')));
    expect(Object.fromEntries(masters.map((p, i) => [p, after[i]! - before[i]!]))).toEqual(
      Object.fromEntries(masters.map((p) => [p, p === registryOwner ? 5 : 0])),
    );

    // A result someone waits for is announced by SPUBLISH on the queue's own master, never by
    // a PUBLISH (which the Cluster copies to every node).
    const queueOwner = await ownerOfQueue(a, 'q');
    const spublished = await calls(cluster.node(queueOwner), 'spublish');
    const published = await Promise.all(masters.map((p) => calls(cluster.node(p), 'publish')));
    const job = await echo.with({ delay: 500 }).enqueue('later');
    expect(await job.result({ timeout: 20_000 })).toBe('later');
    expect(await calls(cluster.node(queueOwner), 'spublish')).toBeGreaterThan(spublished);
    expect(await Promise.all(masters.map((p) => calls(cluster.node(p), 'publish')))).toEqual(published);
  });

  it('reads "$" of queues on several masters from when the read began, with a fresh reader (every master connected up front)', async () => {
    // Before the masters were connected at once, a reader's first command to a master waited
    // for its connection, and an event another connection published right after the read began
    // was missed: 8 of 30 fresh readers here.
    const a = app();
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const owners = await Promise.all(names.map((q) => ownerOfQueue(a, q)));
    const [first, second] = [names[0]!, names[owners.findIndex((o) => o !== owners[0])]!];
    const broker = a.broker;
    const ev = (queue: string) => ({ type: 'job.completed', id: 'x', queue, task: 't', at: 1 }) as never;
    const ref = (name: string) => ({ name, levels: ['normal'] });
    let missed = 0;
    for (let i = 0; i < 20; i++) {
      const reader = broker.eventReader();
      try {
        await reader.read({ [first]: '$' }, 10, 20); // only the first queue's master used so far
        const more = reader.read({ [first]: '$', [second]: '$' }, 10, 5000);
        await broker.publishEvents(ref(second), [ev(second)], 'w');
        if ((await more).length === 0) missed++;
      } finally {
        await reader.close();
      }
    }
    expect(missed).toBe(0);
  });

  it('lives through its queue master killed -9: the replica is promoted, every job enqueued after completes once', async () => {
    const a = app();
    let from = 0;
    const out = await steadyStream(a, tracker, async () => {
      from = await ownerOfQueue(a, 'q');
      await cluster.kill(from);
      await waitFor(async () => {
        const now = await cluster.ownerOf(slotOf(queueKeys(a.prefix, 'q', []).base)).catch(() => from);
        return now !== from ? now : undefined;
      }, { timeout: 60_000, what: 'a replica promoted in place of the killed master' });
    });
    // An enqueue the killed master acknowledged but had not replicated is lost with it (Redis
    // replication is asynchronous): only before the promotion, counted, not hidden.
    expect(out.lost.filter((n) => out.enqueued.indexOf(n) >= out.before)).toEqual([]);
    const to = await ownerOfQueue(a, 'q');
    await waitFor(async () => ((await clientNames(to)).includes('millrace:reader:q') ? true : undefined), { timeout: 30_000, what: 'the reader on the promoted master' });
    // The killed node comes back as the promoted master's replica: the next tests get a whole cluster.
    await cluster.restart(from);
    await cluster.settled();
    console.info(`cluster failover :${from} -> :${to}: ${out.enqueued.length} jobs, ${out.lost.length} lost in replication, ${out.failedTries} enqueue tries failed, ${[...out.runs.values()].filter((c) => c > 1).length} ran twice`);
  });

  it('lives through a manual failover (CLUSTER FAILOVER): blocked reads unblocked on the demoted master, every job completes once', async () => {
    const a = app();
    let moved = { from: 0, to: 0 };
    const out = await steadyStream(a, tracker, async () => {
      moved = await cluster.failover(slotOf(queueKeys(a.prefix, 'q', []).base));
    }, '30s');
    // A manual failover waits for the replica to be in sync: nothing acknowledged is lost.
    expect(out.lost).toEqual([]);
    expect([...out.runs].filter(([, c]) => c > 1)).toEqual([]);
    await waitFor(async () => ((await clientNames(moved.to)).includes('millrace:reader:q') ? true : undefined), { timeout: 30_000, what: 'the reader on the new master' });
    console.info(`manual failover :${moved.from} -> :${moved.to}: ${out.enqueued.length} jobs, ${out.failedTries} enqueue tries failed`);
  });

  it('lives through its queue slot migrated to another master under load: no job lost, none completed twice', async () => {
    const a = app();
    let moved = { from: 0, to: 0, keys: 0 };
    const out = await steadyStream(a, tracker, async () => {
      moved = await cluster.migrateSlot(slotOf(queueKeys(a.prefix, 'q', []).base));
    }, '30s'); // no lease runs out on a loaded machine: a job run twice would be the migration's doing
    expect(out.lost).toEqual([]);
    expect([...out.runs].filter(([, c]) => c > 1)).toEqual([]);
    expect(await ownerOfQueue(a, 'q')).toBe(moved.to);
    await waitFor(async () => ((await clientNames(moved.to)).includes('millrace:reader:q') ? true : undefined), { timeout: 30_000, what: 'the reader on the new owner' });
    console.info(`slot migration :${moved.from} -> :${moved.to}: ${moved.keys} keys moved, ${out.enqueued.length} jobs, ${out.failedTries} enqueue tries failed, ${[...out.runs.values()].filter((c) => c > 1).length} ran twice`);
  });

  it('spreads a sharded queue over every master, two shards each, and runs it as one queue', async () => {
    const a = app();
    const hot = a.queue('hot', { shards: 6, concurrency: 8 });
    const double = hot.task('double', async (_ctx, n: number) => n * 2);
    const owners = await Promise.all(shardRefs(hot).map((ref) => cluster.ownerOf(slotOf(queueKeys(a.prefix, storageName(ref), []).base))));
    const perMaster = new Map<number, number>();
    for (const o of owners) perMaster.set(o, (perMaster.get(o) ?? 0) + 1);
    expect([...perMaster.values()]).toEqual([2, 2, 2]);
    const jobs = await double.enqueueMany(Array.from({ length: 300 }, (_, i) => [i]));
    const single = await Promise.all(Array.from({ length: 30 }, (_, i) => double.enqueue(1000 + i)));
    const counts = await a.inspector.counts(hot);
    expect(counts.shards!.map((c) => c.waiting.normal)).toEqual([55, 55, 55, 55, 55, 55]);
    await tracker.start(a, { queues: ['hot'] });
    const results = await Promise.all([...jobs, ...single].map((j) => j.result({ timeout: 30_000 })));
    expect(results).toEqual([...Array.from({ length: 300 }, (_, i) => i * 2), ...Array.from({ length: 30 }, (_, i) => (1000 + i) * 2)]);
    expect((await a.inspector.counts(hot)).active).toBe(0);
  });

  it('lives through the slot of one shard migrated to another master under load: no job lost, none completed twice', async () => {
    const a = app();
    let moved = { from: 0, to: 0, keys: 0 };
    const out = await steadyStream(a, tracker, async () => {
      // The shard holding the stream's next jobs (custom ids hash to every shard alike).
      const q = a.queues.get('q')!;
      const busiest = shardRefs(q)[shardOfId('job-100', 3)]!;
      moved = await cluster.migrateSlot(slotOf(queueKeys(a.prefix, storageName(busiest), []).base));
    }, '30s', { shards: 3 });
    expect(out.lost).toEqual([]);
    expect([...out.runs].filter(([, c]) => c > 1)).toEqual([]);
    console.info(`sharded queue, slot migration :${moved.from} -> :${moved.to}: ${moved.keys} keys moved, ${out.enqueued.length} jobs, ${out.failedTries} enqueue tries failed`);
  });
});
