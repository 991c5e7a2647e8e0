// Pickup latency at a steady rate: producer child process, worker here; reports p50/p99 and
// the worker's event-loop delay and GC pauses. Usage: tsx scratch/lat.mts [rate] [seconds] [--no-events]
import { fork } from 'node:child_process';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';
const role = process.argv[2];
const events = !process.argv.includes('--no-events');
if (role === 'producer') {
  const port = Number(process.argv[3]); const rate = Number(process.argv[4]); const secs = Number(process.argv[5]);
  const app = new Millrace({ redis: `redis://127.0.0.1:${port}`, prefix: 'p', logLevel: 'warn', events });
  const task = app.queue('bench', { resultTtl: 'none' }).task('noop', async (_c, _d: { p: string; t: number }) => {});
  await app.inspector.counts(app.queue('bench'));
  const total = rate * secs; let sent = 0; const t0 = performance.timeOrigin + performance.now();
  await new Promise<void>((resolve) => { const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.timeOrigin + performance.now() - t0) / 1000) * rate));
    while (sent < due) { sent++; void task.enqueue({ p: 'x'.repeat(100), t: performance.timeOrigin + performance.now() }); }
    if (sent >= total) { clearInterval(timer); resolve(); } }, 1); });
  await new Promise((r) => setTimeout(r, 200)); await app.close(); process.exit(0);
}
const rate = Number(process.argv[2] ?? 2000), secs = Number(process.argv[3] ?? 8);
const server = await RedisServer.start();
const app = new Millrace({ redis: `redis://127.0.0.1:${server.port}`, prefix: 'p', logLevel: 'warn', events });
const lat: number[] = [];
const q = app.queue('bench', { resultTtl: 'none' });
/** Samples over 2 ms: [enqueued at (ms since start), latency, producer to Redis entry, Redis entry to handler]. */
const slow: number[][] = [];
q.task('noop', async (c, d: { p: string; t: number }) => { const now = performance.timeOrigin + performance.now(); lat.push(now - d.t); if (now - d.t > 2) { const e = Number(c.id.split('-')[0]); slow.push([Math.round(d.t - performance.timeOrigin), +(now - d.t).toFixed(1), +(e - d.t).toFixed(1), +(now - e).toFixed(1)]); } });
const worker = app.worker({ handleSignals: false, concurrency: 10 });
await worker.start();
const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
const hs = new Session(); hs.connect();
if (process.env.HEAP) { await hs.post('HeapProfiler.enable'); await hs.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }); }
const gcs: number[] = []; const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push(e.duration); }); obs.observe({ entryTypes: ['gc'] });
const child = fork(new URL(import.meta.url).pathname, ['producer', String(server.port), String(rate), String(secs), ...(events ? [] : ['--no-events'])], { execArgv: process.execArgv });
await new Promise((r) => child.on('exit', r));
await new Promise((r) => setTimeout(r, 300));
h.disable(); obs.disconnect();
if (process.env.HEAP) { const { profile } = await hs.post('HeapProfiler.stopSampling'); writeFileSync(process.env.HEAP, JSON.stringify(profile)); }
const s = lat.slice(Math.round(lat.length / 8)).sort((a, b) => a - b);
const p = (x: number) => s[Math.min(s.length - 1, Math.ceil(x / 100 * s.length) - 1)]!.toFixed(2);
gcs.sort((a, b) => a - b);
console.log(`n=${s.length} p50=${p(50)} p90=${p(90)} p99=${p(99)} p99.9=${p(99.9)} max=${s.at(-1)!.toFixed(1)} | loop delay p99=${(h.percentile(99) / 1e6).toFixed(2)} max=${(h.max / 1e6).toFixed(1)} | gc n=${gcs.length} sum=${gcs.reduce((a, b) => a + b, 0).toFixed(0)}ms max=${(gcs.at(-1) ?? 0).toFixed(2)}`);
if (process.env.SLOW) console.log(JSON.stringify(slow.slice(-60)));
await worker.stop({ grace: 1000 }); await app.close(); await server.stop();
