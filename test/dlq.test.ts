// The dead-letter queue API: list, show, count, replay (one, all, with reset attempts),
// delete and purge, through app.deadLetters(queue).

import { afterEach, describe, expect, it } from 'vitest';
import { JobFailedError } from '../src/index.js';
import { testApp, waitFor, workers, type TestApp } from './helpers.js';

describe('dead-letter queue', () => {
  let t: TestApp<Record<string, never>>;
  const pool = workers({ schedulerInterval: 50 });

  afterEach(async () => {
    await pool.stopAll();
    await t.cleanup();
  });

  /** A queue whose task fails while `broken` is set, with a running worker. */
  async function setup(maxTries = 2) {
    t = testApp({}, 'dlq');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const state = { broken: true, attempts: [] as { id: string; attempt: number }[] };
    const task = q.task('fragile', async (ctx, n: number) => {
      state.attempts.push({ id: ctx.id, attempt: ctx.attempt });
      if (state.broken) throw new TypeError(`broken ${n}`);
      return n * 10;
    }, { maxTries, backoff: { type: 'fixed', base: 20, jitter: false } });
    await pool.start(t.app);
    const dlq = t.app.deadLetters('q');
    /** Enqueues jobs and waits until they are all dead-lettered. */
    const kill = async (...ns: number[]) => {
      const jobs = await Promise.all(ns.map((n) => task.enqueue(n)));
      for (const job of jobs) await expect(job.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
      return jobs;
    };
    return { task, state, dlq, kill };
  }

  it('lists, shows and counts dead letters', async () => {
    const { dlq, kill } = await setup();
    const before = Date.now();
    const [a, b] = await kill(1, 2);
    expect(await dlq.count()).toBe(2);

    const list = await dlq.list();
    expect(list.map((e) => e.id).sort()).toEqual([a!.id, b!.id].sort());
    for (const e of list) {
      expect(e).toMatchObject({ task: 'fragile', queue: 'q', reason: 'max-tries', attempts: 2 });
      expect(e.error).toMatch(/^TypeError: broken [12]$/);
      expect(e.failedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(e.failedAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(typeof e.dlqId).toBe('string');
    }

    const shown = await dlq.show(list[0]!.dlqId);
    expect(shown).toEqual(list[0]);
    expect(await dlq.show('1-1')).toBeNull();

    // Paging with limit and after.
    const first = await dlq.list({ limit: 1 });
    expect(first).toHaveLength(1);
    const rest = await dlq.list({ after: first[0]!.dlqId });
    expect(rest.map((e) => e.dlqId)).toEqual([list[1]!.dlqId]);
  });

  it('replays one entry: the job runs again, completes, and result() resolves', async () => {
    const { dlq, kill, state } = await setup();
    const [a, b] = await kill(1, 2);
    state.broken = false;
    const entryA = (await dlq.list()).find((e) => e.id === a!.id)!;

    const replayed = await dlq.replay(entryA.dlqId);
    expect(replayed).toEqual([a!.id]);
    expect(await a!.result({ timeout: 5000 })).toBe(10);
    expect(await a!.status()).toBe('completed');
    // Without resetAttempts the attempt count goes on from where it stopped.
    expect(state.attempts.filter((x) => x.id === a!.id).map((x) => x.attempt)).toEqual([1, 2, 3]);

    expect(await dlq.count()).toBe(1);
    expect((await dlq.list())[0]!.id).toBe(b!.id);
    expect(await b!.status()).toBe('failed');
  });

  it('replays with resetAttempts: the attempt restarts at 1', async () => {
    const { dlq, kill, state } = await setup();
    const [a] = await kill(3);
    state.broken = false;
    const [entry] = await dlq.list();

    expect(await dlq.replay([entry!.dlqId], { resetAttempts: true })).toEqual([a!.id]);
    expect(await a!.result({ timeout: 5000 })).toBe(30);
    expect(state.attempts.filter((x) => x.id === a!.id).map((x) => x.attempt)).toEqual([1, 2, 1]);
    expect(await dlq.count()).toBe(0);
  });

  it('replays a job that fails again back into the DLQ with its full tries when reset', async () => {
    const { dlq, kill, state } = await setup();
    const [a] = await kill(4);
    const [entry] = await dlq.list();
    await dlq.replay(entry!.dlqId, { resetAttempts: true });
    await expect(a!.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    expect(state.attempts.map((x) => x.attempt)).toEqual([1, 2, 1, 2]);
    const [again] = await waitFor(async () => {
      const l = await dlq.list();
      return l.length === 1 ? l : undefined;
    });
    expect(again).toMatchObject({ id: a!.id, attempts: 2, reason: 'max-tries' });
  });

  it("replays 'all' and every job completes", async () => {
    const { dlq, kill, state } = await setup();
    const jobs = await kill(1, 2, 3);
    state.broken = false;
    const ids = await dlq.replay('all');
    expect(ids.sort()).toEqual(jobs.map((j) => j.id).sort());
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: 5000 })))).toEqual([10, 20, 30]);
    expect(await dlq.count()).toBe(0);
  });

  it('deletes entries and purges the rest', async () => {
    const { dlq, kill } = await setup(1);
    await kill(1, 2, 3, 4);
    const list = await dlq.list();
    expect(list).toHaveLength(4);

    expect(await dlq.delete(list[0]!.dlqId)).toBe(1);
    expect(await dlq.delete([list[1]!.dlqId, '1-1'])).toBe(1);
    expect(await dlq.count()).toBe(2);
    expect(await dlq.show(list[0]!.dlqId)).toBeNull();
    expect((await dlq.list()).map((e) => e.dlqId)).toEqual([list[2]!.dlqId, list[3]!.dlqId]);

    expect(await dlq.purge()).toBe(2);
    expect(await dlq.count()).toBe(0);
    expect(await dlq.list()).toEqual([]);
    // Replaying ids that are gone does nothing.
    expect(await dlq.replay(list[2]!.dlqId)).toEqual([]);
    expect(await dlq.replay('all')).toEqual([]);
  });

  it('replays a custom-id job under its id', async () => {
    const { dlq, task, state } = await setup(1);
    const job = await task.with({ id: 'order-42' }).enqueue(42);
    await expect(job.result({ timeout: 5000 })).rejects.toBeInstanceOf(JobFailedError);
    const [entry] = await dlq.list();
    expect(entry!.id).toBe('order-42');
    state.broken = false;
    expect(await dlq.replay(entry!.dlqId)).toEqual(['order-42']);
    expect(await t.app.job('q', 'order-42').result({ timeout: 5000 })).toBe(420);
  });
});
