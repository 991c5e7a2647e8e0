// Measures one scenario on a private redis-server: wall time, this process' CPU, Redis CPU,
// and Redis commandstats. Usage: tsx scratch/prof.mts single|drain|bulk [n] [--no-events] [--c=100]
import { Redis } from 'ioredis';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';
import { commandStats, redisCpuSeconds } from './redis-info.js';

const mode = process.argv[2] ?? 'drain';
const n = Number(process.argv[3] ?? 50000);
const events = !process.argv.includes('--no-events');
const conc = Number(process.argv.find((a) => a.startsWith('--c='))?.slice(4) ?? 100);
const PAYLOAD = 'x'.repeat(100);

const server = await RedisServer.start();
const admin = new Redis({ port: server.port });
const app = new Millrace({ redis: `redis://127.0.0.1:${server.port}`, prefix: 'p', logLevel: 'warn', events });
const queue = app.queue('bench', { resultTtl: process.argv.includes('--keep') ? '1h' : 'none' });
let handled = 0;
let resolveDone!: () => void;
const done = new Promise<void>((r) => (resolveDone = r));
const task = queue.task('noop', async (_ctx, _d: { p: string }) => {
  if (++handled === n) resolveDone();
});
await app.inspector.counts(queue);

import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
const profOut = process.argv.find((a) => a.startsWith('--prof='))?.slice(7);
async function measure(fn: () => Promise<void>) {
  await admin.config('RESETSTAT');
  const session = new Session();
  if (process.env.HEAP) { session.connect(); await session.post('HeapProfiler.enable'); await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }); }
  if (profOut) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 100 }); await session.post('Profiler.start'); }
  const r0 = await redisCpuSeconds(admin);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (process.env.HEAP) { const { profile } = await session.post('HeapProfiler.stopSampling'); writeFileSync(process.env.HEAP, JSON.stringify(profile)); }
  if (profOut) { const { profile } = await session.post('Profiler.stop'); writeFileSync(profOut, JSON.stringify(profile)); }
  const r1 = await redisCpuSeconds(admin);
  const stats = await commandStats(admin);
  console.log(`${mode} n=${n} events=${events}: ${(n / (wall / 1000)).toFixed(0)} jobs/s; wall ${wall.toFixed(0)} ms`);
  console.log(`  node cpu ${(((c.user + c.system) / 1000) / wall * 100).toFixed(0)}% = ${((c.user + c.system) / n).toFixed(1)} us/job (user ${(c.user / n).toFixed(1)}, sys ${(c.system / n).toFixed(1)})`);
  console.log(`  redis cpu ${(((r1 - r0) * 1000) / wall * 100).toFixed(0)}% = ${(((r1 - r0) * 1e6) / n).toFixed(1)} us/job`);
  for (const [name, { calls, usec }] of stats) {
    if (calls > 10) console.log(`    ${name}: calls ${calls} (${(calls / n).toFixed(3)}/job), ${(usec / n).toFixed(2)} us/job`);
  }
}

const fill = async () => {
  for (let i = 0; i < n; i += 1000) await task.enqueueMany(Array.from({ length: Math.min(1000, n - i) }, () => [{ p: PAYLOAD }] as [{ p: string }]));
};
try {
  if (mode === 'single') {
    for (let i = 0; i < 100; i++) await task.enqueue({ p: PAYLOAD });
    await measure(async () => {
      let issued = 0;
      const lane = async () => {
        while (issued < n) {
          issued++;
          await task.enqueue({ p: PAYLOAD });
        }
      };
      await Promise.all(Array.from({ length: 50 }, lane));
    });
  } else if (mode === 'bulk') {
    await task.enqueueMany([[{ p: PAYLOAD }]]);
    await measure(fill);
  } else {
    await fill();
    const worker = app.worker({ handleSignals: false, concurrency: conc });
    await measure(async () => {
      await worker.start();
      await done;
      for (;;) {
        const c = await app.inspector.counts(queue);
        if (Object.values(c.waiting).reduce((a, b) => a + b, 0) + c.active === 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    await worker.stop({ grace: 1000 });
  }
} finally {
  await app.close();
  admin.disconnect();
  await server.stop();
}
