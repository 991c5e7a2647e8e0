// A worker process running the fixture app, configured by the environment (see spawnWorker):
// CHAOS_* settings, and CHAOS_CLOCK_SKEW_MS to shift this process's Date.now (a skewed clock).

import { fixtureApp } from './fixture.js';

const env = process.env;
const skew = Number(env.CHAOS_CLOCK_SKEW_MS ?? 0);
if (skew) {
  const real = Date.now.bind(Date);
  Date.now = () => real() + skew;
}

const { app } = fixtureApp({
  redis: env.CHAOS_REDIS!,
  prefix: env.CHAOS_PREFIX!,
  ledger: env.CHAOS_LEDGER,
  tag: env.CHAOS_TAG,
  idleTimeout: Number(env.CHAOS_IDLE_TIMEOUT ?? 2000),
  maxRecoveries: Number(env.CHAOS_MAX_RECOVERIES ?? 3),
  maxHoldMs: env.CHAOS_MAX_HOLD_MS === undefined ? undefined : Number(env.CHAOS_MAX_HOLD_MS),
  mayDie: true,
  logLevel: env.CHAOS_LOG_LEVEL ?? 'warn',
  misbehave: env.CHAOS_MISBEHAVE === '1',
  cap: env.CHAOS_CAP === undefined ? undefined : Number(env.CHAOS_CAP),
  groupCap: env.CHAOS_GROUP_CAP === undefined ? undefined : Number(env.CHAOS_GROUP_CAP),
  fanIn: env.CHAOS_FAN_IN === '1',
});

const worker = app.worker({
  id: env.CHAOS_TAG,
  concurrency: Number(env.CHAOS_CONCURRENCY ?? 10),
  prefetch: Number(env.CHAOS_PREFETCH ?? 0),
  shutdownTimeout: Number(env.CHAOS_GRACE_MS ?? 2000),
  blockTime: 1000,
  healthFile: false,
  heartbeatInterval: 1000,
  heartbeatTtl: 3000,
});
if (env.CHAOS_MISBEHAVE === '1') {
  // Listeners that throw, and one whose promise rejects: none may reach a job.
  worker.on('job.started', () => {
    throw new Error('listener of job.started threw');
  });
  worker.on('job.completed', () => {
    throw Symbol('listener of job.completed threw a symbol');
  });
  worker.on('job.failed', async () => {
    throw new Error('async listener of job.failed rejected');
  });
}
await worker.run();
await app.close();
process.exit(0);
