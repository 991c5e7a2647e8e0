// ACL users, on a redis-server of our own: the user of docs/topologies.md#acl-users (its
// `ACL SETUSER` line read from the page) runs a worker and a client through everything they do,
// and Redis refuses nothing but the optional CONFIG GET; the `default` user being off or
// password-protected plays no part; the user is confined to its prefix; a wrong password fails
// at once with Redis' WRONGPASS, for an enqueue and for a worker's start.

import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { after, chain, group as parallel, JobAbortedError, JobFailedError, Millrace, NotDurableError, WorkflowAbortedError } from '../src/index.js';
import { prefixPatterns, queueKeys, schedulesChannel, workflowKeys } from '../src/redis/keys.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { freePort, HOST, nodeArgs, ServerGroup, until } from './support/processes.js';
import { aclLog, documentedRule, PASSWORD } from './support/acl.js';


const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

it('documents key patterns that are the ones millrace uses', () => {
  const rule = documentedRule('millrace');
  expect(rule.filter((r) => r.startsWith('~'))).toEqual(prefixPatterns('millrace').map((p) => `~${p}`));
  expect(rule.filter((r) => r.startsWith('&'))).toEqual(['&{millrace:*']);
  // Every channel millrace publishes or subscribes to falls under that one pattern.
  const q = queueKeys('millrace', 'q', ['low', 'high']);
  const shard = queueKeys('millrace', 'hot#1/4', ['low']);
  const channels = [q.doneChannel, q.abortChannel, shard.doneChannel, shard.abortChannel, schedulesChannel('millrace'), workflowKeys('millrace', 'w-1').endChannel];
  for (const c of channels) expect(c, c).toMatch(/^\{millrace:/);
});

describe.each([
  ['off', ['--user', 'default', 'off']],
  ['password-protected', ['--user', 'default', 'on', '>default-pw', '~*', '&*', '+@all']],
])('an ACL user, the default user %s', { timeout: 120_000 }, (_, defaultUser) => {
  let group: ServerGroup;
  let port: number;
  let admin: Redis;
  const prefix = uniquePrefix('acl');
  const apps: Millrace<Record<string, never>>[] = [];
  const tracker = workers();

  beforeAll(async () => {
    group = new ServerGroup('acl');
    port = await freePort();
    group.start(`acl redis :${port}`, [...nodeArgs(port, group.dir), '--user', 'admin', 'on', '>admin-pw', '~*', '&*', '+@all', ...defaultUser]);
    admin = group.conn(port, { username: 'admin', password: 'admin-pw' });
    await until(`redis-server on ${port}`, async () => (await admin.ping()) === 'PONG');
    expect(await admin.call('ACL', 'SETUSER', 'mr', 'reset', ...documentedRule(prefix))).toBe('OK');
  }, 60_000);
  afterAll(async () => {
    await group?.stop();
  });
  afterEach(async () => {
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** An app on database 1 (SELECT is part of the rule) as `user`. */
  function app(user: { username?: string; password?: string } = { username: 'mr', password: PASSWORD }): Millrace<Record<string, never>> {
    const a = new Millrace<Record<string, never>>({ prefix, logLevel: 'silent', redis: { url: `redis://${HOST}:${port}`, db: 1, ...user } });
    apps.push(a);
    return a;
  }

  it('runs a worker and a client that enqueue, process, wait for results, abort, inspect; Redis refuses only CONFIG GET', async () => {
    await admin.call('ACL', 'LOG', 'RESET');
    const a = app();
    const q = a.queue('q', { deadLetter: true });
    const double = q.task('double', async (ctx, n: number) => {
      await ctx.progress(50);
      await ctx.addLog(`doubling ${n}`);
      return n * 2;
    });
    const fail = q.task('fail', () => {
      throw new Error('no');
    }, { maxTries: 1 });
    const slow = q.task('slow', (ctx) => new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 60_000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason as Error);
      });
    }));
    const sum = q.task('sum', async (_ctx, ns: number[]) => ns.reduce((x, y) => x + y, 0));
    const scale = q.task('scale', async (_ctx, got: number[], k: number) => got[0]! * k);
    const drop = q.task('drop', async (_ctx, _got: unknown) => 0);
    await a.addSchedule('0 3 * * *', double, { name: 'nightly', args: [1] });
    await tracker.start(a, { concurrency: 4 });

    const one = await double.enqueue(21);
    expect(await one.result({ timeout: 20_000 })).toBe(42);
    expect(await one.progress()).toBe(50);
    expect((await one.logs())[0]).toContain('doubling 21');
    const bulk = await double.enqueueMany([[1], [2], [3]]);
    expect(await Promise.all(bulk.map((j) => j.result({ timeout: 20_000 })))).toEqual([2, 4, 6]);
    expect((await a.findJob(one.id))?.id).toBe(one.id);
    // A durable enqueue may WAIT (this server has no replica: 0 of 1 acknowledged, not NOPERM).
    const notDurable = await double.with({ durability: { replicas: 1, timeout: 50 } }).enqueue(4).catch((err: unknown) => err);
    expect(notDurable).toBeInstanceOf(NotDurableError);
    expect((notDurable as NotDurableError).acknowledged).toBe(0);

    const running = await slow.enqueue();
    await waitFor(async () => (await running.status()) === 'active', { timeout: 20_000, what: 'the slow job running' });
    expect(await running.abort()).toBe('aborting');
    await expect(running.result({ timeout: 20_000 })).rejects.toBeInstanceOf(JobAbortedError);

    const failed = await fail.enqueue();
    await expect(failed.result({ timeout: 20_000 })).rejects.toBeInstanceOf(JobFailedError);
    const dlq = a.deadLetters('q');
    const [entry] = await waitFor(async () => ((await dlq.list()).length > 0 ? dlq.list() : undefined), { timeout: 20_000, what: 'the DLQ entry' });
    expect(await dlq.count()).toBe(1);
    expect(await dlq.replay(entry!.dlqId)).toHaveLength(1);

    // Workflows: their records, notices, watches and notes live under the prefix too.
    const wf = await chain(after(one), parallel([scale.s(1), scale.s(2)]), sum.s()).start();
    expect(await wf.result('20s')).toBe(42 + 84);
    expect((await wf.status()).state).toBe('completed');
    const stuck = await chain(slow.s(), drop.s()).start();
    await waitFor(async () => (await stuck.status()).waitingOn[0]?.status === 'active', { timeout: 20_000, what: 'the node running' });
    expect(await stuck.abort()).toBe(true);
    await expect(stuck.result('20s')).rejects.toBeInstanceOf(WorkflowAbortedError);
    await double.with({ delay: '1h' }).enqueue(1).then((j) => j.promote());

    expect((await a.listJobs('q', 'completed')).length).toBeGreaterThan(0);
    expect((await a.workers()).length).toBe(1);
    expect((await a.listSchedules()).map((s) => s.name)).toEqual(['nightly']);
    expect(await a.removeSchedule('nightly')).toBe(true);
    expect((await a.readEvents({ queues: ['q'] })).events.length).toBeGreaterThan(0);
    await a.cleanupStaleWorkers('1h');
    await a.broker.ping(); // as the CLI's health checks do
    // A client in another app (another process would be the same) waits for a result too.
    const client = app();
    const echo = client.queue('q').task('double', async (_ctx, n: number) => n * 2);
    expect(await (await echo.enqueue(5)).result({ timeout: 20_000 })).toBe(10);
    await tracker.stopAll(); // the stop unblocks the worker's read: CLIENT UNBLOCK
    await sleep(100);

    const refused = (await aclLog(admin)).filter((e) => e.username === 'mr').map((e) => `${e.reason} ${e.object}`);
    expect(refused.filter((r) => r !== 'command config|get')).toEqual([]);
  });

  it('confines the user to its prefix: other keys, FLUSHALL, KEYS and CONFIG are refused', async () => {
    await admin.set('other:key', 'x');
    const mr = group.conn(port, { username: 'mr', password: PASSWORD });
    try {
      await expect(mr.get('other:key')).rejects.toThrow(/NOPERM/);
      await expect(mr.publish('other-channel', 'x')).rejects.toThrow(/NOPERM/);
      await expect(mr.flushall()).rejects.toThrow(/NOPERM/);
      await expect(mr.keys('*')).rejects.toThrow(/NOPERM/);
      await expect(mr.config('GET', 'requirepass')).rejects.toThrow(/NOPERM/);
      expect(await mr.set(`${prefix}:mine`, 'ok')).toBe('OK');
    } finally {
      group.drop(mr);
    }
  });

  it('fails at once on a wrong password: the enqueue and the worker start reject with WRONGPASS', async () => {
    const a = app({ username: 'mr', password: 'wrong' });
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await expect(double.enqueue(1)).rejects.toThrow(/^WRONGPASS invalid username-password pair/);
    await expect(tracker.start(a)).rejects.toThrow(/^WRONGPASS/);
    // Without the user name (as the default user) it fails the same way.
    const anon = app({ password: 'wrong' });
    await expect(anon.queue('q').task('double', async (_ctx, n: number) => n).enqueue(1)).rejects.toThrow(/WRONGPASS/);
  });
});
