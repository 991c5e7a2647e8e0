// The dashboard's options, checked once: code values, overridden by MILLRACE_DASHBOARD_*
// variables (as every millrace setting is); a bad one is a ConfigError naming it.

import type { Logger } from 'pino';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import type { Redactor } from './data.js';

export interface OverseerOptions {
  /** Path the handler is mounted under, e.g. '/overseer' (default: '' for the root). */
  basePath?: string;
  /** Hides the actions and refuses them (403). */
  readOnly?: boolean;
  /** Bearer token required on every request (also MILLRACE_DASHBOARD_TOKEN). */
  token?: string;
  /** Basic credentials (also MILLRACE_DASHBOARD_USER / MILLRACE_DASHBOARD_PASSWORD). */
  credentials?: { user: string; password: string };
  /** Replaces a job's arguments before they are shown (job page, dead letters). */
  redact?: Redactor;
  /** Where mutations (who, what, when) and problems are logged; default: the app's logger. */
  log?: Logger;
  /** How often the live snapshot is recomputed while a page is open (default 1 s, at least 250 ms). */
  interval?: Duration;
  /** A worker whose last heartbeat is older is marked stale (default 15 s). */
  staleAfter?: Duration;
}

export interface ResolvedOverseerOptions {
  basePath: string;
  readOnly: boolean;
  token: string | undefined;
  credentials: { user: string; password: string } | undefined;
  redact: Redactor | undefined;
  log: Logger;
  intervalMs: number;
  staleAfterMs: number;
}

const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;

export function resolveOverseerOptions(options: OverseerOptions, appLog: Logger, env: NodeJS.ProcessEnv = process.env): ResolvedOverseerOptions {
  const basePath = options.basePath ?? '';
  if (typeof basePath !== 'string' || !BASE_PATH.test(basePath)) {
    throw new ConfigError('basePath', "'' or a path like '/overseer' (segments of letters, digits, '.', '_', '~', '-'; no trailing slash)", basePath);
  }
  const token = nonEmpty(env.MILLRACE_DASHBOARD_TOKEN, 'MILLRACE_DASHBOARD_TOKEN') ?? nonEmpty(options.token, 'token');
  const user = nonEmpty(env.MILLRACE_DASHBOARD_USER, 'MILLRACE_DASHBOARD_USER');
  const password = nonEmpty(env.MILLRACE_DASHBOARD_PASSWORD, 'MILLRACE_DASHBOARD_PASSWORD');
  if ((user === undefined) !== (password === undefined)) {
    const missing = user === undefined ? 'MILLRACE_DASHBOARD_USER' : 'MILLRACE_DASHBOARD_PASSWORD';
    throw new ConfigError(missing, `a value: MILLRACE_DASHBOARD_USER and MILLRACE_DASHBOARD_PASSWORD are set together`);
  }
  let credentials = user !== undefined ? { user, password: password! } : options.credentials;
  if (credentials !== undefined) {
    if (typeof credentials.user !== 'string' || credentials.user === '' || credentials.user.includes(':')) {
      throw new ConfigError('credentials.user', "a non-empty name without ':'", credentials.user);
    }
    if (typeof credentials.password !== 'string' || credentials.password === '') throw new ConfigError('credentials.password', 'a non-empty string');
    credentials = { user: credentials.user, password: credentials.password };
  }
  if (options.redact !== undefined && typeof options.redact !== 'function') throw new ConfigError('redact', 'a function (args, job) => shown value', options.redact);
  const intervalMs = parseDuration(options.interval ?? 1000, 'interval');
  if (intervalMs < 250) throw new ConfigError('interval', 'a duration of 250 ms or more', options.interval);
  return {
    basePath,
    readOnly: options.readOnly === true,
    token,
    credentials,
    redact: options.redact,
    log: options.log ?? appLog,
    intervalMs,
    staleAfterMs: parseDuration(options.staleAfter ?? 15_000, 'staleAfter'),
  };
}

function nonEmpty(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(name, 'a non-empty string', value);
  return value;
}

/** Whether requests must authenticate. */
export function authConfigured(o: Pick<ResolvedOverseerOptions, 'token' | 'credentials'>): boolean {
  return o.token !== undefined || o.credentials !== undefined;
}
