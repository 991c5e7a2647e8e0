// The TLS settings: REDIS_TLS_CA_FILE / _CERT_FILE / _KEY_FILE / _SERVERNAME / _REJECT_UNAUTHORIZED
// (and MILLRACE_ forms) over the code's redis.tlsCa / tlsCert / tlsKey / tlsServername /
// tlsRejectUnauthorized; any file or the server name turns TLS on (to the sentinels too, unless
// REDIS_SENTINEL_TLS says otherwise); the files are read once as the
// settings resolve, into the node:tls options of every connection; a bad one fails then, naming
// the variable or option as written; `millrace config` lists them and the CLI exits 2 on one.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/index.js';
import { resolveRedisSettings, type RedisOption } from '../src/settings.js';
import { tlsOptions } from '../src/redis/tls.js';
import { runCli } from './fixtures/children.js';
import { makeCerts, type TestCerts } from './support/tls.js';

let dir: string;
let certs: TestCerts;
/** Files that are not what their setting needs. */
let bad: { garbage: string; encryptedKey: string; combined: string; folder: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'millrace-tls-settings-'));
  certs = makeCerts(dir);
  const p = (f: string) => join(dir, f);
  bad = { garbage: p('garbage.pem'), encryptedKey: p('encrypted.key'), combined: p('combined.pem'), folder: p('folder') };
  writeFileSync(bad.garbage, 'not a PEM file\n');
  writeFileSync(bad.encryptedKey, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n');
  writeFileSync(bad.combined, Buffer.concat([readFileSync(certs.clientCert), readFileSync(certs.clientKey)]));
  mkdirSync(bad.folder);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

describe('TLS settings', () => {
  it('reads the files from the environment over the code, once, into the connections\' TLS options', () => {
    const env = { REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_CERT_FILE: certs.clientCert, MILLRACE_REDIS_TLS_KEY_FILE: certs.clientKey, REDIS_TLS_SERVERNAME: 'redis.internal' };
    const s = resolveRedisSettings({ url: 'rediss://h:6380', tlsCa: certs.otherCa }, env);
    expect(s).toMatchObject({ tls: true, tlsCa: certs.ca, tlsCert: certs.clientCert, tlsKey: certs.clientKey, tlsServername: 'redis.internal' });
    expect(tlsOptions(s)).toEqual({ ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey), servername: 'redis.internal' });
    // Read as the settings resolved: a file gone later does not matter to the connections.
    expect(s.tlsFiles?.ca).toEqual(readFileSync(certs.ca));
    // The MILLRACE_ name wins over the plain one.
    expect(resolveRedisSettings(undefined, { MILLRACE_REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_CA_FILE: certs.otherCa }).tlsCa).toBe(certs.ca);
  });

  it('turns TLS on for any file or the server name, and leaves plain TCP alone', () => {
    expect(resolveRedisSettings({ url: 'redis://h:6379', tlsCa: certs.ca }, {}).tls).toBe(true);
    expect(resolveRedisSettings('redis://h:6379', { REDIS_TLS_SERVERNAME: 'h.example' }).tls).toBe(true);
    expect(resolveRedisSettings(undefined, { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_TLS_CA_FILE: certs.ca }).tls).toBe(true);
    const plain = resolveRedisSettings('redis://h:6379', {});
    expect([plain.tls, tlsOptions(plain)]).toEqual([false, undefined]);
    // rediss:// / REDIS_SSL alone: Node's CAs, nothing else set.
    expect(tlsOptions(resolveRedisSettings('rediss://h:6380', {}))).toEqual({});
    expect(tlsOptions(resolveRedisSettings('redis://h:6379', { REDIS_SSL: 'true' }))).toEqual({});
  });

  it('under Sentinel reaches the sentinels over TLS as the master, unless REDIS_SENTINEL_TLS says otherwise', () => {
    const sentinel = { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' };
    const on = resolveRedisSettings(undefined, { ...sentinel, REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_SERVERNAME: 'redis.internal' });
    expect(on).toMatchObject({ tls: true, sentinelTls: true });
    // The same CA and server name for the sentinels as for the master.
    expect(tlsOptions(on, on.sentinelTls)).toEqual({ ca: readFileSync(certs.ca), servername: 'redis.internal' });
    expect(resolveRedisSettings(undefined, sentinel)).toMatchObject({ tls: false, sentinelTls: false });
    // The sentinels in plain TCP, the master over TLS.
    expect(resolveRedisSettings(undefined, { ...sentinel, REDIS_TLS_CA_FILE: certs.ca, REDIS_SENTINEL_TLS: 'false' })).toMatchObject({ tls: true, sentinelTls: false });
    expect(resolveRedisSettings({ sentinels: 's:26379', name: 'm', tls: true, sentinelTls: false }, {})).toMatchObject({ tls: true, sentinelTls: false });
    // The sentinels over TLS, the master in plain TCP: the files are for the sentinels only.
    const only = resolveRedisSettings(undefined, { ...sentinel, REDIS_TLS_CA_FILE: certs.ca, REDIS_SENTINEL_TLS: 'true', REDIS_SSL: 'false' });
    expect(only).toMatchObject({ tls: false, sentinelTls: true });
    expect([tlsOptions(only), tlsOptions(only, only.sentinelTls)]).toEqual([undefined, { ca: readFileSync(certs.ca) }]);
    expect(resolveRedisSettings(undefined, { ...sentinel, REDIS_SENTINEL_TLS: 'yes' })).toMatchObject({ tls: false, sentinelTls: true });
  });

  it('takes the insecure opt-out from REDIS_TLS_REJECT_UNAUTHORIZED or the code', () => {
    expect(tlsOptions(resolveRedisSettings('rediss://h:6380', { REDIS_TLS_REJECT_UNAUTHORIZED: 'false' }))).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions(resolveRedisSettings({ url: 'rediss://h:6380', tlsRejectUnauthorized: false }, { REDIS_TLS_REJECT_UNAUTHORIZED: 'true' }))).toEqual({});
    expect(tlsOptions(resolveRedisSettings({ url: 'rediss://h:6380', tlsRejectUnauthorized: false }, {}))).toEqual({ rejectUnauthorized: false });
    // Without TLS it changes nothing.
    expect(resolveRedisSettings('redis://h:6379', { REDIS_TLS_REJECT_UNAUTHORIZED: 'false' }).tls).toBe(false);
  });

  it('takes a combined PEM file as both the certificate and the key', () => {
    const s = resolveRedisSettings({ url: 'rediss://h:6380', tlsCert: bad.combined, tlsKey: bad.combined }, {});
    expect(tlsOptions(s)).toMatchObject({ cert: readFileSync(bad.combined), key: readFileSync(bad.combined) });
  });

  it.each([
    ['a file that does not exist', () => ({ REDIS_TLS_CA_FILE: join(dir, 'nope.crt') }), 'REDIS_TLS_CA_FILE', 'PEM file of CA certificates; no such file'],
    ['a directory', () => ({ REDIS_TLS_CA_FILE: bad.folder }), 'REDIS_TLS_CA_FILE', 'it is a directory'],
    ['a CA file without a certificate', () => ({ MILLRACE_REDIS_TLS_CA_FILE: bad.garbage }), 'MILLRACE_REDIS_TLS_CA_FILE', 'it holds no PEM certificate'],
    ['a key as the CA file', () => ({ REDIS_TLS_CA_FILE: certs.clientKey }), 'REDIS_TLS_CA_FILE', 'it holds no PEM certificate'],
    ['a certificate file without a certificate', () => ({ REDIS_TLS_CERT_FILE: bad.garbage, REDIS_TLS_KEY_FILE: certs.clientKey }), 'REDIS_TLS_CERT_FILE', 'client certificate (and its chain)'],
    ['a key file without a key', () => ({ REDIS_TLS_CERT_FILE: certs.clientCert, REDIS_TLS_KEY_FILE: certs.clientCert }), 'REDIS_TLS_KEY_FILE', 'it holds no PEM private key'],
    ['an encrypted key', () => ({ REDIS_TLS_CERT_FILE: certs.clientCert, REDIS_TLS_KEY_FILE: bad.encryptedKey }), 'REDIS_TLS_KEY_FILE', 'a passphrase is not supported'],
    ['a key without a certificate', () => ({ REDIS_TLS_KEY_FILE: certs.clientKey }), 'REDIS_TLS_KEY_FILE', 'set REDIS_TLS_CERT_FILE (redis.tlsCert) too'],
    ['a certificate without a key', () => ({ REDIS_TLS_CERT_FILE: certs.clientCert }), 'REDIS_TLS_CERT_FILE', 'set REDIS_TLS_KEY_FILE (redis.tlsKey) too'],
    ['a key of another certificate', () => ({ REDIS_TLS_CERT_FILE: certs.clientCert, REDIS_TLS_KEY_FILE: certs.strangerKey }), 'REDIS_TLS_KEY_FILE', 'key values mismatch'],
    ['TLS off with a CA file', () => ({ REDIS_SSL: 'false', REDIS_TLS_CA_FILE: certs.ca }), 'REDIS_SSL', 'true, or unset, when REDIS_TLS_CA_FILE is set'],
    ['TLS off with a CA file, TLS to the sentinels off too', () => ({ REDIS_SSL: 'false', REDIS_TLS_CA_FILE: certs.ca, REDIS_SENTINEL_TLS: 'false' }), 'REDIS_SSL', 'with REDIS_SENTINEL_TLS=true they are for the sentinels only'],
    ['a bad boolean for TLS to the sentinels', () => ({ MILLRACE_REDIS_SENTINEL_TLS: 'sometimes' }), 'MILLRACE_REDIS_SENTINEL_TLS', 'true or false'],
    ['a server name that is no host name', () => ({ REDIS_TLS_SERVERNAME: 'a b' }), 'REDIS_TLS_SERVERNAME', 'a host name'],
    ['a bad boolean', () => ({ REDIS_TLS_REJECT_UNAUTHORIZED: 'maybe' }), 'REDIS_TLS_REJECT_UNAUTHORIZED', 'true or false'],
  ])('fails on %s, naming the variable and quoting it', (_, env, option, says) => {
    const e = env() as Record<string, string>;
    const err = configError(() => resolveRedisSettings('rediss://h:6380', e));
    expect(err.option).toBe(option);
    expect(err.message).toContain(says);
    expect(err.message).toContain(`(got ${JSON.stringify(e[option])})`);
  });

  it('names the code option when the code is wrong', () => {
    const fail = (option: RedisOption) => configError(() => resolveRedisSettings(option, {}));
    expect(fail({ tlsCa: join(dir, 'nope.crt') }).message).toBe(
      `invalid option 'redis.tlsCa' (got ${JSON.stringify(join(dir, 'nope.crt'))}): expected the path of a readable PEM file of CA certificates; no such file`,
    );
    expect(fail({ tlsKey: certs.clientKey }).option).toBe('redis.tlsKey');
    expect(fail({ tlsCert: certs.clientCert, tlsKey: certs.strangerKey }).message).toContain(`client certificate in redis.tlsCert (${JSON.stringify(certs.clientCert)})`);
    expect(fail({ tls: false, tlsCert: certs.clientCert, tlsKey: certs.clientKey }).message).toContain("'redis.tls' (got false): expected true, or unset, when redis.tlsCert is set");
  });
});

describe('TLS settings in the CLI', { timeout: 30_000 }, () => {
  it('millrace config lists them with the paths as given and their sources', async () => {
    const r = await runCli(['config', '--json'], { REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_CERT_FILE: certs.clientCert, REDIS_TLS_KEY_FILE: certs.clientKey });
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(r.stdout) as Record<string, { value: unknown; source: string; from?: string; env: string[] }>;
    expect(cfg.redisTlsCa).toMatchObject({ value: certs.ca, source: 'env', from: 'REDIS_TLS_CA_FILE', env: ['MILLRACE_REDIS_TLS_CA_FILE', 'REDIS_TLS_CA_FILE'] });
    expect(cfg.redisTlsCert).toMatchObject({ value: certs.clientCert, source: 'env' });
    expect(cfg.redisTlsKey).toMatchObject({ value: certs.clientKey, source: 'env' });
    expect(cfg.redisTlsRejectUnauthorized).toMatchObject({ value: true, source: 'default' });
    expect(cfg.redisTlsServername).toMatchObject({ source: 'default' });
    // Paths, never the files' contents.
    expect(r.stdout).not.toContain('PRIVATE KEY');
  });

  it.each([
    ['config', ['config']],
    ['worker, before the module loads', ['worker', 'examples/app.ts', '--burst']],
  ])('millrace %s: a key without its certificate is exit 2 and one line', async (_, args) => {
    const r = await runCli(args, { REDIS_TLS_KEY_FILE: certs.clientKey });
    const lines = r.stderr.trimEnd().split('\n');
    expect({ code: r.code, lines: lines.length }, r.stderr).toEqual({ code: 2, lines: 1 });
    expect(lines[0]).toContain(`invalid option 'REDIS_TLS_KEY_FILE' (got ${JSON.stringify(certs.clientKey)})`);
  });
});
