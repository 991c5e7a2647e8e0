// A queue's rate limit and ctx.rateLimit with real workers on the test Redis: two workers on a
// queue limited to 20 jobs per 500 ms start no more than the bucket plus the rate allows in any
// run (an upper bound: a slow machine only starts fewer), and all jobs complete; a limited
// worker sends no fetch while it waits for tokens (MONITOR on the queue's keys); a task that
// hits an upstream 429 holds the queue for everyone: no job of the queue starts before the hold
// ends, and the limited job runs again without spending an attempt.
import { afterEach, describe, expect, it } from 'vitest';
import { rawRedis, testApps, waitFor } from './helpers.js';
import { expectQuietWait } from './support/monitor.js';

describe('rate limits', { timeout: 60_000 }, () => {
  const apps = testApps();
  const tracker = apps.tracker;
  afterEach(() => apps.cleanup());

  it('two workers start no more than the limit allows over the run, and every job completes', async () => {
    const t = apps.app('rate');
    const starts: number[] = [];
    const q = t.app.queue('limited', { concurrency: 10, rateLimit: { max: 20, per: 500 } });
    const work = q.task('work', async (_ctx, n: number) => {
      starts.push(Date.now());
      return n;
    });
    const jobs = await work.enqueueMany(Array.from({ length: 80 }, (_, i) => [i] as [number]));
    const t0 = Date.now();
    await tracker.start(t.app, { queues: ['limited'] });
    await tracker.start(t.app, { queues: ['limited'] });
    await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })));
    const elapsed = Date.now() - t0;
    expect(starts).toHaveLength(80);
    // 80 jobs at 20 per 500 ms with a bucket of 20: at least 1.5 s (the first 20 at once).
    expect(elapsed).toBeGreaterThanOrEqual(1500 - 50);
    // In every window of 500 ms, at most the bucket plus what refills in it.
    starts.sort((a, b) => a - b);
    for (let i = 0; i < starts.length; i++) {
      const inWindow = starts.filter((s) => s >= starts[i]! && s < starts[i]! + 500).length;
      expect(inWindow).toBeLessThanOrEqual(40 + 1);
    }
  });

  it('a worker waiting for tokens sends no fetch meanwhile', async () => {
    const t = apps.app('rateidle');
    const q = t.app.queue('slow', { concurrency: 5, rateLimit: { max: 1, per: 3000 } });
    const work = q.task('work', async (_ctx, n: number) => n);
    const jobs = await work.enqueueMany([[1], [2], [3]]);
    // A call of the fetch script: the only one naming the queue's bucket.
    await expectQuietWait(() => tracker.start(t.app, { queues: ['slow'] }), jobs, (args) => args.some((a) => a.includes(`${t.prefix}:slow}:rate`)));
  });

  it('ctx.rateLimit holds the queue for every worker, and the job runs again without spending an attempt', async () => {
    const t = apps.app('hold');
    const seen: { n: number; attempt: number; at: number }[] = [];
    let heldAt = 0;
    let holdFrom = 0;
    const q = t.app.queue('api', { concurrency: 4, maxTries: 1 });
    const call = q.task('call', async (ctx, n: number) => {
      seen.push({ n, attempt: ctx.attempt, at: Date.now() });
      if (n === 0 && seen.filter((s) => s.n === 0).length === 1) {
        const started = Date.now();
        const limited = await ctx.rateLimit(800);
        // The hold is in Redis from some moment in between (its 800 ms counted from then).
        holdFrom = started;
        heldAt = Date.now();
        throw limited;
      }
      return n;
    });
    await tracker.start(t.app, { queues: ['api'] });
    await tracker.start(t.app, { queues: ['api'] });
    const first = await call.enqueue(0);
    await waitFor(() => heldAt > 0, { what: 'the upstream 429' });
    const later = await Promise.all([1, 2, 3].map((n) => call.enqueue(n)));
    expect(await first.result({ timeout: 15_000 })).toBe(0);
    expect(await Promise.all(later.map((j) => j.result({ timeout: 15_000 })))).toEqual([1, 2, 3]);
    // Jobs enqueued once the hold was in place: none started while it lasted (a worker blocked
    // on the empty queue is woken by the hold's notice before they come).
    for (const s of seen.filter((x) => x.n !== 0)) expect(s.at).toBeGreaterThanOrEqual(holdFrom + 800);
    // maxTries 1, and still it ran again: the limited attempt was not spent.
    expect(seen.filter((s) => s.n === 0).map((s) => s.attempt)).toEqual([1, 1]);
  });

  it('a read blocked before a hold began gives back what it got, unstarted, when the notice came late', async () => {
    const t = apps.app('holdrace');
    const starts: number[] = [];
    const q = t.app.queue('idle', { concurrency: 2 });
    const work = q.task('work', async (_ctx, n: number) => {
      starts.push(Date.now());
      return n;
    });
    await tracker.start(t.app, { queues: ['idle'], blockTime: 5000 });
    await new Promise((r) => setTimeout(r, 300)); // the worker blocks on the empty queue
    // The hold as Redis holds it, its notice not (yet) sent: only the guard after the read sees it.
    const redis = rawRedis();
    try {
      await redis.set(`{${t.prefix}:idle}:hold`, '1', 'PX', 700);
      const from = Date.now();
      const job = await work.enqueue(7);
      expect(await job.result({ timeout: 10_000 })).toBe(7);
      expect(starts).toHaveLength(1);
      expect(starts[0]!).toBeGreaterThanOrEqual(from + 700 - 20);
      expect((await job.info()).attempts).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
