// Job progress and log lines written from a task, readable by id from any process.
import { afterEach, describe, expect, it } from 'vitest';
import { testApp, waitFor, type TestApp } from './helpers.js';

describe('progress and job logs', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('reads progress and log lines by id while the job runs and after it ended', async () => {
    t = testApp({}, 'progress');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const task = t.app.queue('q').task('steps', async (ctx, steps: number) => {
      for (let i = 1; i <= steps; i++) {
        await ctx.addLog(`step ${i} of ${steps}`);
        await ctx.progress({ done: i, total: steps });
      }
      await gate;
      return steps;
    });
    const worker = t.app.worker({ handleSignals: false, healthFile: false });
    await worker.start();
    try {
      const job = await task.enqueue(3);
      const other = t.app.job(job.queue, job.id);
      expect(await waitFor(async () => (await other.progress()) as { done: number } | undefined, { what: 'progress' })).toBeTruthy();
      await waitFor(async () => ((await other.progress()) as { done: number }).done === 3, { what: 'progress 3' });
      release();
      expect(await job.result({ timeout: 5000 })).toBe(3);
      const logs = await other.logs();
      expect(logs).toHaveLength(3);
      expect(logs[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ step 1 of 3$/);
      expect(logs[2]).toMatch(/step 3 of 3$/);
      expect(await other.logs({ start: -1 })).toEqual([logs[2]]);
      expect(await other.progress()).toEqual({ done: 3, total: 3 });
    } finally {
      release();
      await worker.stop();
    }
  });

  it('has no progress or logs for a job that reported none', async () => {
    t = testApp({}, 'progress0');
    const task = t.app.queue('q').task('quiet', async () => 1);
    const job = await task.enqueue();
    expect(await job.progress()).toBeUndefined();
    expect(await job.logs()).toEqual([]);
  });
});
