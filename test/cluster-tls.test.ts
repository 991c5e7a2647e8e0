// A Redis Cluster that speaks TLS only (clients, the cluster bus and replication), with the
// ACL user of docs/topologies.md (plus what a Cluster client needs, as the page says) on every
// node: an app reaching it with REDIS_TLS_CA_FILE-style settings runs queues on several masters,
// waits for results, aborts a running job, reads events and enqueues durably; no node's ACL LOG
// holds a refusal but the optional CONFIG GET.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobAbortedError, Millrace } from '../src/index.js';
import { queueKeys } from '../src/redis/keys.js';
import { slotOf } from '../src/redis/topology.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { aclLog, documentedRule, PASSWORD } from './support/acl.js';
import { startCluster, type TestCluster } from './support/cluster.js';

/** What docs/topologies.md says a Cluster client needs on top of the rule. */
const CLUSTER_RULES = ['+cluster|slots', '+cluster|info', '+asking'];

describe('a TLS-only Redis Cluster with an ACL user', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  const prefix = uniquePrefix('clustls');
  const apps: Millrace<Record<string, never>>[] = [];
  const tracker = workers();

  beforeAll(async () => {
    cluster = await startCluster({ tls: true });
    // ACLs are per node: the user is created on every one (masters and replicas).
    for (const n of cluster.nodes) {
      expect(await cluster.node(n.port).call('ACL', 'SETUSER', 'mr', 'reset', ...documentedRule(prefix), ...CLUSTER_RULES)).toBe('OK');
    }
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('runs queues on several masters over TLS as the ACL user: results, an abort, events, a durable enqueue', async () => {
    for (const n of cluster.nodes) await cluster.node(n.port).call('ACL', 'LOG', 'RESET');
    const a = new Millrace<Record<string, never>>({
      prefix, logLevel: 'silent',
      redis: { cluster: cluster.nodes.slice(0, 2), username: 'mr', password: PASSWORD, tlsCa: cluster.certs!.ca },
    });
    apps.push(a);
    const names = ['a', 'b', 'c', 'd'];
    const tasks = names.map((q) => a.queue(q).task(`double-${q}`, async (_ctx, n: number) => n * 2));
    const slow = a.queue('a').task('slow', (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))), { maxTries: 1 });
    const owners = new Set(await Promise.all(names.map((q) => cluster.ownerOf(slotOf(queueKeys(prefix, q, []).base)))));
    expect(owners.size).toBeGreaterThan(1);

    await tracker.start(a, { concurrency: 4 });
    const jobs = await Promise.all(tasks.map((t, i) => t.enqueue(i)));
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })))).toEqual([0, 2, 4, 6]);
    const durable = await tasks[1]!.with({ durability: { replicas: 1, timeout: '2s' } }).enqueue(21);
    expect(await durable.result({ timeout: 30_000 })).toBe(42);

    const running = await slow.enqueue();
    await waitFor(async () => (await running.status()) === 'active', { timeout: 20_000, what: 'the slow job running' });
    expect(await running.abort()).toBe('aborting');
    await expect(running.result({ timeout: 20_000 })).rejects.toBeInstanceOf(JobAbortedError);
    const { events } = await a.readEvents({ queues: names, after: Object.fromEntries(names.map((q) => [q, '0-0'])) });
    expect(new Set(events.filter((e) => e.event.type === 'job.completed').map((e) => e.queue))).toEqual(new Set(names));
    await tracker.stopAll(); // the stop unblocks the readers: CLIENT UNBLOCK on each queue's master

    const refused: string[] = [];
    for (const n of cluster.nodes) {
      for (const e of await aclLog(cluster.node(n.port))) if (e.username === 'mr') refused.push(`:${n.port} ${e.reason} ${e.object}`);
    }
    expect(refused.filter((r) => !r.endsWith('command config|get'))).toEqual([]);
  });
});
