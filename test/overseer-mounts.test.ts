// Overseer mounted under /overseer in the servers docs/dashboard.md shows, each exactly as the
// docs write it: node:http, Hono, Express (before its body parser) and Fastify (its parsers off
// in the dashboard's scope). Through each: the page and its
// redirect, the JSON API, actions with JSON bodies and the CSRF headers (pause / resume, a body
// of 1,000 ids), the host app's own routes and body parser untouched, and the live stream: its
// first snapshot, and no stream left once the client aborts.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { testApp, waitFor } from './helpers.js';
import { json, openStream, SAME_ORIGIN, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovmount');
const { app } = t;
const send = app.queue('mails').task('send', async (_ctx, to: string) => ({ sent: to }));

beforeAll(async () => {
  await send.enqueue('a@x');
});

afterAll(async () => {
  await t.cleanup();
});

/** A node:http server on a free port of 127.0.0.1, closed with its connections. */
async function listen(server: Server): Promise<Served> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Mount {
  name: string;
  /** Whether the host app has a JSON route of its own at POST /echo (answers `{ got: body }`). */
  echo: boolean;
  serve(dashboard: OverseerHandler): Promise<Served>;
}

// Each `serve` below is the docs' snippet (docs/dashboard.md, "Mounting it in your server").
const mounts: Mount[] = [
  {
    name: 'node:http',
    echo: false,
    serve: (dashboard) => {
      const overseerRequest = getRequestListener(dashboard);
      return listen(
        createServer((req, res) => {
          if (req.url === '/overseer' || req.url?.startsWith('/overseer/')) return overseerRequest(req, res);
          res.statusCode = 404;
          res.end();
        }),
      );
    },
  },
  {
    name: 'Hono',
    echo: true,
    serve: (dashboard) => {
      const web = new Hono();
      web.all('/overseer', (c) => dashboard(c.req.raw));
      web.all('/overseer/*', (c) => dashboard(c.req.raw));
      web.post('/echo', async (c) => c.json({ got: await c.req.json() }));
      return listen(createServer(getRequestListener(web.fetch)));
    },
  },
  {
    name: 'Express',
    echo: true,
    serve: (dashboard) => {
      const overseerRequest = getRequestListener(dashboard);
      const web = express();
      web.use((req, res, next) => (req.url === '/overseer' || req.url.startsWith('/overseer/') ? overseerRequest(req, res) : next()));
      web.use(express.json());
      web.post('/echo', (req, res) => void res.json({ got: req.body }));
      return listen(createServer(web));
    },
  },
  {
    name: 'Fastify',
    echo: true,
    serve: async (dashboard) => {
      const overseerRequest = getRequestListener(dashboard);
      const web = Fastify();
      web.post('/echo', async (req) => ({ got: req.body }));
      await web.register(async (scope) => {
        // The dashboard reads the raw body itself: no parser of Fastify's in this scope.
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
        scope.all('/overseer', (req, reply) => { reply.hijack(); void overseerRequest(req.raw, reply.raw); });
        scope.all('/overseer/*', (req, reply) => { reply.hijack(); void overseerRequest(req.raw, reply.raw); });
      });
      await web.listen({ port: 0, host: '127.0.0.1' });
      const { port } = web.server.address() as AddressInfo;
      return {
        url: `http://127.0.0.1:${port}`,
        // As for node:http: connections a client keeps alive do not hold the close up.
        close: async () => {
          web.server.closeAllConnections();
          await web.close();
        },
      };
    },
  },
];

describe.each(mounts)('overseer mounted under /overseer in $name', { timeout: 60_000 }, (mount) => {
  let dashboard: OverseerHandler;
  let served: Served;
  const post = async (path: string, body: string, headers: Record<string, string> = SAME_ORIGIN) => {
    const res = await fetch(`${served.url}${path}`, { method: 'POST', headers, body });
    return { status: res.status, body: await json(res) };
  };

  beforeAll(async () => {
    dashboard = overseer(app, { basePath: '/overseer', interval: 250 });
    served = await mount.serve(dashboard);
  });

  afterAll(async () => {
    await dashboard?.close();
    await served?.close();
    await app.resume('mails');
  });

  it('serves the page (after a redirect from the bare path) and the JSON API; other paths stay the host app’s', async () => {
    const bare = await fetch(`${served.url}/overseer`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/overseer/');
    const page = await fetch(`${served.url}/overseer/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script src="assets/app.js" defer></script>');
    expect((await fetch(`${served.url}/overseer/assets/app.js`)).headers.get('content-type')).toContain('text/javascript');

    const overview = await fetch(`${served.url}/overseer/api/overview`);
    expect(overview.status).toBe(200);
    expect(overview.headers.get('content-type')).toContain('application/json');
    const q = (await json(overview)).queues.find((x: { name: string }) => x.name === 'mails');
    expect(q).toMatchObject({ readyTotal: 1, delayed: 0, dlq: 0 });
    const listed = await json(await fetch(`${served.url}/overseer/api/queues/mails/jobs?status=waiting&limit=5`));
    expect(listed.jobs).toHaveLength(1);

    expect((await fetch(`${served.url}/overseer-not/api/overview`)).status).toBe(404);
    expect((await fetch(`${served.url}/elsewhere`)).status).toBe(404);
  });

  it('passes request bodies: pause and resume with JSON bodies and the CSRF headers, 1,000 ids, the host’s own parser untouched', async () => {
    expect(await post('/overseer/api/queues/mails/pause', '{}')).toEqual({ status: 200, body: { queue: 'mails', paused: true } });
    expect(await app.isPaused('mails')).toBe(true);
    // No Sec-Fetch-Site: Origin must name the Host (it reaches the handler as the client sent it).
    const resumed = await post('/overseer/api/queues/mails/resume', '{}', { 'Content-Type': 'application/json', Origin: served.url });
    expect(resumed).toEqual({ status: 200, body: { queue: 'mails', paused: false } });
    expect(await app.isPaused('mails')).toBe(false);
    const crossSite = await post('/overseer/api/queues/mails/pause', '{}', { 'Content-Type': 'application/json', Origin: 'http://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(await app.isPaused('mails')).toBe(false);

    // The body is read as sent: a field checked, a body of some 15 KB, bad JSON refused.
    const wrong = await post('/overseer/api/dlq/mails/purge', JSON.stringify({ confirm: 'not-mails' }));
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toContain("field 'confirm' must be the queue's name");
    const ids = Array.from({ length: 1000 }, (_, i) => `1700000000000-${i}`);
    expect(await post('/overseer/api/dlq/mails/delete', JSON.stringify({ ids }))).toEqual({ status: 200, body: { deleted: 0 } });
    const bad = await post('/overseer/api/dlq/mails/purge', '{"confirm":');
    expect(bad).toEqual({ status: 400, body: { error: 'the request body is not valid JSON' } });
    const form = await post('/overseer/api/dlq/mails/purge', 'confirm=mails', { 'Content-Type': 'application/x-www-form-urlencoded', 'Sec-Fetch-Site': 'same-origin' });
    expect(form.status).toBe(400);
    expect(form.body.error).toContain('JSON body');

    if (mount.echo) {
      const echoed = await post('/echo', JSON.stringify({ a: 1 }), { 'Content-Type': 'application/json' });
      expect(echoed).toEqual({ status: 200, body: { got: { a: 1 } } });
    }
  });

  it('streams the live feed: the first snapshot arrives, and the stream is gone once the client aborts', async () => {
    const stream = openStream(`${served.url}/overseer/api/events`);
    try {
      expect(await stream.status).toBe(200);
      const [snapshot] = await waitFor(() => (stream.of('snapshot').length > 0 ? stream.of('snapshot') : undefined), { timeout: 20_000, what: 'the first snapshot' });
      expect(snapshot.queues.map((q: { name: string }) => q.name)).toContain('mails');
      expect(dashboard.stats()).toMatchObject({ streams: 1, live: true });
    } finally {
      stream.close();
    }
    await stream.ended;
    await waitFor(() => dashboard.stats().streams === 0, { timeout: 20_000, what: 'the stream closed on the server' });
    await waitFor(() => !dashboard.stats().live, { timeout: 20_000, what: 'the live loop stopped' });
  });
});
