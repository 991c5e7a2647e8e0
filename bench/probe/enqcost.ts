// Redis-side cost of the enqueue script per call and per job, for calls of B jobs (single
// enqueues coalesce into calls of up to 16), measured by commandstats on a private server.
// Usage: npx tsx bench/probe/enqcost.ts [B=16] [calls=2000]
import { Redis } from 'ioredis';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';
import { commandStats } from './redis-info.js';

const B = Number(process.argv[2] ?? 16);
const calls = Number(process.argv[3] ?? 2000);
const server = await RedisServer.start();
const admin = new Redis({ port: server.port });
const app = new Millrace({ redis: `redis://127.0.0.1:${server.port}`, prefix: 'p', logLevel: 'warn', events: false });
const task = app.queue('bench').task('noop', async (_c, _d: { p: string }) => {});
const batch = () => Array.from({ length: B }, () => [{ p: 'x'.repeat(100) }] as [{ p: string }]);
for (let i = 0; i < 200; i++) await task.enqueueMany(batch()); // warm-up: scripts loaded, keys made
await admin.config('RESETSTAT');
for (let i = 0; i < calls; i++) await task.enqueueMany(batch());
const us = (await commandStats(admin)).get('evalsha')?.usec ?? 0;
console.log(`calls of ${B}: ${(us / calls).toFixed(2)} us/call, ${(us / calls / B).toFixed(3)} us/job`);
await app.close();
admin.disconnect();
await server.stop();
