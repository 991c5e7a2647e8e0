// Under Sentinel, what ioredis leaves unsaid when no sentinel gives the master's address: why
// (a refused certificate shows only as "Connection is closed."), and an end to the commands'
// wait (ioredis keeps them queued, retrying the sentinels forever).

import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Redis } from 'ioredis';
import { MillraceError } from '../errors.js';
import type { RedisSettings } from '../settings.js';
import { tlsOptions } from './tls.js';

/** Whether a Redis error is a refusal of the credentials (or of the user's rights). */
export const refusedCredentials = (message: string): boolean => /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(message);

/** No sentinel gave the master's address, for a reason retrying will not mend or for too long. */
export class SentinelsUnreachableError extends MillraceError {
  constructor(readonly reason: string, readonly check: string | undefined, tries: number) {
    super(`no sentinel gave the master's address (${tries} ${tries === 1 ? 'try' : 'tries'}): ${reason.replace(/\.$/, '')}${check ? `; check ${check}` : ''}`);
  }
}

/** An error of a sentinel itself (not of the master): what ioredis' sentinel client met. */
export type SentinelCause = Error & { code?: string; sentinel: true };

/**
 * The sentinels' last error when `err` is ioredis' "All sentinels are unreachable" (emitted on
 * the connection after each round over the sentinels), else undefined.
 */
export function sentinelsLastError(err: Error): SentinelCause | undefined {
  const m = /^All sentinels are unreachable\..*?Last error: (.*)$/s.exec(err.message);
  return m ? Object.assign(new Error(m[1]), { sentinel: true as const }) : undefined;
}

/** Why a sentinel cannot be reached now, found by connecting to it as ioredis does; undefined if it can. */
function probe(address: { host: string; port: number }, tls: ConnectionOptions | undefined, timeout: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const options = { ...tls, host: address.host, port: address.port };
    const socket = tls ? tlsConnect(options) : netConnect(options);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(), timeout);
    socket.once(tls ? 'secureConnect' : 'connect', () => done());
    socket.once('error', done);
  });
}

/** A probe's answer per settings, shared by their connections for a few seconds. */
const probes = new WeakMap<RedisSettings, { at: number; result: Promise<SentinelCause | undefined> }>();

/**
 * The cause behind ioredis' "All sentinels are unreachable": the sentinels' last error, or when
 * that is the uninformative "Connection is closed." what connecting to the first sentinel meets
 * (a refused certificate, a refused connection). Undefined for another error.
 */
export async function sentinelsCause(err: Error, settings: RedisSettings): Promise<SentinelCause | undefined> {
  const last = sentinelsLastError(err);
  if (!last || last.message !== 'Connection is closed.' || !settings.sentinels?.length) return last;
  let cached = probes.get(settings);
  if (!cached || Date.now() - cached.at > 5000) {
    const tls = tlsOptions(settings, settings.sentinelTls ?? settings.tls);
    const address = settings.sentinels[0]!;
    const result = probe(address, tls, settings.connectTimeout).then((e) => e && Object.assign(
      new Error(`sentinel ${address.host}:${address.port}: ${e.message}`), { code: (e as { code?: string }).code, sentinel: true as const },
    ));
    cached = { at: Date.now(), result };
    probes.set(settings, cached);
  }
  return (await cached.result) ?? last;
}

/**
 * Ends the wait of the commands queued on a Sentinel connection while no sentinel gives the
 * master: at once when the sentinels refused the credentials (as an authentication error does on
 * one Redis), and after `maxRetriesPerRequest` rounds over the sentinels otherwise (never for a
 * blocking connection, which waits for Redis forever). The connection keeps retrying.
 * `checkOf` names the settings to check for a cause.
 */
export function endWaitsOnSentinelErrors(
  conn: Redis, settings: RedisSettings, blocking: boolean, checkOf: (cause: Error) => string | undefined,
): void {
  let rounds = 0;
  // ioredis' own way to fail every queued command (as after its maxRetriesPerRequest).
  // Guarded: it is not in ioredis' types, and a throw in an 'error' listener would escape.
  const fail = (err: Error) => {
    const flush = (conn as unknown as { flushQueue?: (err: Error) => void }).flushQueue;
    if (typeof flush === 'function') flush.call(conn, err);
  };
  conn.on('ready', () => (rounds = 0));
  conn.on('error', (err: Error) => {
    const last = sentinelsLastError(err);
    if (!last) return;
    rounds += 1;
    const tries = rounds;
    if (refusedCredentials(last.message)) {
      rounds = 0;
      fail(new SentinelsUnreachableError(last.message, checkOf(last), tries));
    } else if (!blocking && rounds >= settings.maxRetriesPerRequest) {
      rounds = 0;
      void sentinelsCause(err, settings).then((cause = last) => fail(new SentinelsUnreachableError(cause.message, checkOf(cause), tries)));
    }
  });
}
