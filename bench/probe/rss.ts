// Worker memory while draining N jobs at c=10: heapUsed and RSS after gc() at marks.
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';
const N = Number(process.argv[2] ?? 200000);
const server = await RedisServer.start();
const url = `redis://127.0.0.1:${server.port}`;
const filler = new Millrace({ redis: url, prefix: 'p', logLevel: 'warn' });
const ft = filler.queue('bench', { resultTtl: 'none' }).task('noop', async (_c, _d: { p: string }) => {});
for (let i = 0; i < N; i += 1000) await ft.enqueueMany(Array.from({ length: 1000 }, () => [{ p: 'x'.repeat(100) }] as [{ p: string }]));
await filler.close();
const app = new Millrace({ redis: url, prefix: 'p', logLevel: 'warn' });
let n = 0; let done!: () => void; const all = new Promise<void>((r) => (done = r));
const marks = new Set([25000, 50000, 100000, 150000, N]);
app.queue('bench', { resultTtl: 'none' }).task('noop', async () => {
  n++;
  if (marks.has(n)) { (globalThis as { gc?: () => void }).gc?.(); const m = process.memoryUsage(); console.log(n, 'heapUsed', (m.heapUsed / 1e6).toFixed(1), 'heapTotal', (m.heapTotal / 1e6).toFixed(1), 'rss', (m.rss / 1e6).toFixed(1), 'ext', (m.external / 1e6).toFixed(1), 'ab', (m.arrayBuffers / 1e6).toFixed(1)); }
  if (n === N) done();
});
const w = app.worker({ handleSignals: false, concurrency: 10 });
await w.start(); await all; await w.stop({ grace: 1000 }); await app.close(); await server.stop();
