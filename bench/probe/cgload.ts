// The workload of cgredis.sh: N jobs enqueued in batches of B (3 batches in flight) on the given port.
import { Millrace } from '../lib/millrace.js';

const port = Number(process.argv[2]);
const n = Number(process.argv[3] ?? 20_000);
const b = Number(process.argv[4] ?? 16);
const app = new Millrace({ redis: `redis://127.0.0.1:${port}`, prefix: 'p', logLevel: 'warn', events: !process.argv.includes('--no-events') });
const task = app.queue('bench', { resultTtl: 'none' }).task('noop', async (_c, _d: { p: string }) => {});
await task.enqueue({ p: 'x' });
let sent = 0;
const lane = async () => {
  while (sent < n) {
    sent += b;
    await task.enqueueMany(Array.from({ length: b }, () => [{ p: 'x'.repeat(100) }] as [{ p: string }]));
  }
};
await Promise.all([lane(), lane(), lane()]);
await app.close();
