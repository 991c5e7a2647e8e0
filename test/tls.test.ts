// TLS end to end, on TLS-only redis-servers of our own (test/support/tls.ts): apps configured by
// REDIS_TLS_CA_FILE and by code options run workers that complete jobs whose results are read;
// mutual TLS with a client certificate; and what a wrong CA, a server name the certificate does
// not carry, or a missing or foreign client certificate do: the enqueue fails after its retries
// and every connection logs the TLS error, a worker waits and logs it; the CLI says it in a line.
// Under Sentinel: a TLS master and replica found through a sentinel reached in plain TCP
// (REDIS_SENTINEL_TLS=false; the sentinels over TLS: test/sentinel-tls.test.ts).

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Millrace, type MillraceOptions } from '../src/index.js';
import { uniquePrefix, waitFor, workers } from './helpers.js';
import { killChildren, runCli } from './fixtures/children.js';
import { startTlsServer, type TlsServer } from './support/tls.js';
import { connectOne } from '../src/redis/connection.js';
import { resolveRedisSettings } from '../src/settings.js';
import { startSentinelSet } from './support/sentinel.js';
import { capturingLogger, connectionWarnings } from './support/logs.js';

type App = Millrace<Record<string, never>>;

/** How a server's refusal of the client certificate reaches the client. */
const REFUSED = /ECONNRESET|socket hang up|disconnected before secure TLS connection|alert certificate required|alert unknown ca/;

describe('TLS', { timeout: 120_000 }, () => {
  let server: TlsServer;
  let mutual: TlsServer;
  const apps: App[] = [];
  const tracker = workers();

  beforeAll(async () => {
    [server, mutual] = await Promise.all([startTlsServer(), startTlsServer({ clientCerts: true })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([server?.stop(), mutual?.stop()]);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    killChildren();
    await tracker.stopAll();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** An app on a TLS server (its data dies with the server: nothing to remove). */
  function app(options: MillraceOptions<Record<string, never>> = {}): App {
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('tls'), logLevel: 'silent', ...options });
    apps.push(a);
    return a;
  }

  /** Runs one job through a worker of the app and returns its result. */
  async function roundTrip(a: App): Promise<unknown> {
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await tracker.start(a);
    return (await double.enqueue(21)).result({ timeout: 20_000 });
  }

  it('runs jobs over rediss:// with the CA from REDIS_TLS_CA_FILE', async () => {
    vi.stubEnv('REDIS_TLS_CA_FILE', server.certs.ca);
    const a = app({ redis: server.url });
    expect(await roundTrip(a)).toBe(42);
    // The server listens on TLS only: these are the app's connections, over TLS.
    const names = [...String(await server.admin.client('LIST')).matchAll(/\bname=(millrace:\S+)/g)].map((m) => m[1]);
    expect(names).toEqual(expect.arrayContaining(['millrace:commands', 'millrace:reader:q', 'millrace:subscriber']));
  });

  it('turns TLS on for a redis:// URL when a CA file is set in code, and checks the server name given', async () => {
    const a = app({ redis: { url: `redis://127.0.0.1:${server.port}`, tlsCa: server.certs.ca, tlsServername: 'localhost' } });
    expect(await roundTrip(a)).toBe(42);
  });

  it('accepts the certificate unverified with REDIS_TLS_REJECT_UNAUTHORIZED=false (the insecure opt-out)', async () => {
    vi.stubEnv('REDIS_TLS_REJECT_UNAUTHORIZED', 'false');
    expect(await roundTrip(app({ redis: server.url }))).toBe(42);
  });

  it('runs jobs over mutual TLS with REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE', async () => {
    vi.stubEnv('REDIS_TLS_CA_FILE', mutual.certs.ca);
    vi.stubEnv('REDIS_TLS_CERT_FILE', mutual.certs.clientCert);
    vi.stubEnv('MILLRACE_REDIS_TLS_KEY_FILE', mutual.certs.clientKey);
    expect(await roundTrip(app({ redis: mutual.url }))).toBe(42);
  });

  // Each fails the same way: the enqueue after its retries (1 here, 20 by default), every
  // connection logging why, at most every 5 s. A refused client certificate reaches the client
  // as a reset connection (TLS 1.3 sends the server's verdict after the handshake).
  it.each([
    ['a CA that did not sign the certificate', () => ({ tls: server, redis: { tlsCa: server.certs.otherCa } }), /self-signed certificate in certificate chain/],
    ["Node's CAs (no CA file)", () => ({ tls: server, redis: {} }), /self-signed certificate in certificate chain/],
    ['a server name the certificate does not carry', () => ({ tls: server, redis: { tlsCa: server.certs.ca, tlsServername: 'redis.example' } }), /does not match certificate's altnames/],
    ['no client certificate where one is required', () => ({ tls: mutual, redis: { tlsCa: mutual.certs.ca } }), REFUSED],
    ['a client certificate of another CA', () => ({ tls: mutual, redis: { tlsCa: mutual.certs.ca, tlsCert: mutual.certs.strangerCert, tlsKey: mutual.certs.strangerKey } }), REFUSED],
  ])('fails an enqueue and logs the TLS error with %s', async (_, setup, says) => {
    const { tls, redis } = setup();
    const { logger, lines } = capturingLogger();
    const a = app({ logger, redis: { url: tls.url, maxRetriesPerRequest: 1, ...redis } });
    const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    await expect(double.enqueue(1)).rejects.toThrow(/max retries per request/);
    const warned = connectionWarnings(lines).filter((l) => l.connection === 'commands');
    expect(warned.length).toBeGreaterThan(0);
    expect(String(warned[0]!.err)).toMatch(says);
  });

  // ioredis listens for a socket's first error only; a TLS socket can emit a second as it dies
  // (a refused certificate, then the peer's alert: ERR_SSL_TLSV1_ALERT_DECODE_ERROR). Unheard,
  // it would be thrown as an unhandled 'error' event and end the worker's process.
  it('a connection whose socket emits two errors as it dies reconnects and throws neither', async () => {
    const conn = connectOne(resolveRedisSettings({ url: server.url, tlsCa: server.certs.ca }), 'test');
    try {
      await conn.ping();
      const stream = conn.stream;
      const late = Object.assign(new Error('decode error'), { code: 'ERR_SSL_TLSV1_ALERT_DECODE_ERROR' });
      expect(() => {
        stream.emit('error', new Error('first'));
        stream.emit('error', late);
      }).not.toThrow();
      stream.destroy();
      expect(await conn.ping()).toBe('PONG');
      expect(conn.stream).not.toBe(stream);
    } finally {
      conn.disconnect();
    }
  });

  it('a worker on a wrong CA waits for Redis, logging the TLS error, and stops when asked', async () => {
    const { logger, lines } = capturingLogger();
    const a = app({ logger, redis: { url: server.url, tlsCa: server.certs.otherCa } });
    a.queue('q').task('double', async (_ctx, n: number) => n * 2);
    const worker = a.worker({ handleSignals: false, blockTime: 1000 });
    let started: string | undefined;
    void worker.start().then(() => (started = 'started'), (err: Error) => (started = `failed: ${err.message}`));
    const warned = await waitFor(() => connectionWarnings(lines).find((l) => l.connection === 'commands'), { timeout: 30_000, what: 'the TLS error logged' });
    expect(String(warned.err)).toMatch(/self-signed certificate in certificate chain/);
    // Waiting will not mend a certificate: an error naming what to check.
    expect(warned).toMatchObject({ level: 50, msg: expect.stringContaining('REDIS_TLS_CA_FILE') });
    expect(started).toBeUndefined();
    await worker.stop({ grace: 1000 });
  });

  it('the CLI reaches Redis over TLS with REDIS_TLS_CA_FILE, and says what is wrong in one line with a wrong CA', async () => {
    const env = { REDIS_URL: server.url, MILLRACE_PREFIX: uniquePrefix('tlscli') };
    const ok = await runCli(['queues', '--json'], { ...env, REDIS_TLS_CA_FILE: server.certs.ca });
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await runCli(['queues'], { ...env, REDIS_TLS_CA_FILE: server.certs.otherCa }, 60_000);
    const lines = bad.stderr.trimEnd().split('\n');
    expect({ code: bad.code, lines: lines.length }, bad.stderr).toEqual({ code: 1, lines: 1 });
    expect(lines[0]).toMatch(/cannot reach Redis \(rediss:\/\/127\.0\.0\.1:\d+\): self-signed certificate in certificate chain/);
  });
});

describe('TLS under Sentinel', { timeout: 120_000 }, () => {
  const tracker = workers();

  it('runs jobs on a TLS master found through a plain-TCP sentinel, with REDIS_TLS_CA_FILE and REDIS_SENTINEL_TLS=false', async () => {
    const set = await startSentinelSet({ name: 'tlsmaster', tls: 'data', sentinels: 1, replicas: 1 });
    const a = new Millrace<Record<string, never>>({ prefix: uniquePrefix('tlssentinel'), logLevel: 'silent', redis: { sentinels: set.sentinels, name: set.name } });
    try {
      vi.stubEnv('REDIS_TLS_CA_FILE', set.certs!.ca);
      vi.stubEnv('REDIS_SENTINEL_TLS', 'false');
      const double = a.queue('q').task('double', async (_ctx, n: number) => n * 2);
      await tracker.start(a);
      expect(await (await double.enqueue(21)).result({ timeout: 20_000 })).toBe(42);
    } finally {
      vi.unstubAllEnvs();
      await tracker.stopAll();
      await a.close();
      await set.stop();
    }
  });
});
