// Overseer, the live web dashboard: `overseer(app, options)` is one Web-standard fetch handler
// (Request -> Response) serving the front end, its JSON API, its live stream and its actions,
// to mount in node:http, Hono, Express, Fastify or anything that speaks fetch.

import { Hono } from 'hono';
import type { Millrace } from '../app.js';
import { Assets } from './assets.js';
import { OverseerData, type OverseerApp } from './data.js';
import { LiveHub } from './live.js';
import { resolveOverseerOptions, type OverseerOptions } from './options.js';
import { actionRoutes } from './actions.js';
import { BulkOperations } from './bulk.js';
import { BadRequest, readRoutes } from './routes.js';
import { historyRoutes } from './history.js';
import { reportRoutes } from './reports.js';
import { timelineRoutes } from './timeline.js';
import { authenticate, guardMutations, securityHeaders, type Env } from './security.js';

export type { OverseerOptions } from './options.js';
export type { Redactor } from './data.js';

export interface OverseerHandler {
  (request: Request): Promise<Response>;
  /** Stops the live feed (ends open streams) and cancels running bulk operations (each ends after its current batch); the app stays open. */
  close(): Promise<void>;
  /** What the live view did: snapshots computed, streams open now, whether its loop runs. */
  stats(): { snapshots: number; streams: number; live: boolean };
  readonly basePath: string;
  readonly readOnly: boolean;
}

export function overseer<D>(app: Millrace<D>, options: OverseerOptions = {}): OverseerHandler {
  const o = resolveOverseerOptions(options, app.log);
  const data = new OverseerData(app as unknown as OverseerApp, o.redact, o.staleAfterMs);
  const hub = new LiveHub(data, o.log, o.intervalMs);
  const assets = new Assets();
  const bulk = new BulkOperations(data, o.log);

  const root = new Hono<Env>();
  root.use('*', securityHeaders());
  const site = root.basePath(o.basePath);
  site.use('*', authenticate(o));
  site.use('*', guardMutations(o));

  const api = new Hono<Env>();
  readRoutes(api, data, hub, o);
  historyRoutes(api, data);
  reportRoutes(api, data);
  const timelines = timelineRoutes(api, data);
  actionRoutes(api, data, o, bulk);
  api.all('*', (c) => c.json({ error: `no such API route: ${c.req.method} ${c.req.path}` }, 404));
  site.route('/api', api);

  const file = (name: string, cache: string) => (c: import('hono').Context<Env>) => {
    const asset = assets.get(name)!;
    return c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type, 'Cache-Control': cache });
  };
  // The page lives at '<basePath>/' (its asset and API paths are relative to it).
  root.get(`${o.basePath}/`, file('index.html', 'no-cache'));
  site.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    return assets.get(name) ? file(name, 'no-cache')(c) : c.json({ error: `no such file: ${name}` }, 404);
  });
  if (o.basePath !== '') root.get(o.basePath, (c) => c.redirect(`${o.basePath}/${new URL(c.req.url).search}`, 301));

  root.notFound((c) => c.json({ error: `not found: ${c.req.path}` }, 404));
  root.onError((err, c) => {
    if (err instanceof BadRequest) return c.json({ error: err.message }, err.status);
    if (err.name === 'ConfigError') return c.json({ error: err.message }, 400);
    o.log.error({ err, path: c.req.path }, 'overseer: a request failed');
    return c.json({ error: err.message }, 500);
  });

  const handler = (async (request: Request) => root.fetch(request)) as OverseerHandler;
  Object.assign(handler, {
    close: async () => {
      await bulk.close();
      await hub.close();
      await timelines.close();
    },
    stats: () => ({ snapshots: hub.computed, streams: hub.size, live: hub.running }),
    basePath: o.basePath,
    readOnly: o.readOnly,
  });
  return handler;
}
