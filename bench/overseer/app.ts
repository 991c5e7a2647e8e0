// The bench's app (one queue `main` with a task that returns and one that fails for good), and
// the environment of its processes: Redis and millrace variables dropped, REDIS_URL set to the
// bench's own redis-server, so nothing reaches another Redis.

import { Millrace } from '../../src/index.js';

export function benchApp(url: string, prefix: string, hangs = false) {
  const app = new Millrace({ redis: url, prefix, logLevel: 'silent' });
  const main = app.queue('main', { concurrency: 200, resultTtl: '1h' });
  const work = main.task('work', async (_ctx, n: number, email: string, tags: string[]) => {
    if (hangs) await new Promise(() => undefined); // until the process is killed
    return { n, email, tags: tags.length };
  });
  const fail = main.task('fail', async (_ctx, n: number, card: string) => {
    throw new Error(`payment declined for order ${n} (card ${card})`);
  }, { maxTries: 1 });
  return { app, main, work, fail };
}

export function isolate(url: string): NodeJS.ProcessEnv {
  for (const k of Object.keys(process.env)) if (/^(MILLRACE_|REDIS_)/.test(k)) delete process.env[k];
  process.env.REDIS_URL = url;
  return { ...process.env };
}
