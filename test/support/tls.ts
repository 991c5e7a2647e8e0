// TLS Redis servers of the tests' own: a CA, a server certificate (SAN 127.0.0.1 and localhost)
// and client certificates made with `openssl` in a temporary folder, and `redis-server` serving
// TLS only on free ports (no plain port, no persistence), optionally requiring client
// certificates (Sentinel sets speaking TLS: test/support/sentinel.ts). Started and stopped by
// pid (test/support/processes.ts); the shared Redis is never touched.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { HOST, freePort, ServerGroup, until } from './processes.js';

const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';

/** Paths of the PEM files made for a test server. */
export interface TestCerts {
  /** The CA that signed the server and client certificates. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed neither (a wrong CA for a client). */
  otherCa: string;
  /** A client certificate and key signed by the other CA (refused by a server requiring certificates). */
  strangerCert: string;
  strangerKey: string;
}

const openssl = (dir: string, args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** A P-256 key pair and a self-signed CA certificate `<name>.crt` / `<name>.key`. */
function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=millrace test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A certificate `<name>.crt` / `<name>.key` signed by the CA `<ca>`, with these extensions. */
function makeCert(dir: string, ca: string, name: string, cn: string, extensions: string[]): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
}

/** Makes the CA, server and client certificates (and a stranger's) in `dir`. */
export function makeCerts(dir: string): TestCerts {
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  // The server's certificate also serves as Redis' client certificate (replication), hence clientAuth.
  makeCert(dir, 'ca', 'server', 'localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth,clientAuth']);
  makeCert(dir, 'ca', 'client', 'millrace-client', ['extendedKeyUsage=clientAuth']);
  makeCert(dir, 'other-ca', 'stranger', 'stranger', ['extendedKeyUsage=clientAuth']);
  const p = (f: string) => join(dir, f);
  return {
    ca: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key'),
    otherCa: p('other-ca.crt'), strangerCert: p('stranger.crt'), strangerKey: p('stranger.key'),
  };
}

export interface TlsServerOptions {
  /** Require a client certificate signed by the CA (`--tls-auth-clients yes`); default false. */
  clientCerts?: boolean;
  /** More redis-server arguments (e.g. `--user ...`). */
  args?: string[];
  /** The password of the `default` user for the admin connection, when `args` set one. */
  adminAuth?: { username?: string; password: string };
}

export interface TlsServer {
  port: number;
  /** `rediss://127.0.0.1:<port>` */
  url: string;
  certs: TestCerts;
  /** The folder the certificates are in (removed by stop()). */
  dir: string;
  /** An admin connection over TLS (with the client certificate), closed by stop(). */
  admin: Redis;
  /** Stops the server and removes the folder. */
  stop(): Promise<void>;
}

/** The arguments of a TLS-only data node on `port` (no plain port) that keeps nothing on disk. */
export function tlsNodeArgs(port: number, certs: TestCerts, dir: string, clientCerts = false): string[] {
  return [
    '--port', '0', '--tls-port', String(port), '--bind', HOST,
    '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.ca,
    '--tls-auth-clients', clientCerts ? 'yes' : 'no', '--tls-replication', 'yes',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--protected-mode', 'no',
    '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
  ];
}

/** node:tls options for the tests' own connections: the CA and the client certificate. */
export function adminTls(certs: TestCerts): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) };
}

/** Starts a TLS-only redis-server on a free port with certificates of its own. */
export async function startTlsServer(options: TlsServerOptions = {}): Promise<TlsServer> {
  const group = new ServerGroup('tls');
  try {
    const certs = makeCerts(group.dir);
    const port = await freePort();
    group.start(`tls redis :${port}`, [...tlsNodeArgs(port, certs, group.dir, options.clientCerts), ...(options.args ?? [])]);
    const admin = group.conn(port, { ...options.adminAuth, tls: adminTls(certs) });
    await until(`the TLS redis-server on ${port}`, async () => (await admin.ping()) === 'PONG');
    return { port, url: `rediss://${HOST}:${port}`, certs, dir: group.dir, admin, stop: () => group.stop() };
  } catch (err) {
    await group.stop();
    throw err;
  }
}
