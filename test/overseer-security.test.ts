// Overseer's guards: security headers on every response, token and basic authentication (and
// the cookie a ?token= link sets), read-only mode refusing a forged POST, the CSRF check, and
// bad options refused with the option named.

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { testApp } from './helpers.js';
import { json, SAME_ORIGIN, serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovsec');
const { app } = t;
const q = app.queue('guarded');
const task = q.task('noop', async () => 'ok');
const opened: { handler: OverseerHandler; served: Served }[] = [];

async function serve(options: Parameters<typeof overseer>[1] = {}): Promise<string> {
  const handler = overseer(app, options);
  const served = await serveHandler(handler);
  opened.push({ handler, served });
  return served.url;
}

beforeAll(async () => {
  await task.enqueue();
});

afterEach(() => vi.unstubAllEnvs());

afterAll(async () => {
  for (const { handler, served } of opened) {
    await handler.close();
    await served.close();
  }
  await t.cleanup();
});

const abortPath = '/api/jobs/guarded/no-such-job/abort';

describe('overseer security', () => {
  it('sends a Content-Security-Policy without inline script, nosniff and no framing on every response', async () => {
    const url = await serve();
    for (const path of ['/', '/assets/app.js', '/api/overview', '/api/nothing', '/nowhere']) {
      const res = await fetch(`${url}${path}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
    const html = await (await fetch(`${url}/`)).text();
    expect(html).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('with a token: refuses requests without it (401), takes a Bearer header, and a ?token= link once (an HttpOnly SameSite=Strict cookie)', async () => {
    const url = await serve({ token: 's3cret-token' });
    const refused = await fetch(`${url}/api/overview`);
    expect(refused.status).toBe(401);
    expect((await json(refused)).error).toContain('authentication required');
    expect((await fetch(`${url}/`)).status).toBe(401);
    expect((await fetch(`${url}/api/overview`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${url}/api/overview`, { headers: { Authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect((await fetch(`${url}/api/queues/guarded/pause`, { method: 'POST', headers: SAME_ORIGIN, body: '{}' })).status).toBe(401);
    expect(await app.isPaused('guarded')).toBe(false);

    const link = await fetch(`${url}/?token=s3cret-token`, { redirect: 'manual' });
    expect(link.status).toBe(303);
    expect(link.headers.get('location')).toBe('/');
    const cookie = link.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^overseer_token=s3cret-token;/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const withCookie = await fetch(`${url}/api/overview`, { headers: { Cookie: cookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
    // A forged POST with a valid cookie but from another site is still refused.
    const forged = await fetch(`${url}${abortPath}`, { method: 'POST', headers: { Cookie: cookie.split(';')[0]!, 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' }, body: '{}' });
    expect(forged.status).toBe(403);
  });

  it('with basic credentials from the environment: asks for them, and takes the right ones only', async () => {
    vi.stubEnv('MILLRACE_DASHBOARD_USER', 'ops');
    vi.stubEnv('MILLRACE_DASHBOARD_PASSWORD', 'pa:ss');
    const url = await serve();
    const refused = await fetch(`${url}/api/overview`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('Basic realm="Overseer"');
    const basic = (user: string, pass: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
    expect((await fetch(`${url}/api/overview`, { headers: basic('ops', 'wrong') })).status).toBe(401);
    expect((await fetch(`${url}/api/overview`, { headers: basic('other', 'pa:ss') })).status).toBe(401);
    expect((await fetch(`${url}/api/overview`, { headers: basic('ops', 'pa:ss') })).status).toBe(200);
  });

  it('read-only: the meta says so and a forged POST is refused with 403 (nothing changed)', async () => {
    const job = await task.with({ delay: '1h' }).enqueue();
    const url = await serve({ readOnly: true });
    expect(await json(await fetch(`${url}/api/meta`))).toMatchObject({ readOnly: true });
    const res = await fetch(`${url}/api/jobs/guarded/${job.id}/abort`, { method: 'POST', headers: SAME_ORIGIN, body: '{}' });
    expect(res.status).toBe(403);
    expect((await json(res)).error).toContain('read-only');
    expect((await fetch(`${url}/api/dlq/guarded/purge`, { method: 'POST', headers: SAME_ORIGIN, body: '{"confirm":"guarded"}' })).status).toBe(403);
    expect((await fetch(`${url}/api/queues/guarded/pause`, { method: 'POST', headers: SAME_ORIGIN, body: '{}' })).status).toBe(403);
    expect(await job.status()).toBe('delayed');
    expect(await app.isPaused('guarded')).toBe(false);
  });

  it('CSRF: a mutation passes only from the same origin (Sec-Fetch-Site, else Origin against Host)', async () => {
    const url = await serve();
    const host = new URL(url).host;
    const attempt = (headers: Record<string, string>) => fetch(`${url}${abortPath}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{}' });
    for (const headers of <Record<string, string>[]>[{ 'Sec-Fetch-Site': 'cross-site' }, { 'Sec-Fetch-Site': 'same-site' }, { Origin: 'http://evil.example' }, { Origin: 'null' }, {}]) {
      const res = await attempt(headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect((await json(res)).error).toContain('CSRF');
    }
    const pause = await fetch(`${url}/api/queues/guarded/pause`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' }, body: '{}' });
    expect(pause.status).toBe(403);
    expect(await app.isPaused('guarded')).toBe(false);
    // Allowed through to the action, which answers that there is no such job.
    expect((await attempt({ 'Sec-Fetch-Site': 'same-origin' })).status).toBe(404);
    expect((await attempt({ 'Sec-Fetch-Site': 'none' })).status).toBe(404);
    expect((await attempt({ Origin: `http://${host}` })).status).toBe(404);
  });

  it('refuses bad options naming them', () => {
    expect(() => overseer(app, { basePath: 'overseer' })).toThrow(/'basePath'/);
    expect(() => overseer(app, { basePath: '/overseer/' })).toThrow(/'basePath'/);
    expect(() => overseer(app, { interval: 10 })).toThrow(/'interval'/);
    vi.stubEnv('MILLRACE_DASHBOARD_USER', 'ops');
    expect(() => overseer(app)).toThrow(/'MILLRACE_DASHBOARD_PASSWORD'/);
    vi.stubEnv('MILLRACE_DASHBOARD_USER', '');
    expect(() => overseer(app)).toThrow(/'MILLRACE_DASHBOARD_USER'/);
  });
});
