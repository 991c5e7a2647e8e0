// Bare ioredis: producer XADD at a steady rate (child), consumer XREADGROUP BLOCK loop here.
import { fork } from 'node:child_process';
import { Redis } from 'ioredis';
import { RedisServer } from '../../support/redis-server.js';
const now = () => performance.timeOrigin + performance.now();
if (process.argv[2] === 'producer') {
  const r = new Redis({ port: Number(process.argv[3]) }); const rate = 2000, secs = 6; let sent = 0; const t0 = now();
  await new Promise<void>((res) => { const tm = setInterval(() => { const due = Math.min(rate * secs, Math.floor(((now() - t0) / 1000) * rate)); while (sent < due) { sent++; void r.xadd('s', '*', 't', String(now()), 'd', 'x'.repeat(100)); } if (sent >= rate * secs) { clearInterval(tm); res(); } }, 1); });
  await new Promise((x) => setTimeout(x, 200)); r.disconnect(); process.exit(0);
}
const server = await RedisServer.start();
const r = new Redis({ port: server.port }); const ack = new Redis({ port: server.port });
await r.xgroup('CREATE', 's', 'g', '0', 'MKSTREAM');
const lat: number[] = []; let stop = false;
const loop = (async () => { while (!stop) { const res = (await r.xreadgroup('GROUP', 'g', 'c', 'COUNT', 20, 'BLOCK', 1000, 'STREAMS', 's', '>')) as [string, [string, string[]][]][] | null; if (!res) continue; const ids: string[] = []; for (const [, entries] of res) for (const [id, f] of entries) { lat.push(now() - Number(f[1])); ids.push(id); } void ack.xack('s', 'g', ...ids); } })();
const child = fork(new URL(import.meta.url).pathname, ['producer', String(server.port)], { execArgv: process.execArgv });
await new Promise((x) => child.on('exit', x)); stop = true; await loop;
const s = lat.slice(lat.length / 8).sort((a, b) => a - b); const p = (x: number) => s[Math.ceil(x / 100 * s.length) - 1]!.toFixed(2);
console.log(`bare ioredis: n=${s.length} p50=${p(50)} p90=${p(90)} p99=${p(99)} p99.9=${p(99.9)} max=${s.at(-1)!.toFixed(1)}`);
r.disconnect(); ack.disconnect(); await server.stop();
