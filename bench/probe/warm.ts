// Single-enqueue rate of a cold process, per 5,000 jobs (50 in flight), and the client's CPU per
// job: how long JIT warm-up lasts. Usage: npx tsx bench/probe/warm.ts [millrace|bee] [jobs]
// (Try `node --interrupt-budget=8000 --import tsx bench/probe/warm.ts` to see it shorten.)
import BeeQueue from 'bee-queue';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';

const lib = process.argv[2] ?? 'millrace';
const total = Number(process.argv[3] ?? 100_000);
const CHUNK = 5000;
const P = 'x'.repeat(100);
const server = await RedisServer.start();
let enqueue: () => Promise<unknown>;
let close: () => Promise<unknown>;
if (lib === 'bee') {
  const q = new BeeQueue('bench', { redis: { host: '127.0.0.1', port: server.port }, isWorker: false, getEvents: false, sendEvents: false, storeJobs: false });
  await q.ready();
  enqueue = () => q.createJob({ p: P }).save();
  close = () => q.close();
} else {
  const app = new Millrace({ redis: `redis://127.0.0.1:${server.port}`, prefix: 'p', logLevel: 'warn' });
  const queue = app.queue('bench', { resultTtl: 'none' });
  const task = queue.task('noop', async (_c, _d: { p: string }) => {});
  await app.inspector.counts(queue); // connects outside the timing
  enqueue = () => task.enqueue({ p: P });
  close = () => app.close();
}
const rates: number[] = [];
const cpu: number[] = [];
let issued = 0;
let done = 0;
let t = performance.now();
let c0 = process.cpuUsage();
const lane = async () => {
  while (issued < total) {
    issued++;
    await enqueue();
    if (++done % CHUNK === 0) {
      const now = performance.now();
      const c = process.cpuUsage(c0);
      rates.push(Math.round(CHUNK / (now - t)));
      cpu.push(Math.round(((c.user + c.system) / CHUNK) * 10) / 10);
      t = now;
      c0 = process.cpuUsage();
    }
  }
};
await Promise.all(Array.from({ length: 50 }, lane));
console.log(`${lib}: k jobs/s per ${CHUNK}:`, rates.join(' '));
console.log(`${lib}: client CPU us/job:    `, cpu.join(' '));
await close();
await server.stop();
