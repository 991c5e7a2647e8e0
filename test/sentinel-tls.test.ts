// Redis Sentinel over TLS, with credentials on the sentinels themselves, on a set of our own
// that speaks TLS only (a master, a replica and three sentinels: test/support/sentinel.ts) whose
// sentinels require a password and know the ACL user of docs/topologies.md#the-sentinels-user:
// an app configured by the environment alone runs jobs and keeps running them after a kill -9 of
// the master, on the promoted replica; a wrong sentinel password and a wrong CA fail with errors
// naming the settings to check, not a wait. Also the sentinels over TLS with the master in plain
// TCP (REDIS_SENTINEL_TLS=true, REDIS_SSL=false).

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Millrace, type MillraceOptions, SentinelsUnreachableError } from '../src/index.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { aclLog, documentedSentinelUser } from './support/acl.js';
import { capturingLogger, connectionWarnings } from './support/logs.js';
import { startSentinelSet, type SentinelSet } from './support/sentinel.js';
import { runCli } from './fixtures/children.js';

type App = Millrace<Record<string, never>>;

const SENTINEL_PW = 'sentinel-pw';
const USER_PW = 'mrs-pw';

describe('Sentinel speaking TLS only, with credentials on the sentinels', { timeout: 120_000 }, () => {
  let set: SentinelSet;
  const apps: App[] = [];
  const tracker = workers();

  beforeAll(async () => {
    set = await startSentinelSet({
      name: 'tlsacl', tls: 'all', replicas: 1, peers: true,
      sentinelAuth: { password: SENTINEL_PW, users: [documentedSentinelUser('mrs', USER_PW)] },
    });
  }, 60_000);
  afterAll(async () => {
    await set?.stop();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** The environment of an app on the set: the sentinels, the master's name, the CA, the sentinels' user. */
  function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_MASTER: set.name, REDIS_TLS_CA_FILE: set.certs!.ca,
      REDIS_SENTINEL_USERNAME: 'mrs', REDIS_SENTINEL_PASSWORD: USER_PW, ...extra,
    };
  }

  /** An app configured by `vars` (stubbed into the environment) and these code options. */
  function app(vars: Record<string, string>, options: MillraceOptions<Record<string, never>> = {}): App {
    for (const [k, v] of Object.entries(vars)) vi.stubEnv(k, v);
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('sentls'), logLevel: 'silent', ...options });
    apps.push(a);
    return a;
  }

  /** The millrace connections on a data node (over TLS: the nodes have no plain port). */
  async function namesOn(port: number): Promise<string[]> {
    return [...String(await set.node(port).client('LIST')).matchAll(/\bname=(millrace:\S+)/g)].map((m) => m[1]!);
  }

  it('runs jobs over TLS to the sentinels and the master, as the ACL user on the sentinels; resumes on the promoted replica after a kill -9 of the master', async () => {
    for (let i = 0; i < 3; i++) await set.sentinel(i).call('ACL', 'LOG', 'RESET');
    const a = app(env());
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await tracker.start(a);
    const first = await double.enqueueMany([[1], [2], [3]]);
    expect(await Promise.all(first.map((j) => j.result({ timeout: 20_000 })))).toEqual([2, 4, 6]);
    expect(await namesOn(await set.masterPort())).toEqual(expect.arrayContaining(['millrace:commands', 'millrace:reader:q']));

    const moved = await set.killMaster();
    expect(moved.to).not.toBe(moved.from);
    // The same worker and client, through the sentinels again, on the promoted node.
    const after = await double.enqueueMany([[10], [20]]);
    expect(await Promise.all(after.map((j) => j.result({ timeout: 30_000 })))).toEqual([20, 40]);
    await waitFor(async () => {
      const names = await namesOn(moved.to);
      return names.includes('millrace:commands') && names.includes('millrace:reader:q');
    }, { timeout: 30_000, what: 'the connections on the promoted node' });

    // The user of the page was enough: no sentinel refused it anything.
    const refused: string[] = [];
    for (let i = 0; i < 3; i++) for (const e of await aclLog(set.sentinel(i))) refused.push(`sentinel ${i}: ${e.username} ${e.reason} ${e.object}`);
    expect(refused).toEqual([]);
  });

  it("reaches sentinels protected by requirepass with REDIS_SENTINEL_PASSWORD alone", async () => {
    const a = app(env({ REDIS_SENTINEL_USERNAME: '', REDIS_SENTINEL_PASSWORD: SENTINEL_PW }));
    const echo = a.queue('q').task('echo', async (_ctx, s: string) => s);
    await tracker.start(a);
    expect(await (await echo.enqueue('hi')).result({ timeout: 20_000 })).toBe('hi');
  });

  it('a wrong sentinel password fails an enqueue, a worker start and the CLI at once, naming REDIS_SENTINEL_PASSWORD', async () => {
    const vars = env({ REDIS_SENTINEL_PASSWORD: 'wrong' });
    const { logger, lines } = capturingLogger();
    const a = app(vars, { logger });
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    const started = Date.now();
    await expect(double.enqueue(1)).rejects.toThrow(/no sentinel gave the master's address .*WRONGPASS.*REDIS_SENTINEL_PASSWORD/);
    await expect(double.enqueue(2)).rejects.toBeInstanceOf(SentinelsUnreachableError); // exported: a caller can tell it apart
    await expect(a.worker({ handleSignals: false }).start()).rejects.toThrow(/WRONGPASS.*REDIS_SENTINEL_PASSWORD/);
    // One round over the sentinels each, not the 20 retries of an outage.
    expect(Date.now() - started).toBeLessThan(15_000);
    const logged = await waitFor(() => connectionWarnings(lines).find((l) => l.level === 50), { timeout: 20_000, what: 'the refusal logged' });
    expect(logged.msg).toContain("the sentinels' credentials: REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD");

    const cli = await runCli(['queues'], { ...vars, MILLRACE_PREFIX: uniquePrefix('sentlscli') }, 60_000);
    const out = cli.stderr.trimEnd().split('\n');
    expect({ code: cli.code, lines: out.length }, cli.stderr).toEqual({ code: 1, lines: 1 });
    expect(out[0]).toMatch(/cannot reach Redis \(redis-sentinel:\/\/.*\): .*WRONGPASS.*REDIS_SENTINEL_PASSWORD/);
  });

  it('a wrong CA fails an enqueue after its retries and logs the certificate error, naming REDIS_TLS_CA_FILE', async () => {
    const { logger, lines } = capturingLogger();
    const a = app(env({ REDIS_TLS_CA_FILE: set.certs!.otherCa }), { logger, redis: { maxRetriesPerRequest: 2 } });
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await expect(double.enqueue(1)).rejects.toThrow(/no sentinel gave the master's address \(2 tries\): sentinel 127\.0\.0\.1:\d+: self-signed certificate in certificate chain; check the TLS settings: REDIS_TLS_CA_FILE/);
    const logged = await waitFor(() => connectionWarnings(lines).find((l) => l.connection === 'commands'), { timeout: 20_000, what: 'the TLS error logged' });
    expect(logged).toMatchObject({ level: 50, err: expect.stringMatching(/self-signed certificate in certificate chain/), check: expect.stringContaining('REDIS_TLS_CA_FILE') });
  });
});

describe('Sentinel: the sentinels over TLS, the master in plain TCP', { timeout: 60_000 }, () => {
  const tracker = workers();

  it('runs jobs with REDIS_SENTINEL_TLS=true and REDIS_SSL=false (the CA file for the sentinels only)', async () => {
    const set = await startSentinelSet({ name: 'tlssentinels', tls: 'sentinels', sentinels: 1, replicas: 0 });
    try {
      vi.stubEnv('REDIS_SENTINELS', set.sentinelList);
      vi.stubEnv('REDIS_SENTINEL_MASTER', set.name);
      vi.stubEnv('REDIS_TLS_CA_FILE', set.certs!.ca);
      vi.stubEnv('REDIS_SENTINEL_TLS', 'true');
      vi.stubEnv('REDIS_SSL', 'false');
      const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('sentls2'), logLevel: 'silent' });
      try {
        const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
        await tracker.start(a);
        expect(await (await double.enqueue(21)).result({ timeout: 20_000 })).toBe(42);
      } finally {
        await tracker.stopAll();
        await a.close();
      }
    } finally {
      vi.unstubAllEnvs();
      await set.stop();
    }
  });
});
