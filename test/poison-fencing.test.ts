// A job that keeps killing its worker ends in the DLQ after maxRecoveries; a worker that lost
// a job's lease sees its signal abort and cannot record an outcome (fencing).
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/index.js';
import { killChildren, startCli } from './fixtures/children.js';
import { rawRedis, testApp, uniquePrefix, waitFor, type TestApp } from './helpers.js';

describe('poison jobs and fencing', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(async () => {
    killChildren();
    await t.cleanup();
  });

  it('dead-letters a job whose worker dies every time, after maxRecoveries, and keeps others flowing', async () => {
    const prefix = uniquePrefix('poison');
    t = testApp({ prefix, logLevel: 'silent' });
    // Same queue definition as the fixture, so this app addresses the same streams.
    const q = t.app.queue('q', { idleTimeout: 1000, maxRecoveries: 2 });
    const poison = q.task('poison', async () => undefined);
    const ok = q.task('ok', async () => 'fine');
    const job = await poison.enqueue();
    const deaths: string[] = [];
    // Each worker process that picks the job up dies; 1 run + 2 recoveries, then the DLQ.
    for (let i = 0; i < 6; i++) {
      const child = startCli(['worker', 'test/fixtures/poison-app.mts:app'], { MILLRACE_PREFIX: prefix, MILLRACE_HEALTH_FILE: 'false' });
      const outcome = await Promise.race([
        child.exited.then((e) => `died ${e.signal}`),
        waitFor(async () => (await t.app.deadLetters('q').count()) > 0, { timeout: 15_000, what: 'a DLQ entry' }).then(() => 'dead-lettered'),
      ]);
      if (outcome === 'dead-lettered') {
        const [entry] = await t.app.deadLetters('q').list();
        expect(entry).toMatchObject({ id: job.id, task: 'poison', reason: 'poison' });
        expect(entry!.error).toMatch(/worker died while running the job 3 times/);
        await expect(job.result({ timeout: 2000 })).rejects.toThrow(/PoisonJobError/);
        // The surviving worker goes on with other jobs.
        expect(await (await ok.enqueue()).result({ timeout: 10_000 })).toBe('fine');
        child.proc.kill('SIGTERM');
        await child.exited;
        expect(deaths).toEqual(['died SIGKILL', 'died SIGKILL', 'died SIGKILL']);
        return;
      }
      deaths.push(outcome);
    }
    throw new Error(`never dead-lettered; worker deaths: ${deaths.length}`);
  }, 60_000);

  it('aborts a job whose lease was taken over and refuses its late outcome', async () => {
    t = testApp({}, 'fence');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reason: unknown;
    const task = t.app.queue('q', { idleTimeout: 1500 }).task('held', async (ctx) => {
      ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
      await gate;
      return 'late';
    });
    const worker = t.app.worker({ handleSignals: false, healthFile: false });
    await worker.start();
    const redis = rawRedis();
    try {
      const job = await task.enqueue();
      await waitFor(async () => (await job.status()) === 'active' && worker.stats().queues.q!.running === 1, { what: 'running job' });
      const stream = `{${t.prefix}:q}:s:normal`;
      // Another consumer takes the entry over, as a recoverer elsewhere would.
      const claimed = await redis.xclaim(stream, 'millrace', 'thief', 0, job.id, 'JUSTID');
      expect(claimed).toEqual([job.id]);
      await waitFor(() => reason !== undefined, { timeout: 3000, what: 'the lease-lost abort' });
      expect(reason).toBeInstanceOf(LeaseLostError);
      release();
      // A late acknowledgement with the old lease is refused by the fence.
      const refused = await t.app.broker.complete(t.app.queues.get('q')!, worker.id, [{
        delivery: { level: 1, entry: job.id, token: '1', header: undefined, data: undefined },
        id: job.id, record: 'completed|{}\n"late"', ttl: 60, hasRecord: false, abortRequested: false,
      }]);
      expect(refused).toEqual([false]);
      const info = await job.info();
      expect(info).toMatchObject({ status: 'active', worker: 'thief' });
      expect(await redis.exists(`{${t.prefix}:q}:r:${job.id}`)).toBe(0);
    } finally {
      release();
      redis.disconnect();
      await worker.stop();
    }
  });
});
