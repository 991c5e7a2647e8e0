// A worker process of the Overseer bench: `child.ts <redis url> <prefix> <worker id> <concurrency>`
// takes `concurrency` jobs of `main` (no prefetch), says 'started' and hangs on them until the
// bench kills it -9 (the jobs stay pending, the worker registered).

import { benchApp, isolate } from './app.js';

const [url, prefix, id, concurrency] = process.argv.slice(2);
if (!url || !prefix || !id || !concurrency) throw new Error('usage: child.ts <redis url> <prefix> <worker id> <concurrency>');
isolate(url);
const { app } = benchApp(url, prefix, true);
const worker = app.worker({ queues: ['main'], concurrency: Number(concurrency), prefetch: 0, handleSignals: false, healthFile: false, heartbeatTtl: '1h', id });
await worker.start();
process.send?.('started');
await new Promise(() => undefined);
