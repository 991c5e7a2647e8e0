// Every invalid setting, from any source (variable, .env file, flag, code option), makes the CLI
// exit 2 with one line on stderr naming the variable or flag and the value as given: checked on
// the real `millrace` process for `worker`, the commands taking --app, and `config`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeKeys, uniquePrefix } from './helpers.js';
import { BIN, killChildren, ROOT, runCli } from './fixtures/children.js';

const APP = 'examples/app.ts';
const BAD_CODE_APP = 'test/fixtures/bad-options-app.mts';
// A worker that wrongly passes validation stops at once (--burst) under a prefix of its own.
const PREFIX = uniquePrefix('clisettings');

interface Case {
  /** Arguments after the command, and variables on top of the test's environment. */
  args?: string[];
  env?: Record<string, string>;
  /** What the one line must contain: the name as the user wrote it, the value as given, ... */
  says: string[];
}

/** Asserts the CLI's answer to a bad setting: exit 2, one line, no stack trace. */
function expectOneLine(r: { code: number | null; stderr: string }, says: string[]): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect({ code: r.code, lines: lines.length }, r.stderr).toEqual({ code: 2, lines: 1 });
  for (const text of says) expect(lines[0]).toContain(text);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

const ENV_CASES: Record<string, Case> = {
  'WORKER_MAX_TRIES=0': { env: { WORKER_MAX_TRIES: '0' }, says: ["'WORKER_MAX_TRIES'", '"0"', 'an integer >= 1'] },
  'WORKER_TIMEOUT_SECONDS=forever': { env: { WORKER_TIMEOUT_SECONDS: 'forever' }, says: ["'WORKER_TIMEOUT_SECONDS'", '"forever"', 'seconds > 0'] },
  'WORKER_KEEP_RESULT_SECONDS=-1': { env: { WORKER_KEEP_RESULT_SECONDS: '-1' }, says: ["'WORKER_KEEP_RESULT_SECONDS'", '"-1"', 'seconds >= 0'] },
  'MILLRACE_PREFIX=bad prefix!': { env: { MILLRACE_PREFIX: 'bad prefix!' }, says: ["'MILLRACE_PREFIX'", '"bad prefix!"', '1-64 letters'] },
  'REDIS_URL=http://x': { env: { REDIS_URL: 'http://x' }, says: ["'REDIS_URL'", '"http://x"', 'redis://'] },
  'REDIS_URL_LOCAL=localhost': { env: { REDIS_URL_LOCAL: 'localhost' }, says: ["'REDIS_URL_LOCAL'", '"localhost"', 'redis://'] },
  'REDIS_DB=abc': { env: { REDIS_DB: 'abc' }, says: ["'REDIS_DB'", '"abc"', 'an integer >= 0'] },
  'REDIS_SSL=maybe': { env: { REDIS_SSL: 'maybe' }, says: ["'REDIS_SSL'", '"maybe"', 'true or false'] },
  'REDIS_CONNECTION_TIMEOUT=0': { env: { REDIS_CONNECTION_TIMEOUT: '0' }, says: ["'REDIS_CONNECTION_TIMEOUT'", '"0"', 'seconds > 0'] },
  'REDIS_SOCKET_KEEPALIVE=x': { env: { REDIS_SOCKET_KEEPALIVE: 'x' }, says: ["'REDIS_SOCKET_KEEPALIVE'", '"x"', 'true or false'] },
  'REDIS_MAX_CONNECTIONS=0': { env: { REDIS_MAX_CONNECTIONS: '0' }, says: ["'REDIS_MAX_CONNECTIONS'", '"0"', 'an integer >= 1'] },
  'REDIS_MAX_CONNECTIONS=2 (too few for the queues)': { env: { REDIS_MAX_CONNECTIONS: '2' }, says: ["'REDIS_MAX_CONNECTIONS'", '"2"', 'at least 4'] },
  'REDIS_SENTINELS=sentinel-1 (no port)': { env: { REDIS_SENTINELS: 'sentinel-1', REDIS_SENTINEL_MASTER: 'm' }, says: ["'REDIS_SENTINELS'", '"sentinel-1"', 'host:port pairs', "'sentinel-1' has no port"] },
  'REDIS_SENTINELS=s:26379,s:70000': { env: { REDIS_SENTINELS: 's:26379,s:70000', REDIS_SENTINEL_MASTER: 'm' }, says: ["'REDIS_SENTINELS'", '"s:26379,s:70000"', 'out of 1-65535'] },
  'REDIS_SENTINELS without REDIS_SENTINEL_MASTER': { env: { REDIS_SENTINELS: 's:26379' }, says: ["'REDIS_SENTINELS'", '"s:26379"', 'REDIS_SENTINEL_MASTER'] },
  'REDIS_SENTINEL_MASTER without sentinels': { env: { REDIS_SENTINEL_MASTER: 'm' }, says: ["'REDIS_SENTINEL_MASTER'", '"m"', 'REDIS_SENTINELS'] },
  'REDIS_TLS_CA_FILE=/nonexistent/ca.pem': { env: { REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, says: ["'REDIS_TLS_CA_FILE'", '"/nonexistent/ca.pem"', 'a readable PEM file of CA certificates', 'no such file'] },
  'REDIS_TLS_CERT_FILE=/etc/hostname (no certificate)': { env: { REDIS_TLS_CERT_FILE: '/etc/hostname' }, says: ["'REDIS_TLS_CERT_FILE'", '"/etc/hostname"', 'no PEM certificate'] },
  'REDIS_SENTINEL_TLS=maybe': { env: { REDIS_SENTINEL_TLS: 'maybe' }, says: ["'REDIS_SENTINEL_TLS'", '"maybe"', 'true or false'] },
  'REDIS_TLS_REJECT_UNAUTHORIZED=maybe': { env: { REDIS_TLS_REJECT_UNAUTHORIZED: 'maybe' }, says: ["'REDIS_TLS_REJECT_UNAUTHORIZED'", '"maybe"', 'true or false'] },
  'REDIS_URL=redis-sentinel://s:26379 (no master name)': { env: { REDIS_URL: 'redis-sentinel://s:26379' }, says: ["'REDIS_URL'", '"redis-sentinel://s:26379"', 'master name'] },
  'MILLRACE_LOG_LEVEL=loud': { env: { MILLRACE_LOG_LEVEL: 'loud' }, says: ["'MILLRACE_LOG_LEVEL'", '"loud"', 'debug'] },
  'MILLRACE_EVENTS=lots': { env: { MILLRACE_EVENTS: 'lots' }, says: ["'MILLRACE_EVENTS'", '"lots"', 'an integer >= 0'] },
  'MILLRACE_QUEUE=,': { env: { MILLRACE_QUEUE: ',' }, says: ["'MILLRACE_QUEUE'", '","', 'queue names'] },
  'MILLRACE_WORKER_CONCURRENCY=0': { env: { MILLRACE_WORKER_CONCURRENCY: '0' }, says: ["'MILLRACE_WORKER_CONCURRENCY'", '"0"', 'an integer >= 1'] },
  'MILLRACE_PREFETCH=-1': { env: { MILLRACE_PREFETCH: '-1' }, says: ["'MILLRACE_PREFETCH'", '"-1"', 'an integer >= 0'] },
  'WORKER_PROCESSES=two': { env: { WORKER_PROCESSES: 'two' }, says: ["'WORKER_PROCESSES'", '"two"', 'an integer >= 1'] },
  'MILLRACE_SHUTDOWN_TIMEOUT=soon': { env: { MILLRACE_SHUTDOWN_TIMEOUT: 'soon' }, says: ["'MILLRACE_SHUTDOWN_TIMEOUT'", '"soon"', 'seconds'] },
  'MILLRACE_USE_DEAD_LETTER_QUEUE=maybe': { env: { MILLRACE_USE_DEAD_LETTER_QUEUE: 'maybe' }, says: ["'MILLRACE_USE_DEAD_LETTER_QUEUE'", '"maybe"', 'true or false'] },
  'MILLRACE_HEARTBEAT_INTERVAL=0': { env: { MILLRACE_HEARTBEAT_INTERVAL: '0' }, says: ["'MILLRACE_HEARTBEAT_INTERVAL'", '"0"', 'seconds > 0'] },
  'MILLRACE_HEARTBEAT_INTERVAL=5 MILLRACE_HEARTBEAT_TTL=2': {
    env: { MILLRACE_HEARTBEAT_INTERVAL: '5', MILLRACE_HEARTBEAT_TTL: '2' },
    says: ["'MILLRACE_HEARTBEAT_TTL'", '"2"', 'longer than the heartbeat interval', 'MILLRACE_HEARTBEAT_INTERVAL "5"'],
  },
  'MILLRACE_HEARTBEAT_INTERVAL=60 (over the default TTL)': {
    env: { MILLRACE_HEARTBEAT_INTERVAL: '60' },
    says: ["'MILLRACE_HEARTBEAT_INTERVAL'", '"60"', 'shorter than the heartbeat TTL', 'MILLRACE_HEARTBEAT_TTL'],
  },
  // Under a supervisor too: checked before any worker process starts.
  'WORKER_MAX_TRIES=0 with --workers 2': { args: ['--workers', '2'], env: { WORKER_MAX_TRIES: '0' }, says: ["'WORKER_MAX_TRIES'", '"0"'] },
};

const FLAG_CASES: Record<string, Case> = {
  '--heartbeat-interval 5 --heartbeat-ttl 2': {
    args: ['--heartbeat-interval', '5', '--heartbeat-ttl', '2'],
    says: ["'--heartbeat-ttl'", '"2"', 'longer than the heartbeat interval', '--heartbeat-interval "5"'],
  },
  '--heartbeat-ttl 5s under MILLRACE_HEARTBEAT_INTERVAL=10s': {
    args: ['--heartbeat-ttl', '5s'], env: { MILLRACE_HEARTBEAT_INTERVAL: '10s' },
    says: ["'--heartbeat-ttl'", '"5s"', 'MILLRACE_HEARTBEAT_INTERVAL "10s"'],
  },
  '--heartbeat-interval 0': { args: ['--heartbeat-interval', '0'], says: ["'--heartbeat-interval'", '"0"', 'seconds > 0'] },
  // Commander's own checks: the flag, the text given, what it accepts.
  '--concurrency abc': { args: ['--concurrency', 'abc'], says: ['--concurrency', "'abc'", 'an integer >= 1'] },
  '--workers 0': { args: ['--workers', '0'], says: ['--workers', "'0'", 'an integer >= 1'] },
  '--shutdown-timeout soon': { args: ['--shutdown-timeout', 'soon'], says: ['--shutdown-timeout', "'soon'", 'seconds'] },
  '--heartbeat-ttl later': { args: ['--heartbeat-ttl', 'later'], says: ['--heartbeat-ttl', "'later'", 'seconds'] },
  '--queue ,': { args: ['--queue', ','], says: ['--queue', "','", 'queue name'] },
  '--log-level loud': { args: ['--log-level', 'loud'], says: ['--log-level', "'loud'", 'debug'] },
};

describe('millrace worker: an invalid setting is exit 2 and one line', { timeout: 30_000 }, () => {
  afterAll(async () => {
    killChildren();
    await removeKeys(PREFIX);
  });

  it.concurrent.each(Object.entries({ ...ENV_CASES, ...FLAG_CASES }))('%s', async (_, c) => {
    const r = await runCli(['worker', APP, '--burst', ...(c.args ?? [])], { MILLRACE_PREFIX: PREFIX, ...c.env });
    expectOneLine(r, c.says);
  });

  it('reads a bad value from the .env file of the working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'millrace-cli-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'WORKER_MAX_TRIES=0\n');
      const r = spawnSync(process.execPath, [BIN, 'worker', resolve(ROOT, APP), '--burst'], {
        cwd: dir, env: { ...process.env, MILLRACE_PREFIX: PREFIX }, encoding: 'utf8', timeout: 20_000,
      });
      expectOneLine({ code: r.status, stderr: r.stderr }, ["'WORKER_MAX_TRIES'", '"0"']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a ConfigError thrown by the code of the module as it is imported', async () => {
    const r = await runCli(['worker', BAD_CODE_APP, '--burst'], { MILLRACE_PREFIX: PREFIX });
    expectOneLine(r, ["queue 'q'.maxTries", '(got 0)', 'an integer >= 1']);
  });
});

describe('the commands that load a module, and millrace config', { timeout: 30_000 }, () => {
  afterAll(() => killChildren());

  it.concurrent.each([
    ['queues --app, a bad variable read at import', ['queues', '--app', APP], { WORKER_MAX_TRIES: '0' }, ["'WORKER_MAX_TRIES'", '"0"']],
    ['enqueue --app, a bad variable read at import', ['enqueue', 'system_health_check', '--app', APP], { MILLRACE_PREFIX: 'bad prefix!' }, ["'MILLRACE_PREFIX'", '"bad prefix!"']],
    ['load-test run --app, a bad code option', ['load-test', 'run', '--app', BAD_CODE_APP], {}, ["queue 'q'.maxTries", '(got 0)']],
    ['queues, a bad variable', ['queues'], { REDIS_DB: 'abc' }, ["'REDIS_DB'", '"abc"']],
    ['config, a missing REDIS_TLS_CA_FILE', ['config'], { REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, ["'REDIS_TLS_CA_FILE'", '"/nonexistent/ca.pem"', 'no such file']],
    ['queues, a missing REDIS_TLS_CA_FILE', ['queues'], { REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, ["'REDIS_TLS_CA_FILE'", 'no such file']],
    ['config, the heartbeat variables', ['config'], { MILLRACE_HEARTBEAT_INTERVAL: '5', MILLRACE_HEARTBEAT_TTL: '2' }, ["'MILLRACE_HEARTBEAT_TTL'", '"2"', 'MILLRACE_HEARTBEAT_INTERVAL "5"']],
    ['config, the heartbeat flags', ['config', '--heartbeat-interval', '5', '--heartbeat-ttl', '2'], {}, ["'--heartbeat-ttl'", '"2"', '--heartbeat-interval "5"']],
    ['config, a bad flag', ['config', '--concurrency', 'many'], {}, ["'--concurrency'", '"many"', 'an integer >= 1']],
    ['queues --app, a bad MILLRACE_DURABILITY_REPLICAS', ['queues', '--app', APP], { MILLRACE_DURABILITY_REPLICAS: '-1' }, ["'MILLRACE_DURABILITY_REPLICAS'", '"-1"', 'an integer >= 0']],
  ] as const)('%s', async (_, args, env, says) => {
    const r = await runCli([...args], { MILLRACE_PREFIX: PREFIX, ...env });
    expectOneLine(r, [...says]);
  });
});
