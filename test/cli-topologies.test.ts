// The CLI run for real against a Sentinel set and a Cluster of the tests' own, configured only
// by the environment (REDIS_SENTINELS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES), as an
// operator would: a CLI worker, enqueue --wait, queues, workers, status, info, jobs, the DLQ,
// health and config. (test/cli-*.test.ts cover every command in depth on standalone Redis.)

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Millrace } from '../src/index.js';
import { uniquePrefix, waitFor } from './helpers.js';
import { killChildren, runCli, startCli } from './fixtures/children.js';
import { parseJson } from './fixtures/cli-setup.js';
import { startCluster } from './support/cluster.js';
import { startSentinelSet } from './support/sentinel.js';

interface Topology {
  name: string;
  start(): Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
}

const TOPOLOGIES: Topology[] = [
  {
    name: 'sentinel',
    async start() {
      const set = await startSentinelSet({ name: 'clitop' });
      return { env: { REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_MASTER: set.name }, stop: () => set.stop() };
    },
  },
  {
    name: 'cluster',
    async start() {
      const c = await startCluster();
      return { env: { REDIS_CLUSTER_NODES: c.nodeList }, stop: () => c.stop() };
    },
  },
];

const APP = 'test/fixtures/cli-app.mts';

describe.each(TOPOLOGIES)('the CLI on $name', { timeout: 120_000 }, (topology) => {
  let servers: Awaited<ReturnType<Topology['start']>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    servers = await topology.start();
  }, 90_000);
  afterAll(async () => {
    await servers?.stop();
  });
  afterEach(() => killChildren());

  it('runs a worker, enqueues and waits, and shows queues, workers, jobs and health', async () => {
    env = { ...servers.env, REDIS_URL: 'redis://127.0.0.1:1', MILLRACE_PREFIX: uniquePrefix(`cli${topology.name}`), MILLRACE_LOG_LEVEL: 'warn' };
    const worker = startCli(['worker', APP, '--queue', 'q', '--heartbeat-interval', '1'], env);
    const cli = (args: string[]) => runCli(args, env, 60_000);

    await waitFor(async () => (parseJson<unknown[]>(await cli(['workers', '--json'])).length === 1 ? true : undefined), { timeout: 30_000, what: 'the CLI worker in the registry' });
    const waited = await cli(['enqueue', 'echo', '["hi"]', '--queue', 'q', '--wait', '--id', 'job-1']);
    expect(waited.code).toBe(0);
    expect(JSON.parse(waited.stdout)).toMatchObject({ text: 'hi' });

    const [queues, status, info, jobs, health, config] = await Promise.all([
      cli(['queues', '--json']), cli(['status', 'job-1']), cli(['info', 'job-1', '--json']),
      cli(['jobs', '--status', 'completed', '--queue', 'q', '--json']), cli(['health', 'status', '--json']), cli(['config', '--json']),
    ]);
    expect(parseJson<{ name: string; workers: number }[]>(queues).map((r) => [r.name, r.workers])).toEqual([['q', 1]]);
    expect(status.stdout.trim()).toBe('completed');
    expect(parseJson<{ status: string; task: string }>(info)).toMatchObject({ status: 'completed', task: 'echo' });
    expect(parseJson<{ id: string }[]>(jobs).map((j) => j.id)).toEqual(['job-1']);
    expect(health.code).toBe(0);
    const settings = parseJson<Record<string, { source: string }>>(config);
    expect(settings[topology.name === 'cluster' ? 'redisCluster' : 'redisSentinels']).toMatchObject({ source: 'env' });

    worker.proc.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  });

  it('lists, replays and purges dead letters', async () => {
    const prefix = uniquePrefix(`clidlq${topology.name}`);
    env = { ...servers.env, REDIS_URL: 'redis://127.0.0.1:1', MILLRACE_PREFIX: prefix, MILLRACE_LOG_LEVEL: 'warn' };
    const app = new Millrace({ prefix, redis: servers.env.REDIS_CLUSTER_NODES ? { cluster: servers.env.REDIS_CLUSTER_NODES } : { sentinels: servers.env.REDIS_SENTINELS, name: servers.env.REDIS_SENTINEL_MASTER }, logLevel: 'silent' });
    try {
      const boom = app.queue('bad', { maxTries: 1 }).task('boom', async () => {
        throw new Error('kaboom');
      });
      const w = app.worker({ handleSignals: false, healthFile: false });
      await w.start();
      const jobs = await boom.enqueueMany([[], []]);
      await Promise.all(jobs.map((j) => j.result({ timeout: 20_000 }).catch(() => undefined)));
      await w.stop();
      const cli = (args: string[]) => runCli(args, env, 60_000);
      const list = parseJson<{ dlqId: string; error: string }[]>(await cli(['dlq', 'list', '--queue', 'bad', '--json']));
      expect(list).toHaveLength(2);
      expect(list[0]!.error).toContain('kaboom');
      const replay = await cli(['dlq', 'replay', '--queue', 'bad', list[0]!.dlqId]);
      expect(replay.code).toBe(0);
      expect(await app.inspector.dlqCount({ name: 'bad', levels: app.queue('bad').levels })).toBe(1);
      const purge = await cli(['dlq', 'purge', '--queue', 'bad', '--yes']);
      expect(purge.code).toBe(0);
      expect(await app.inspector.dlqCount({ name: 'bad', levels: app.queue('bad').levels })).toBe(0);
    } finally {
      await app.close();
    }
  });
});
