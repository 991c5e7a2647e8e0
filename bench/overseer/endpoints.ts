// The GETs the dashboard's pages make, and what one costs: server time (the handler called
// directly, the body read), Redis commands (INFO stats delta, the bench's own commands taken
// off), which (commandstats), the exact ones of one call (MONITOR), and Redis time (SLOWLOG at
// 0 µs, read and reset after every call).

import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { OverseerHandler } from '../../src/overseer/index.js';
import { BASE, NO_MATCH, percentile, round, sleep } from './config.js';
import type { DataSet } from './dataset.js';
import { callsDelta, commandStats, commandsProcessed, monitored, resetSlowlog, shape, slowest, slowlog, type Monitored } from './redis.js';

export interface Endpoint {
  name: string;
  /** Which pages make this read on load. */
  pages: string[];
  path: string;
  /** Reads the search's NDJSON to its first progress line, then cancels. */
  searchFirst?: boolean;
}

export interface EndpointResult {
  name: string;
  path: string;
  status: number;
  /** Rows in the answer (its first array's length) and whether it gave a `next` cursor. */
  rows?: number;
  next?: boolean;
  p50: number;
  p95: number;
  max: number;
  commandsMean: number;
  commandsMax: number;
  /** Redis time in the request's commands (SLOWLOG), µs: median and mean over the calls. */
  redisUs: number;
  redisUsMean: number;
  slowestUs: number;
  slowest: string;
  calls: Record<string, number>;
  monitor: Monitored;
}

async function searchFirst(handler: OverseerHandler, path: string): Promise<{ ms: number; status: number }> {
  const abort = new AbortController();
  const t0 = performance.now();
  const res = await handler(new Request(BASE + path, { signal: abort.signal }));
  if (!res.body) return { ms: performance.now() - t0, status: res.status };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    if (buffer.includes('"type":"progress"') || buffer.includes('"type":"done"')) break;
  }
  const ms = performance.now() - t0;
  abort.abort();
  await reader.cancel().catch(() => undefined);
  return { ms, status: res.status };
}

/** Rows of a JSON answer: the length of its first array (jobs, entries, workers...), and whether it has a `next`. */
function rowsOf(body: string): { rows: number; next: boolean } | undefined {
  try {
    const v = JSON.parse(body) as Record<string, unknown>;
    const list = Object.values(v).find((x) => Array.isArray(x)) as unknown[] | undefined;
    return { rows: list?.length ?? 1, next: typeof v.next === 'string' };
  } catch {
    return undefined;
  }
}

async function once(handler: OverseerHandler, ep: Endpoint): Promise<{ ms: number; status: number; body?: string }> {
  if (ep.searchFirst) {
    const r = await searchFirst(handler, ep.path);
    await sleep(100); // a chunk read ahead before the cancel lands: counted with this request
    return r;
  }
  const t0 = performance.now();
  const res = await handler(new Request(BASE + ep.path));
  const body = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`GET ${ep.path}: ${res.status} ${body.slice(0, 200)}`);
  return { ms, status: res.status, body };
}

async function getJson<T>(handler: OverseerHandler, path: string): Promise<T> {
  const res = await handler(new Request(BASE + path));
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The reads of every page (web/overseer/pages/*.ts), with the ids and cursors of this data set. */
export async function endpointsOf(handler: OverseerHandler, d: DataSet): Promise<Endpoint[]> {
  // As the queue page asks (web/overseer/pages/queue.ts: PAGE).
  const jobs = (status: string, cursor?: string) => `/api/queues/main/jobs?status=${status}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const list: Endpoint[] = [
    { name: 'meta', pages: ['(app start)'], path: '/api/meta' },
    { name: 'queues', pages: ['search'], path: '/api/queues' },
    // The pages take it from the live stream; for scripts.
    { name: 'overview (API only)', pages: [], path: '/api/overview' },
    { name: 'history (every queue, 24 h)', pages: ['overview'], path: '/api/history?hours=24' },
    { name: 'history (main, 24 h)', pages: ['queue'], path: '/api/history?hours=24&queue=main' },
  ];
  for (const status of ['waiting', 'active', 'delayed', 'completed', 'failed']) {
    const first = await getJson<{ next?: string; jobs: unknown[] }>(handler, jobs(status));
    list.push({ name: `queue ${status}, page 1`, pages: status === 'waiting' ? ['queue'] : ['queue (tab)'], path: jobs(status) });
    if (first.next) list.push({ name: `queue ${status}, page 2`, pages: [], path: jobs(status, first.next) });
    if (status === 'waiting') {
      // 500 pages on (10,000 jobs in): a deep page costs what the second one does, or not.
      let cursor = first.next;
      for (let i = 0; i < 499 && cursor; i++) cursor = (await getJson<{ next?: string }>(handler, jobs(status, cursor))).next;
      if (cursor) list.push({ name: 'queue waiting, page 501', pages: [], path: jobs(status, cursor) });
    }
  }
  const dlq = await getJson<{ next?: string }>(handler, '/api/dlq/main?limit=50');
  list.push(
    { name: 'job detail (waiting job)', pages: ['job'], path: `/api/jobs/main/${d.ids.waiting}` },
    { name: 'job timeline (waiting job)', pages: ['job'], path: `/api/jobs/main/${d.ids.waiting}/timeline` },
    { name: 'job detail (completed job)', pages: [], path: `/api/jobs/main/${d.ids.completed}` },
    { name: 'job timeline (completed job)', pages: [], path: `/api/jobs/main/${d.ids.completed}/timeline` },
    { name: 'find job by id (waiting)', pages: ['(id box)'], path: `/api/jobs/find/${d.ids.waiting}` },
    { name: 'find job by id (dead letter)', pages: [], path: `/api/jobs/find/${d.ids.failed}` },
    { name: 'workers', pages: [], path: '/api/workers' },
    { name: 'dlq, page 1', pages: ['dlq'], path: '/api/dlq/main?limit=50' },
    ...(dlq.next ? [{ name: 'dlq, page 2 (after=)', pages: [], path: `/api/dlq/main?limit=50&after=${dlq.next}` }] : []),
    { name: 'dlq, middle page (after=)', pages: [], path: `/api/dlq/main?limit=50&after=${d.ids.dlqMiddle}` },
    { name: 'dlq operations', pages: ['dlq'], path: '/api/operations' },
    { name: 'dlq entry', pages: ['dlq (entry)'], path: `/api/dlq/main/${d.ids.dlqFirst}` },
    { name: 'cron', pages: ['cron'], path: '/api/cron' },
    { name: 'load-tests', pages: ['load-tests'], path: '/api/load-tests' },
    { name: 'load-test report', pages: ['load-tests (run)'], path: `/api/load-tests/${d.ids.loadTest}` },
    { name: 'search, first chunk', pages: ['search'], path: `/api/search?text=${NO_MATCH}&queue=main&limit=100`, searchFirst: true },
  );
  return list;
}

export async function measureEndpoint(handler: OverseerHandler, admin: Redis, ep: Endpoint, samples: number): Promise<EndpointResult> {
  for (let i = 0; i < 2; i++) await once(handler, ep); // caches (the queue's levels), JIT
  const monitor = await monitored(admin, () => once(handler, ep));
  await resetSlowlog(admin);
  const callsBefore = await commandStats(admin);
  // Each step below: INFO, SLOWLOG GET, SLOWLOG RESET (3 commands of ours), then the request.
  let prev = await commandsProcessed(admin);
  await slowlog(admin);
  await admin.slowlog('RESET');
  const ms: number[] = [];
  const commands: number[] = [];
  const redisUs: number[] = [];
  let top: { us: number; args: string[] } | undefined;
  let status = 0;
  let answer: ReturnType<typeof rowsOf>;
  for (let i = 0; i < samples; i++) {
    const r = await once(handler, ep);
    ms.push(r.ms);
    status = r.status;
    if (i === 0 && r.body !== undefined) answer = rowsOf(r.body);
    const now = await commandsProcessed(admin);
    commands.push(now - prev - 3);
    prev = now;
    const slow = await slowlog(admin);
    await admin.slowlog('RESET');
    redisUs.push(slow.reduce((a, e) => a + e.us, 0));
    const s = slowest(slow);
    if (s && (!top || s.us > top.us)) top = s;
  }
  const calls = callsDelta(callsBefore, await commandStats(admin), samples);
  return {
    name: ep.name, path: ep.path, status, rows: answer?.rows, next: answer?.next,
    p50: round(percentile(ms, 50), 2), p95: round(percentile(ms, 95), 2), max: round(Math.max(...ms), 2),
    commandsMean: round(commands.reduce((a, b) => a + b, 0) / samples, 2), commandsMax: Math.max(...commands),
    redisUs: percentile(redisUs, 50), redisUsMean: round(redisUs.reduce((a, b) => a + b, 0) / samples, 0),
    slowestUs: top?.us ?? 0, slowest: top ? shape(top.args) : '', calls, monitor,
  };
}
