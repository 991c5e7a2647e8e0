// `millrace dashboard` as a real process: bad flags and settings exit 2 with one line naming
// them, a non-loopback address without authentication is refused unless --insecure-bind, and
// the dashboard serves the app's prefix (read-only, under a base path, with a token) until
// SIGTERM, then exits 0.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, runCli, startCli, type Child } from './fixtures/children.js';
import { testApp, waitFor } from './helpers.js';

const t = testApp({ logLevel: 'silent' }, 'clidash');
const invoice = t.app.queue('billing').task('invoice', async () => 'ok');
const env = { MILLRACE_PREFIX: t.prefix };

// A queue is seen under its prefix once a job was enqueued on it.
beforeAll(() => invoice.enqueue());

afterEach(() => killChildren());
afterAll(() => t.cleanup());

/** The address the command prints once it listens. */
async function listening(child: Child): Promise<string> {
  const line = await waitFor(() => /overseer: (http:\/\/\S+)/.exec(child.stdout())?.[1], { timeout: 20_000, what: `the dashboard's address (stderr: ${child.stderr()})` });
  return line;
}

describe('millrace dashboard', { timeout: 60_000 }, () => {
  it('exits 2 with one line naming a bad flag or setting', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--port', '70000'], {}, /--port expects a port number from 0 to 65535/],
      [['--port', 'eighty'], {}, /--port expects a port number/],
      [['--base-path', 'overseer/'], {}, /--base-path expects a path like '\/overseer'/],
      [['--host', '0.0.0.0'], {}, /--host 0\.0\.0\.0 serves the dashboard beyond this machine with no authentication: .*--insecure-bind/],
      [[], { MILLRACE_DASHBOARD_USER: 'ops' }, /'MILLRACE_DASHBOARD_PASSWORD'/],
      [[], { MILLRACE_DASHBOARD_TOKEN: ' ' }, /'MILLRACE_DASHBOARD_TOKEN'/],
    ];
    const results = await Promise.all(cases.map(([args, extra]) => runCli(['dashboard', ...args], { ...env, ...extra })));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(cases[i]![2]);
    });
  });

  it('serves the prefix read-only under a base path, and stops on SIGTERM with exit 0', async () => {
    const child = startCli(['dashboard', '--port', '0', '--read-only', '--base-path', '/ops'], env);
    const url = await listening(child);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ops\/$/);
    expect(child.stdout()).toContain('read-only');
    expect(await (await fetch(`${url}api/meta`)).json()).toMatchObject({ readOnly: true, prefix: t.prefix });
    const overview = (await (await fetch(`${url}api/overview`)).json()) as { queues: { name: string }[] };
    expect(overview.queues.map((q) => q.name)).toEqual(['billing']);
    expect((await fetch(`${url}api/dlq/billing/purge`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-origin' }, body: '{"confirm":"billing"}' })).status).toBe(403);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('binds beyond loopback with a token from the environment (or --insecure-bind), and asks for the token', async () => {
    const child = startCli(['dashboard', '--port', '0', '--host', '0.0.0.0'], { ...env, MILLRACE_DASHBOARD_TOKEN: 'tok-123' });
    const url = (await listening(child)).replace('0.0.0.0', '127.0.0.1');
    expect(child.stdout()).toContain('authentication on');
    expect((await fetch(`${url}api/overview`)).status).toBe(401);
    expect((await fetch(`${url}api/overview`, { headers: { Authorization: 'Bearer tok-123' } })).status).toBe(200);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);

    const open = startCli(['dashboard', '--port', '0', '--host', '0.0.0.0', '--insecure-bind'], env);
    const openUrl = (await listening(open)).replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${openUrl}api/overview`)).status).toBe(200);
    open.proc.kill('SIGTERM');
    expect((await open.exited).code).toBe(0);
  });
});
