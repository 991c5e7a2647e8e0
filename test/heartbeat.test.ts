// Worker registry, heartbeats, health file, health key, healthcheck and stale-worker cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../src/index.js';
import { rawRedis, testApp, waitFor, type TestApp } from './helpers.js';

describe('heartbeats and health', () => {
  let t: TestApp<Record<string, never>>;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await t.cleanup();
  });

  function define() {
    return t.app.queue('q', { idleTimeout: 1000 }).task('noop', async () => undefined);
  }

  it('lists a running worker with its counters and removes it at stop', async () => {
    t = testApp({}, 'hb');
    const noop = define();
    const worker = t.app.worker({ handleSignals: false, heartbeatInterval: 100, heartbeatTtl: 1000, healthFile: false });
    await worker.start();
    const job = await noop.enqueue();
    await job.result({ timeout: 5000 });
    const entry = await waitFor(async () => (await t.app.workers()).find((w) => w.id === worker.id && w.processed === 1), { what: 'heartbeat with processed=1' });
    expect(entry).toMatchObject({ pid: process.pid, queues: ['q'], concurrency: 10, completed: 1, failed: 0 });
    expect(entry.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(entry.version).toMatch(/^\d+\.\d+\.\d+/);
    const redis = rawRedis();
    try {
      const health = JSON.parse((await redis.get(`{${t.prefix}:q}:health:${worker.id}`))!);
      expect(health).toMatchObject({ worker: worker.id, processed: 1 });
      expect(await redis.pttl(`{${t.prefix}:q}:health:${worker.id}`)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
    await worker.stop();
    expect(await t.app.workers()).toEqual([]);
  });

  it('creates the health file at start and removes it at stop', async () => {
    t = testApp({}, 'hbfile');
    define();
    const file = join(mkdtempSync(join(tmpdir(), 'millrace-')), 'healthy');
    // vitest sets MILLRACE_HEALTH_FILE=false, and the environment overrides code options.
    vi.stubEnv('MILLRACE_HEALTH_FILE', undefined);
    const worker = t.app.worker({ handleSignals: false, healthFile: file });
    vi.unstubAllEnvs();
    expect(existsSync(file)).toBe(false);
    await worker.start();
    expect(existsSync(file)).toBe(true);
    await worker.stop();
    expect(existsSync(file)).toBe(false);
  });

  it('rejects a heartbeat TTL not above the interval', () => {
    t = testApp({}, 'hbttl');
    define();
    expect(() => t.app.worker({ heartbeatInterval: '10s', heartbeatTtl: '10s' })).toThrow(ConfigError);
    expect(() => t.app.worker({ heartbeatInterval: '10s', heartbeatTtl: '5s' })).toThrow(/heartbeatTtl.*longer than the heartbeat interval/);
  });

  it('drops a killed worker from the registry within its TTL', async () => {
    t = testApp({}, 'hbkill');
    define();
    const worker = t.app.worker({ handleSignals: false, heartbeatInterval: 200, heartbeatTtl: 1000, healthFile: false });
    await worker.start();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/heartbeat-worker.mts', t.prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const childId = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => {
        const m = /ready (\S+)/.exec(b.toString());
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    await waitFor(async () => (await t.app.workers()).length === 2, { what: 'two workers' });
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await t.app.workers()).length === 1, { timeout: 3000, what: 'one worker' });
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect((await t.app.workers()).map((w) => w.id)).toEqual([worker.id]);
    expect(childId).not.toBe(worker.id);
    await worker.stop();
  });

  it('reports healthy, and unhealthy while the event loop is blocked', async () => {
    t = testApp({}, 'hbcheck');
    define();
    const worker = t.app.worker({ handleSignals: false, healthFile: false, maxEventLoopLag: 200 });
    await worker.start();
    const ok = await worker.healthcheck();
    expect(ok.problems).toEqual([]);
    expect(ok).toMatchObject({ healthy: true, status: 'running', broker: { connected: true } });
    expect(ok.lastFetchAt).toBeGreaterThan(0);
    const until = Date.now() + 500;
    while (Date.now() < until) {
      // Block the event loop on purpose.
    }
    const blocked = await worker.healthcheck();
    expect(blocked.healthy).toBe(false);
    expect(blocked.problems.join()).toMatch(/event loop blocked/);
    await worker.stop();
    expect((await worker.healthcheck()).healthy).toBe(false);
  });

  it('hands the pending jobs of a vanished consumer back to the queue', async () => {
    t = testApp({}, 'hbstale');
    const ran: string[] = [];
    const task = t.app.queue('q', { idleTimeout: 60_000 }).task('work', async (ctx) => {
      ran.push(ctx.id);
      return ctx.attempt;
    });
    const jobs = await task.enqueueMany([[], [], []]);
    // A consumer that took the jobs and vanished without ever heartbeating.
    const redis = rawRedis();
    try {
      await redis.xgroup('CREATE', `{${t.prefix}:q}:s:normal`, 'millrace', '0', 'MKSTREAM').catch(() => undefined);
      const got = await redis.xreadgroup('GROUP', 'millrace', 'ghost', 'COUNT', 10, 'STREAMS', `{${t.prefix}:q}:s:normal`, '>');
      expect((got as unknown[][])[0]![1]).toHaveLength(3);
    } finally {
      redis.disconnect();
    }
    const { workers, jobs: handedBack } = await t.app.cleanupStaleWorkers(0);
    expect(workers).toContain('ghost');
    expect(handedBack).toBe(3);
    const worker = t.app.worker({ handleSignals: false, healthFile: false });
    await worker.start();
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual([1, 1, 1]);
    expect(ran.sort()).toEqual(jobs.map((j) => j.id).sort());
    await worker.stop();
  });
});

describe('health when Redis is lost', () => {
  it('turns unhealthy and removes the health file, then recovers when Redis is back', async () => {
    const { RedisServer } = await import('../support/redis-server.js');
    const redis = await RedisServer.start();
    const t = testApp({ redis: redis.url }, 'hblost');
    // testApp's redis option is overridden by REDIS_URL in the environment; point it here.
    const prev = process.env.REDIS_URL;
    process.env.REDIS_URL = redis.url;
    const file = join(mkdtempSync(join(tmpdir(), 'millrace-')), 'healthy');
    try {
      const noop = t.app.queue('q').task('noop', async () => 'ok');
      vi.stubEnv('MILLRACE_HEALTH_FILE', undefined);
      const worker = t.app.worker({ handleSignals: false, healthFile: file, heartbeatInterval: 200, heartbeatTtl: 1000 });
      vi.unstubAllEnvs();
      await worker.start();
      expect((await worker.healthcheck()).healthy).toBe(true);
      expect(existsSync(file)).toBe(true);

      await redis.kill();
      const down = await waitFor(async () => {
        const h = await worker.healthcheck();
        return !h.healthy && !existsSync(file) ? h : undefined;
      }, { timeout: 8000, what: 'unhealthy with the file gone' });
      expect(down.broker.connected).toBe(false);
      expect(down.problems.join(' ')).toMatch(/Redis does not answer/);

      await redis.up();
      await waitFor(async () => (await worker.healthcheck()).healthy && existsSync(file), { timeout: 10_000, what: 'healthy again' });
      // It fetches again by itself: a new job runs.
      expect(await (await noop.enqueue()).result({ timeout: 10_000 })).toBe('ok');
      await worker.stop();
    } finally {
      process.env.REDIS_URL = prev;
      await t.app.close();
      await redis.stop();
    }
  }, 40_000);
});
