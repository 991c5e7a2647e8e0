// The dashboard's guards: security headers on every response, authentication (a bearer
// token, a cookie set from `?token=` once, or basic credentials), and for every mutation the
// read-only refusal and a CSRF check (Sec-Fetch-Site, else Origin against Host).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { ResolvedOverseerOptions } from './options.js';

export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const COOKIE = 'overseer_token';

/** Who made a request, for the mutation log. */
export type Env = { Variables: { who: string } };

export function securityHeaders(): MiddlewareHandler<Env> {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set('Content-Security-Policy', CSP);
    h.set('X-Content-Type-Options', 'nosniff');
    h.set('X-Frame-Options', 'DENY');
    h.set('Referrer-Policy', 'no-referrer');
    h.set('Cross-Origin-Opener-Policy', 'same-origin');
    h.set('Cross-Origin-Resource-Policy', 'same-origin');
    if (!h.has('Cache-Control')) h.set('Cache-Control', 'no-store');
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares secrets in constant time (of their hashes, so lengths do not leak either). */
function same(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function authenticate(o: ResolvedOverseerOptions): MiddlewareHandler<Env> {
  const cookiePath = `${o.basePath}/`;
  return async (c, next) => {
    const who = identify(c, o);
    if (who === undefined) return refuse(c, o);
    c.set('who', who);
    // A token in the URL (a link handed out once) becomes a cookie, and leaves the address bar.
    if (o.token !== undefined && c.req.query('token') !== undefined) {
      setCookie(c, COOKIE, o.token, { httpOnly: true, sameSite: 'Strict', path: cookiePath, secure: new URL(c.req.url).protocol === 'https:' });
      if (c.req.method === 'GET' && !c.req.path.startsWith(`${o.basePath}/api/`)) {
        const url = new URL(c.req.url);
        url.searchParams.delete('token');
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
    }
    await next();
  };
}

/** The requester's name when its credentials are good ('anonymous' when none are asked for). */
function identify(c: Context, o: ResolvedOverseerOptions): string | undefined {
  if (o.token === undefined && o.credentials === undefined) return 'anonymous';
  const header = c.req.header('Authorization') ?? '';
  if (o.token !== undefined) {
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const candidates = [bearer, c.req.query('token'), getCookie(c, COOKIE)];
    if (candidates.some((t) => t !== undefined && same(t, o.token!))) return 'token';
  }
  if (o.credentials !== undefined) {
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header)?.[1];
    if (basic) {
      const text = Buffer.from(basic, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      const user = colon < 0 ? text : text.slice(0, colon);
      const password = colon < 0 ? '' : text.slice(colon + 1);
      // Both compared, always: the time does not tell which was wrong.
      const userOk = same(user, o.credentials.user);
      const passwordOk = same(password, o.credentials.password);
      if (userOk && passwordOk) return `user:${user}`;
    }
  }
  return undefined;
}

function refuse(c: Context, o: ResolvedOverseerOptions): Response {
  const headers: Record<string, string> = {};
  // Only basic credentials make the browser ask; a token is given by link or header.
  if (o.credentials !== undefined) headers['WWW-Authenticate'] = 'Basic realm="Overseer", charset="UTF-8"';
  const message = o.credentials !== undefined
    ? 'authentication required: basic credentials'
    : 'authentication required: a bearer token (Authorization: Bearer <token>) or a link with ?token=<token>';
  return c.json({ error: message }, 401, headers);
}

/** Mutations: refused in read-only mode, and unless they come from this dashboard's own pages. */
export function guardMutations(o: ResolvedOverseerOptions): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    if (o.readOnly) return c.json({ error: 'the dashboard is read-only' }, 403);
    const problem = crossSite(c);
    if (problem) return c.json({ error: `refused (CSRF protection): ${problem}` }, 403);
    await next();
  };
}

/** Why a request may come from another site, or undefined when it comes from this one. */
function crossSite(c: Context): string | undefined {
  const site = c.req.header('Sec-Fetch-Site');
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site is '${site}'`;
  const origin = c.req.header('Origin');
  if (origin === undefined) return 'neither Sec-Fetch-Site nor Origin is sent';
  const host = c.req.header('Host') ?? new URL(c.req.url).host;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `Origin '${origin}' is not a URL`;
  }
  return originHost === host ? undefined : `Origin '${origin}' does not match Host '${host}'`;
}
