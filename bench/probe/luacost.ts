// Redis-side cost of fetch and complete scripts per job, measured by commandstats on a private server.
import { Redis } from 'ioredis';
import { RedisServer } from '../../support/redis-server.js';
import { Millrace } from '../lib/millrace.js';
import { commandStats, redisCpuSeconds } from './redis-info.js';
const server = await RedisServer.start();
const admin = new Redis({ port: server.port });
const app = new Millrace({ redis: `redis://127.0.0.1:${server.port}`, prefix: 'p', logLevel: 'warn', events: false });
const queue = app.queue('bench', { resultTtl: 'none' });
const task = queue.task('noop', async (_c, _d: { p: string }) => {});
const N = 20000, B = Number(process.argv[2] ?? 200);
for (let i = 0; i < N; i += 1000) await task.enqueueMany(Array.from({ length: 1000 }, () => [{ p: 'x'.repeat(100) }] as [{ p: string }]));
const broker = app.broker;
await broker.ensureGroups(queue);
const evalshaUsec = async () => (await commandStats(admin)).get('evalsha')?.usec ?? 0;
let fetchUs = 0, completeUs = 0;
const cpu = () => redisCpuSeconds(admin);
let fcpu = 0, ccpu = 0;
for (let done = 0; done < N; done += B) {
  await admin.config('RESETSTAT'); let c0 = await cpu();
  const got = await broker.fetch(queue, 'w1', B);
  fetchUs += await evalshaUsec(); fcpu += (await cpu()) - c0;
  await admin.config('RESETSTAT'); c0 = await cpu();
  await broker.complete(queue, 'w1', got.map((d) => ({ delivery: d, id: d.entry, record: '{"status":"completed","task":"noop","attempts":1,"startedAt":1700000000000,"finishedAt":1700000000001,"worker":"w-123"}', ttl: Number(process.env.TTL ?? 0), hasRecord: false, abortRequested: false })));
  completeUs += await evalshaUsec(); ccpu += (await cpu()) - c0;
}
console.log(`batch ${B}: fetch ${(fetchUs / N).toFixed(2)} us/job (cpu ${(fcpu * 1e6 / N).toFixed(1)}), complete ${(completeUs / N).toFixed(2)} us/job (cpu ${(ccpu * 1e6 / N).toFixed(1)})`);
await app.close(); admin.disconnect(); await server.stop();
