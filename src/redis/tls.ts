// The TLS options of a Redis connection, from the app's Redis settings.

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { RedisSettings } from '../settings.js';

/**
 * TLS options for ioredis (node:tls), or undefined for plain TCP: the CA certificates that
 * verify the server (instead of Node's), the client certificate and key (mutual TLS), the name
 * the server's certificate is checked against (and sent as SNI), and the insecure opt-out of
 * verification. The files' contents come from the settings, read once as they resolved; only
 * settings built by hand without them are read here. `on` (default: the settings' `tls`) says
 * whether the connection is TLS (the sentinels' may be while the master's is not).
 */
export function tlsOptions(settings: RedisSettings, on = settings.tls): ConnectionOptions | undefined {
  if (!on) return undefined;
  const files = settings.tlsFiles ?? {
    ca: settings.tlsCa === undefined ? undefined : readFileSync(settings.tlsCa),
    cert: settings.tlsCert === undefined ? undefined : readFileSync(settings.tlsCert),
    key: settings.tlsKey === undefined ? undefined : readFileSync(settings.tlsKey),
  };
  const options: ConnectionOptions = {};
  if (files.ca) options.ca = files.ca;
  if (files.cert) options.cert = files.cert;
  if (files.key) options.key = files.key;
  if (settings.tlsServername !== undefined) options.servername = settings.tlsServername;
  if (settings.tlsRejectUnauthorized === false) options.rejectUnauthorized = false;
  return options;
}
