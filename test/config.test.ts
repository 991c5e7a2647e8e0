// Configuration: code < environment (.env read) < flags for app, worker and queue settings; bad
// values fail naming the variable or flag; REDIS_URL_LOCAL outside containers; the CLI's flags win.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, Registry } from '../src/index.js';
import { checkConnectionBudget, checkHeartbeat, resolveConfig, type Layer } from '../src/config.js';
import { resolveRedisSettings } from '../src/settings.js';
import { settingsToCheck } from '../src/redis/connection.js';
import { testApp, waitFor, type TestApp } from './helpers.js';
import { killChildren, runCli, startCli } from './fixtures/children.js';

/** Runs fn and returns the ConfigError it throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const NO_DOTENV = { dotenv: false } as const;
const HEARTBEAT = { keys: ['heartbeatInterval', 'heartbeatTtl'] as const, dotenv: false as const };

describe('resolveConfig precedence', () => {
  it('takes flags over environment over code over defaults, for worker settings', () => {
    const keys = { keys: ['concurrency', 'shutdownTimeout', 'deadLetter'] as const, dotenv: false as const };
    expect(resolveConfig({}, {}, {}, keys).sources.concurrency.source).toBe('default');
    const code = resolveConfig({ concurrency: 2, shutdownTimeout: 5000 }, {}, {}, keys);
    expect(code.values).toMatchObject({ concurrency: 2, shutdownTimeout: 5000 });
    expect(code.sources.concurrency).toEqual({ source: 'code', name: 'worker.concurrency', raw: 2 });

    const env = { MILLRACE_WORKER_CONCURRENCY: '3', MILLRACE_SHUTDOWN_TIMEOUT: '7', MILLRACE_USE_DEAD_LETTER_QUEUE: 'no' };
    const fromEnv = resolveConfig({ concurrency: 2, shutdownTimeout: 5000, deadLetter: true }, env, {}, keys);
    expect(fromEnv.values).toEqual({ concurrency: 3, shutdownTimeout: 7000, deadLetter: false });
    expect(fromEnv.sources.concurrency).toEqual({ source: 'env', name: 'MILLRACE_WORKER_CONCURRENCY', raw: '3' });

    const fromFlags = resolveConfig({ concurrency: 2 }, env, { concurrency: '4', shutdownTimeout: '1m', deadLetter: true }, keys);
    expect(fromFlags.values).toEqual({ concurrency: 4, shutdownTimeout: 60_000, deadLetter: true });
    expect(fromFlags.sources.concurrency).toEqual({ source: 'flag', name: '--concurrency', raw: '4' });
  });

  it("reads the seeds' names, the MILLRACE_ name winning over the alias", () => {
    const keys = { keys: ['concurrency', 'processes', 'queues', 'jobTimeout', 'environment'] as const, dotenv: false as const };
    const seeds = { WORKER_CONCURRENCY: '6', WORKER_PROCESSES: '2', WORKER_QUEUE_TYPE: 'system', WORKER_TIMEOUT_SECONDS: '1800', ENVIRONMENT: 'production' };
    expect(resolveConfig({}, seeds, {}, keys).values).toEqual({ concurrency: 6, processes: 2, queues: ['system'], jobTimeout: 1_800_000, environment: 'production' });
    const both = resolveConfig({}, { ...seeds, MILLRACE_WORKER_CONCURRENCY: '9', MILLRACE_QUEUE: 'a, b' }, {}, keys);
    expect(both.values).toMatchObject({ concurrency: 9, queues: ['a', 'b'] });
  });

  it('reads a .env file, where variables already set win', () => {
    const dir = mkdtempSync(join(tmpdir(), 'millrace-env-'));
    try {
      const path = join(dir, '.env');
      writeFileSync(path, '# local settings\nMILLRACE_PREFIX=from_dotenv\nREDIS_DB=2\nexport ENVIRONMENT="development"  \nWORKER_MAX_TRIES=4 # comment\n');
      const env: NodeJS.ProcessEnv = { REDIS_DB: '1' };
      const r = resolveConfig({ prefix: 'from_code' }, env, {}, { keys: ['prefix', 'redisDb', 'environment', 'maxTries'], dotenv: path });
      expect(r.values).toEqual({ prefix: 'from_dotenv', redisDb: 1, environment: 'development', maxTries: 4 });
      expect(r.sources.prefix).toEqual({ source: 'env', name: 'MILLRACE_PREFIX', raw: 'from_dotenv' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails on a bad value, naming the variable or flag and what it accepts', () => {
    let err = configError(() => resolveConfig({}, { WORKER_MAX_TRIES: '0' }, {}, NO_DOTENV));
    expect(err.option).toBe('WORKER_MAX_TRIES');
    expect(err.accepted).toBe('an integer >= 1');
    err = configError(() => resolveConfig({}, { REDIS_SSL: 'maybe' }, {}, NO_DOTENV));
    expect(err.message).toMatch(/'REDIS_SSL' \(got "maybe"\): expected true or false/);
    err = configError(() => resolveConfig({}, { MILLRACE_HEARTBEAT_INTERVAL: 'soon' }, {}, NO_DOTENV));
    expect(err).toMatchObject({ option: 'MILLRACE_HEARTBEAT_INTERVAL', accepted: expect.stringMatching(/seconds/) });
    err = configError(() => resolveConfig({}, { MILLRACE_LOG_LEVEL: 'loud' }, {}, NO_DOTENV));
    expect(err.accepted).toContain('debug');
    err = configError(() => resolveConfig({}, {}, { concurrency: 'many' }, NO_DOTENV));
    expect(err.option).toBe('--concurrency');
  });

  it('reads durations from code as milliseconds or a duration, and names the option when one is bad', () => {
    const keys = { keys: ['heartbeatInterval', 'shutdownTimeout'] as const, dotenv: false as const };
    expect(resolveConfig({ heartbeatInterval: '10s', shutdownTimeout: 1500 }, {}, {}, keys).values).toEqual({ heartbeatInterval: 10_000, shutdownTimeout: 1500 });
    const err = configError(() => resolveConfig({ heartbeatInterval: 'soon' }, {}, {}, keys));
    expect(err.message).toBe("invalid option 'worker.heartbeatInterval' (got \"soon\"): expected milliseconds > 0 or a duration like '10s'");
    expect(configError(() => resolveConfig({ shutdownTimeout: -1 }, {}, {}, keys)).option).toBe('worker.shutdownTimeout');
  });

  it('checks the heartbeat TTL against the interval, quoting each as given where it was set', () => {
    const check = (code: Layer, env: NodeJS.ProcessEnv, flags: Layer = {}) => configError(() => checkHeartbeat(resolveConfig(code, env, flags, HEARTBEAT)));
    let err = check({}, { MILLRACE_HEARTBEAT_INTERVAL: '5', MILLRACE_HEARTBEAT_TTL: '2' });
    expect(err.message).toBe(
      "invalid option 'MILLRACE_HEARTBEAT_TTL' (got \"2\"): expected a heartbeat TTL longer than the heartbeat interval " +
        '(MILLRACE_HEARTBEAT_INTERVAL "5", 5 s), so one late beat does not expire the worker',
    );
    err = check({}, {}, { heartbeatInterval: '5', heartbeatTtl: '2' });
    expect(err).toMatchObject({ option: '--heartbeat-ttl', accepted: expect.stringContaining('(--heartbeat-interval "5", 5 s)') });
    expect(err.message).toContain('(got "2")');
    err = check({ heartbeatInterval: '10s', heartbeatTtl: 5000 }, {});
    expect(err.message).toMatch(/^invalid option 'worker.heartbeatTtl' \(got 5000\): .*\(worker.heartbeatInterval "10s", 10 s\)/);
    // Only the interval set: it is the one to change.
    err = check({}, { MILLRACE_HEARTBEAT_INTERVAL: '45s' });
    expect(err.message).toBe(
      "invalid option 'MILLRACE_HEARTBEAT_INTERVAL' (got \"45s\"): expected a heartbeat interval shorter than the heartbeat TTL " +
        '(the default, 30 s; MILLRACE_HEARTBEAT_TTL or --heartbeat-ttl sets it), so one late beat does not expire the worker',
    );
    expect(() => checkHeartbeat(resolveConfig({}, { MILLRACE_HEARTBEAT_INTERVAL: '5', MILLRACE_HEARTBEAT_TTL: '5.5' }, {}, HEARTBEAT))).not.toThrow();
  });

  it('uses REDIS_URL_LOCAL outside a container and REDIS_URL inside one', () => {
    const env = { REDIS_URL: 'redis://redis:6379', REDIS_URL_LOCAL: 'redis://localhost:6380', REDIS_DB: '3', REDIS_CONNECTION_TIMEOUT: '2' };
    expect(resolveRedisSettings('redis://code:6379', env)).toMatchObject({ url: 'redis://localhost:6380', db: 3, connectTimeout: 2000 });
    expect(resolveRedisSettings(undefined, { ...env, DOCKER_CONTAINER: '1' }).url).toBe('redis://redis:6379');
    expect(resolveRedisSettings('redis://code:6379', {}).url).toBe('redis://code:6379');
    expect(configError(() => resolveRedisSettings(undefined, { REDIS_URL: 'http://x' })).option).toBe('REDIS_URL');
  });

  it('checks REDIS_MAX_CONNECTIONS against what a worker opens', () => {
    expect(checkConnectionBudget(2, false, { REDIS_MAX_CONNECTIONS: '4' })).toBe(4);
    const err = configError(() => checkConnectionBudget(3, false, { REDIS_MAX_CONNECTIONS: '4' }));
    expect(err.option).toBe('REDIS_MAX_CONNECTIONS');
    expect(err.accepted).toMatch(/at least 5/);
    expect(err.message).toContain('(got "4")');
    // Durable writes WAIT on a connection of their own.
    const durable = configError(() => checkConnectionBudget(2, true, { REDIS_MAX_CONNECTIONS: '4' }));
    expect(durable.accepted).toMatch(/at least 5: .*and one for durable writes/);
  });
});

describe('settings applied', () => {
  let t: TestApp<Record<string, never>> | undefined;
  afterEach(async () => {
    vi.unstubAllEnvs();
    killChildren();
    await t?.cleanup();
    t = undefined;
  });

  it('lets queue settings from the environment override the queue, not a task', () => {
    vi.stubEnv('WORKER_MAX_TRIES', '5');
    vi.stubEnv('WORKER_TIMEOUT_SECONDS', '90');
    vi.stubEnv('WORKER_KEEP_RESULT_SECONDS', '60');
    const reg = new Registry();
    const q = reg.queue('q', { maxTries: 2, jobTimeout: '10s', resultTtl: '1h' });
    expect(q.options).toMatchObject({ maxTries: 5, jobTimeout: 90_000, resultTtl: 60 });
    expect(q.task('plain', () => 1).options).toMatchObject({ maxTries: 5, timeout: 90_000 });
    expect(q.task('own', () => 1, { maxTries: 1, timeout: '1s' }).options).toMatchObject({ maxTries: 1, timeout: 1000 });
    vi.stubEnv('WORKER_MAX_TRIES', 'x');
    expect(configError(() => new Registry().queue('r')).option).toBe('WORKER_MAX_TRIES');
  });

  it('lets the environment override worker options and flags override both', () => {
    const app = (t = testApp({}, 'cfg')).app;
    app.queue('a', { concurrency: 2 });
    app.queue('b', { concurrency: 2 });
    const worker = (options: Parameters<typeof app.worker>[0]) => app.worker({ handleSignals: false, ...options });
    expect(worker({ concurrency: 3 }).entry().concurrency).toBe(6);
    vi.stubEnv('MILLRACE_WORKER_CONCURRENCY', '4');
    vi.stubEnv('WORKER_QUEUE_TYPE', 'b');
    vi.stubEnv('ENVIRONMENT', 'staging');
    const w = worker({ concurrency: 3, queues: ['a', 'b'] });
    expect(w.entry()).toMatchObject({ concurrency: 4, queues: ['b'], environment: 'staging' });
    expect(worker({ concurrency: 3, flags: { concurrency: 7, queues: ['a', 'b'] } }).entry()).toMatchObject({ concurrency: 14, queues: ['a', 'b'] });
    expect(() => worker({ heartbeatInterval: '10s', heartbeatTtl: '5s' })).toThrow(/^invalid option 'worker.heartbeatTtl' \(got "5s"\): .*longer than the heartbeat interval \(worker.heartbeatInterval "10s", 10 s\)/);
    expect(configError(() => worker({ heartbeatTtl: 'soon' })).message).toContain("'worker.heartbeatTtl' (got \"soon\")");
    vi.stubEnv('MILLRACE_HEARTBEAT_TTL', '5');
    expect(() => worker({ heartbeatInterval: '10s' })).toThrow(/'MILLRACE_HEARTBEAT_TTL' \(got "5"\): .*\(worker.heartbeatInterval "10s", 10 s\)/);
    vi.stubEnv('REDIS_MAX_CONNECTIONS', '2');
    expect(configError(() => worker({})).option).toBe('REDIS_MAX_CONNECTIONS');
  });

  it('takes the app settings from the environment over code', () => {
    vi.stubEnv('MILLRACE_SIGNING_SECRET', 'env-secret');
    vi.stubEnv('MILLRACE_EVENTS', 'false');
    vi.stubEnv('ENVIRONMENT', 'production');
    t = testApp({ signingSecret: 'code-secret', events: { maxLen: 50 } }, 'cfg');
    expect(t.app).toMatchObject({ signingSecret: 'env-secret', eventsMaxLen: 0, environment: 'production' });
    vi.stubEnv('MILLRACE_EVENTS', '-1');
    expect(configError(() => testApp({}, 'cfg')).option).toBe('MILLRACE_EVENTS');
  });

  it('millrace worker: --concurrency beats MILLRACE_WORKER_CONCURRENCY', async () => {
    t = testApp({}, 'cfgcli');
    startCli(['worker', 'test/fixtures/cli-app.mts', '--queue', 'q', '--concurrency', '7'], { MILLRACE_PREFIX: t.prefix, MILLRACE_WORKER_CONCURRENCY: '3' });
    const entry = await waitFor(async () => (await t!.app.workers())[0], { timeout: 15_000, what: 'the worker registered' });
    expect(entry).toMatchObject({ queues: ['q'], concurrency: 7 });
  });

  it('millrace config: prints values with their sources and rejects bad ones', async () => {
    const r = await runCli(['config', '--json', '--concurrency', '8'], { WORKER_CONCURRENCY: '5', MILLRACE_SHUTDOWN_TIMEOUT: '12', REDIS_PASSWORD: 'pw', REDIS_URL: 'redis://app:s3cret@127.0.0.1:6379/0' });
    expect(r.code).toBe(0);
    const cfg = JSON.parse(r.stdout) as Record<string, { value: unknown; source: string; from?: string }>;
    expect(cfg.concurrency).toMatchObject({ value: 8, source: 'flag', from: '--concurrency' });
    expect(cfg.shutdownTimeout).toMatchObject({ value: 12_000, source: 'env', from: 'MILLRACE_SHUTDOWN_TIMEOUT' });
    expect(cfg.redisPassword).toMatchObject({ value: '***', source: 'env' });
    // A URL's password is hidden too; the rest of it stays readable.
    expect(cfg.redisUrl).toMatchObject({ value: 'redis://app:***@127.0.0.1:6379/0', source: 'env' });
    expect(r.stdout).not.toContain('s3cret');
    expect(cfg.heartbeatTtl).toMatchObject({ value: 30_000, source: 'default' });
    const bad = await runCli(['config'], { WORKER_PROCESSES: 'two' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'WORKER_PROCESSES' \(got "two"\): expected an integer >= 1/);
    // The one line naming a bad URL does not print its password.
    const badUrl = await runCli(['config'], { REDIS_URL: 'redis-sentinel://:s3cret@sentinel-1/mymaster' });
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain("'REDIS_URL'");
    expect(badUrl.stderr).toContain('redis-sentinel://:***@sentinel-1/mymaster');
    expect(badUrl.stderr).not.toContain('s3cret');
  });
});

describe('Redis Sentinel settings', () => {
  const SENTINELS = [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }];

  it('reads REDIS_SENTINELS, REDIS_SENTINEL_MASTER and REDIS_SENTINEL_PASSWORD over the code, and the code alone', () => {
    const env = { REDIS_SENTINELS: ' s1:26379, s2:26380 ', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_SENTINEL_PASSWORD: 'spw', REDIS_PASSWORD: 'pw', REDIS_DB: '1' };
    expect(resolveRedisSettings({ sentinels: [{ host: 'code', port: 1 }], name: 'code' }, env)).toMatchObject({
      sentinels: SENTINELS, name: 'mymaster', sentinelPassword: 'spw', password: 'pw', db: 1, url: 'redis-sentinel://s1:26379,s2:26380/mymaster',
    });
    expect(resolveRedisSettings({ sentinels: SENTINELS, name: 'm', sentinelUsername: 'su', sentinelPassword: 'sp' }, {})).toMatchObject({
      sentinels: SENTINELS, name: 'm', sentinelUsername: 'su', sentinelPassword: 'sp', tls: false,
    });
    expect(resolveRedisSettings({ sentinels: 's1:26379,[::1]:26380', name: 'm' }, {}).sentinels).toEqual([{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }]);
    expect(resolveRedisSettings(undefined, { MILLRACE_REDIS_SENTINELS: 's1:1', REDIS_SENTINELS: 's2:2', MILLRACE_REDIS_SENTINEL_MASTER: 'm' }).sentinels).toEqual([{ host: 's1', port: 1 }]);
  });

  it('takes the sentinels or the URL from the later layer, the sentinels on a tie', () => {
    const code = { sentinels: SENTINELS, name: 'm' };
    const standalone = resolveRedisSettings(code, { REDIS_URL: 'redis://other:6379' });
    expect([standalone.url, standalone.sentinels]).toEqual(['redis://other:6379', undefined]);
    expect(resolveRedisSettings('redis://code:6379', { REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm' }).sentinels).toEqual([SENTINELS[0]]);
    expect(resolveRedisSettings(undefined, { REDIS_URL: 'redis://x:6379', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm' }).name).toBe('m');
    expect(resolveRedisSettings({ ...code, url: 'redis://code:6379' }, {}).name).toBe('m');
  });

  it('reads a redis-sentinel:// URL: sentinels, master name, credentials of the data nodes, db', () => {
    expect(resolveRedisSettings('redis-sentinel://u:p%40ss@s1:26379,s2:26380/mymaster?db=3', {})).toMatchObject({
      sentinels: SENTINELS, name: 'mymaster', username: 'u', password: 'p@ss', db: 3, url: 'redis-sentinel://s1:26379,s2:26380/mymaster',
    });
    expect(resolveRedisSettings(undefined, { REDIS_URL: 'redis-sentinel://:pw@s1:26379/m', REDIS_DB: '4', REDIS_SENTINEL_MASTER: 'other' })).toMatchObject({
      password: 'pw', db: 4, name: 'other', sentinels: [SENTINELS[0]],
    });
  });

  it.each([
    [{ REDIS_SENTINELS: 's1' }, 'REDIS_SENTINELS', "'s1' has no port"],
    [{ REDIS_SENTINELS: ':26379' }, 'REDIS_SENTINELS', "':26379' has no host"],
    [{ REDIS_SENTINELS: 's1:0' }, 'REDIS_SENTINELS', 'port 0, out of 1-65535'],
    [{ REDIS_SENTINELS: 's1:65536' }, 'REDIS_SENTINELS', 'port 65536, out of 1-65535'],
    [{ REDIS_SENTINELS: 's1:port' }, 'REDIS_SENTINELS', 'not a number'],
    [{ REDIS_SENTINELS: 's1:1,,s2:2' }, 'REDIS_SENTINELS', 'an empty address'],
    [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINELS', 'set REDIS_SENTINEL_MASTER (redis.name) too'],
    [{ MILLRACE_REDIS_SENTINEL_MASTER: 'm' }, 'MILLRACE_REDIS_SENTINEL_MASTER', 'together with sentinels'],
    [{ REDIS_URL: 'redis-sentinel://s1:26379' }, 'REDIS_URL', 'no master name'],
    [{ REDIS_URL: 'redis-sentinel://s1:26379/m/x' }, 'REDIS_URL', 'the master name alone'],
    [{ REDIS_URL: 'redis-sentinel:///m' }, 'REDIS_URL', 'no sentinel host:port'],
    [{ REDIS_URL: 'redis-sentinel://pw@s1:1/m' }, 'REDIS_URL', "':password@'"],
    [{ REDIS_URL: 'redis-sentinel://s1:1/m?db=x' }, 'REDIS_URL', 'db=x is not an integer'],
    [{ REDIS_URL: 'redis-sentinel://s1:1/m?password=x' }, 'REDIS_URL', "'password' is not a query parameter"],
    [{ REDIS_URL_LOCAL: 'redis-sentinel://s1/m' }, 'REDIS_URL_LOCAL', "'s1' has no port"],
  ])('fails on %j naming %s: %s', (env, option, says) => {
    const err = configError(() => resolveRedisSettings(undefined, env));
    expect(err.option).toBe(option);
    expect(err.message).toContain(says);
    expect(err.message).toContain(`(got ${JSON.stringify(Object.values(env)[0])})`);
  });

  it('names the code option when the code is wrong', () => {
    expect(configError(() => resolveRedisSettings({ sentinels: [{ host: 's', port: 70000 }], name: 'm' }, {})).option).toBe('redis.sentinels');
    expect(configError(() => resolveRedisSettings({ sentinels: SENTINELS }, {})).message).toMatch(/^invalid option 'redis.sentinels' \(got \[.*\]\): expected sentinels together with/);
    expect(configError(() => resolveRedisSettings({ url: 'redis-sentinel://s:1' }, {})).option).toBe('redis.url');
    expect(configError(() => resolveRedisSettings({ sentinels: 's', name: 'm' }, {})).message).toContain("'s' has no port");
  });
});

describe('Redis Cluster settings', () => {
  const NODES = [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }];

  it('reads REDIS_CLUSTER_NODES over the code, the code alone, credentials and TLS of their own', () => {
    expect(resolveRedisSettings({ cluster: [{ host: 'code', port: 1 }] }, { REDIS_CLUSTER_NODES: 'n1:7000, n2:7001', REDIS_PASSWORD: 'pw', REDIS_SSL: 'true' })).toMatchObject({
      cluster: NODES, password: 'pw', tls: true, url: 'redis-cluster://n1:7000,n2:7001',
    });
    const natMap = { '10.0.0.1:7000': { host: 'n1', port: 17000 } };
    expect(resolveRedisSettings({ cluster: 'n1:7000,n2:7001', username: 'u', natMap }, {})).toMatchObject({ cluster: NODES, username: 'u', natMap, tls: false });
    expect(resolveRedisSettings(undefined, { MILLRACE_REDIS_CLUSTER_NODES: 'n1:7000', REDIS_CLUSTER_NODES: 'n2:7001' }).cluster).toEqual([NODES[0]]);
  });

  it('takes the nodes or the URL from the later layer, the nodes on a tie', () => {
    const standalone = resolveRedisSettings({ cluster: NODES }, { REDIS_URL: 'redis://other:6379' });
    expect([standalone.url, standalone.cluster]).toEqual(['redis://other:6379', undefined]);
    expect(resolveRedisSettings('redis://code:6379', { REDIS_CLUSTER_NODES: 'n1:7000' }).cluster).toEqual([NODES[0]]);
    expect(resolveRedisSettings(undefined, { REDIS_URL: 'redis://x:6379', REDIS_CLUSTER_NODES: 'n1:7000' }).cluster).toEqual([NODES[0]]);
  });

  it.each([
    [{ REDIS_CLUSTER_NODES: 'n1' }, 'REDIS_CLUSTER_NODES', "'n1' has no port"],
    [{ REDIS_CLUSTER_NODES: 'n1:7000,' }, 'REDIS_CLUSTER_NODES', 'an empty address'],
    [{ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_CLUSTER_NODES', 'Cluster nodes or Sentinels, not both (REDIS_SENTINELS is set too)'],
    [{ REDIS_DB: '2', REDIS_CLUSTER_NODES: 'n1:7000' }, 'REDIS_DB', '0 or unset: a Redis Cluster has database 0 only'],
  ])('fails on %j naming %s: %s', (env, option, says) => {
    const err = configError(() => resolveRedisSettings(undefined, env));
    expect(err.option).toBe(option);
    expect(err.message).toContain(says);
    expect(err.message).toContain(`(got ${JSON.stringify(Object.values(env)[0])})`);
  });

  it('names the code option when the code is wrong', () => {
    expect(configError(() => resolveRedisSettings({ cluster: [{ host: 'n', port: 0 }] }, {})).option).toBe('redis.cluster');
    expect(configError(() => resolveRedisSettings({ cluster: NODES, db: 1 }, {})).message).toMatch(/^invalid option 'redis.db' \(got 1\): expected 0 or unset/);
    expect(configError(() => resolveRedisSettings({ cluster: NODES, sentinels: 's:1', name: 'm' }, {})).option).toBe('redis.cluster');
  });
});

describe('redis-cluster:// URLs', () => {
  it('reads the seed nodes and credentials; the credential settings win', () => {
    expect(resolveRedisSettings('redis-cluster://u:p%40ss@n1:7000,[::1]:7001', {})).toMatchObject({
      cluster: [{ host: 'n1', port: 7000 }, { host: '::1', port: 7001 }], username: 'u', password: 'p@ss', url: 'redis-cluster://n1:7000,[::1]:7001',
    });
    expect(resolveRedisSettings(undefined, { REDIS_URL: 'redis-cluster://:pw@n1:7000/', REDIS_PASSWORD: 'other' })).toMatchObject({ password: 'other' });
  });

  it.each([
    ['redis-cluster://', 'no node host:port given'],
    ['redis-cluster://n1', "'n1' has no port"],
    ['redis-cluster://n1:7000/2', 'no path, query or fragment'],
    ['redis-cluster://n1:7000?db=1', 'no path, query or fragment'],
  ])('fails on %s: %s', (url, says) => {
    const err = configError(() => resolveRedisSettings(undefined, { REDIS_URL: url }));
    expect(err.option).toBe('REDIS_URL');
    expect(err.message).toContain(says);
  });

  it('fails on a db with a Cluster URL, naming the db', () => {
    expect(configError(() => resolveRedisSettings(undefined, { REDIS_URL: 'redis-cluster://n1:7000', REDIS_DB: '3' })).option).toBe('REDIS_DB');
  });
});

describe('connection errors that waiting will not mend', () => {
  const error = (message: string, code?: string) => Object.assign(new Error(message), { code });

  it('names the settings to check for a refused certificate or credentials, nothing for an outage', () => {
    expect(settingsToCheck(error('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'))).toMatch(/REDIS_TLS_CA_FILE/);
    expect(settingsToCheck(error("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'))).toMatch(/REDIS_TLS_SERVERNAME/);
    expect(settingsToCheck(error('WRONGPASS invalid username-password pair or user is disabled.'))).toMatch(/REDIS_PASSWORD/);
    expect(settingsToCheck(error('NOPERM User mr has no permissions to run the \'cluster|info\' command'))).toMatch(/ACL rule/);
    expect(settingsToCheck(error('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))).toBeUndefined();
    expect(settingsToCheck(error('read ECONNRESET', 'ECONNRESET'))).toBeUndefined();
  });

  it("under Sentinel names the sentinels' credentials for their refusal, and the sentinels' TLS settings", () => {
    const sentinels = resolveRedisSettings(undefined, { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' });
    const round = (last: string) => error(`All sentinels are unreachable. Retrying from scratch after 100ms. Last error: ${last}`);
    expect(settingsToCheck(round('WRONGPASS invalid username-password pair or user is disabled.'), sentinels)).toMatch(/^the sentinels' credentials: REDIS_SENTINEL_USERNAME \/ REDIS_SENTINEL_PASSWORD/);
    expect(settingsToCheck(round("NOPERM this user has no permissions to run the 'sentinel|sentinels' command"))).toMatch(/the user's rule on the sentinels/);
    expect(settingsToCheck(round('Connection is closed.'), sentinels)).toBeUndefined();
    // The master's own refusal is the data nodes' credentials, as on one Redis.
    expect(settingsToCheck(error('WRONGPASS invalid username-password pair or user is disabled.'), sentinels)).toMatch(/^the credentials: REDIS_USERNAME/);
    expect(settingsToCheck(error('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), sentinels)).toMatch(/REDIS_TLS_CA_FILE .*the sentinels and the master.*REDIS_SENTINEL_TLS/);
    expect(settingsToCheck(error('ssl3_get_record:wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'), sentinels)).toMatch(/REDIS_SENTINEL_TLS, REDIS_SSL/);
  });
});
