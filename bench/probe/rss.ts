// Worker memory while draining N jobs at c=10: after gc() at marks, RSS, V8's heap in use and
// its old space as committed. A forked process fills the queue first (so this one holds no
// producer garbage). With --trace-gc-nvp, bench/probe/promoted.sh sums what the young
// collections promoted.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';

const app = (url: string) => new Millrace({ redis: url, prefix: 'p', logLevel: 'warn', events: process.env.EVENTS !== '0' });
const noop = async (_c: unknown, _d: { p: string }) => {};

if (process.argv[2] === 'fill') {
  const [url, n] = [process.argv[3]!, Number(process.argv[4])];
  const filler = app(url);
  const t = filler.queue('bench', { resultTtl: 'none' }).task('noop', noop);
  for (let i = 0; i < n; i += 1000) await t.enqueueMany(Array.from({ length: 1000 }, () => [{ p: 'x'.repeat(100) }] as [{ p: string }]));
  await filler.close();
} else {
  const N = Number(process.argv[2] ?? 200000);
  const server = await RedisServer.start();
  const url = `redis://127.0.0.1:${server.port}`;
  await new Promise((resolve, reject) => fork(fileURLToPath(import.meta.url), ['fill', url, String(N)], { stdio: 'ignore' }).on('exit', (c) => (c === 0 ? resolve(c) : reject(new Error(`filler exited ${c}`)))));
  const worker = app(url);
  const MB = (b: number) => (b / 1048576).toFixed(1);
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const marks = new Set([25000, 50000, 100000, 150000, N]);
  worker.queue('bench', { resultTtl: 'none' }).task('noop', async () => {
    n++;
    if (marks.has(n)) {
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
      console.log(n, 'rss', MB(m.rss), 'heapUsed', MB(m.heapUsed), 'heapTotal', MB(m.heapTotal), 'old space', MB(old.space_size));
    }
    if (n === N) done();
  });
  const w = worker.worker({ handleSignals: false, concurrency: 10 });
  await w.start();
  await all;
  await w.stop({ grace: 1000 });
  await worker.close();
  await server.stop();
}
