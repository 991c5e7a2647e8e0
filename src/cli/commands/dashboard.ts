// `millrace dashboard`: serves Overseer, the live web dashboard, over node:http until SIGINT or
// SIGTERM. Bound to 127.0.0.1 by default; another address needs a token or credentials (from
// the environment) or an explicit --insecure-bind.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { getRequestListener } from '@hono/node-server';
import { overseer } from '../../overseer/index.js';
import { authConfigured, resolveOverseerOptions } from '../../overseer/options.js';
import { checkRedis, CliError } from '../app.js';
import { UsageError } from '../load.js';
import { withCommon, type GlobalFlags, type Kit } from './common.js';

interface DashboardFlags extends GlobalFlags {
  port: number;
  host: string;
  readOnly?: boolean;
  basePath?: string;
  insecureBind?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function port(raw: string): number {
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || n > 65535) throw new InvalidArgumentError('--port expects a port number from 0 to 65535 (0: any free port).');
  return n;
}

function basePath(raw: string): string {
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(raw)) throw new InvalidArgumentError("--base-path expects a path like '/overseer' (segments of letters, digits, '.', '_', '~', '-'; no trailing slash).");
  return raw;
}

/** Resolves when the process is told to stop. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function registerDashboardCommand(program: Command, kit: Kit): void {
  withCommon(
    program
      .command('dashboard')
      .summary('serve Overseer, the live web dashboard')
      .description('serve Overseer, the live web dashboard of queues, jobs, workers and dead letters, until SIGINT/SIGTERM')
      .option('-p, --port <port>', 'port to listen on (0: any free port)', port, 8080)
      .option('--host <address>', 'address to bind', '127.0.0.1')
      .option('--read-only', 'hide the actions and refuse them (403)')
      .option('--base-path <path>', "serve under this path, e.g. '/overseer' behind a proxy", basePath)
      .option('--insecure-bind', 'allow binding beyond this machine without a token or credentials'),
    { json: false },
  )
    .addHelpText('after', `
Authentication comes from the environment: MILLRACE_DASHBOARD_TOKEN (a bearer token; open the
page once as http://host:port/?token=<token> and a cookie keeps it), or MILLRACE_DASHBOARD_USER
and MILLRACE_DASHBOARD_PASSWORD (basic credentials). Binding to an address other than
127.0.0.1 / localhost / ::1 needs one of them, or --insecure-bind.

Examples:
  $ millrace dashboard
  $ millrace dashboard --port 9000 --read-only
  $ MILLRACE_DASHBOARD_TOKEN=$(openssl rand -hex 16) millrace dashboard --host 0.0.0.0
  $ millrace dashboard --app src/tasks.ts:app --base-path /overseer`)
    .action((flags: DashboardFlags) =>
      kit.run(
        flags,
        async (s) => {
          // Every check before Redis is contacted: a bad setting is one line and exit 2.
          const options = { readOnly: flags.readOnly === true, basePath: flags.basePath ?? '' };
          const resolved = resolveOverseerOptions(options, s.app.log);
          if (!LOOPBACK.has(flags.host) && !authConfigured(resolved) && !flags.insecureBind) {
            throw new UsageError(
              `--host ${flags.host} serves the dashboard beyond this machine with no authentication: set MILLRACE_DASHBOARD_TOKEN ` +
                '(or MILLRACE_DASHBOARD_USER and MILLRACE_DASHBOARD_PASSWORD), or pass --insecure-bind',
            );
          }
          await checkRedis(s.opened);
          // Mutations are logged at info even when the app's logger is quiet.
          const log = s.app.log.child({ component: 'overseer' }, { level: 'info' });
          const handler = overseer(s.app, { ...options, log });
          const server = createServer(getRequestListener(handler));
          await new Promise<void>((resolve, reject) => {
            server.once('error', (err: NodeJS.ErrnoException) =>
              reject(new CliError(`cannot listen on ${flags.host}:${flags.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : err.message}`)),
            );
            server.listen(flags.port, flags.host, resolve);
          });
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          s.out.out(`overseer: http://${host}:${address.port}${options.basePath}/ (prefix ${s.app.prefix}${options.readOnly ? ', read-only' : ''}${authConfigured(resolved) ? ', authentication on' : ''}); Ctrl-C stops it`);
          const signal = await stopSignal();
          s.out.err(`overseer: ${signal}, stopping`);
          await handler.close();
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          return 0;
        },
        { redis: 'optional' },
      ),
    );
}
