import { afterEach, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

describe('end to end', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  it('runs an enqueued job and returns its result', async () => {
    t = testApp({}, 'smoke');
    const add = t.app.queue('default').task('add', async (_ctx, a: number, b: number) => a + b);
    const worker = t.app.worker({ handleSignals: false });
    await worker.start();
    try {
      const job = await add.enqueue(2, 3);
      expect(await job.result({ timeout: 5000 })).toBe(5);
      expect(await job.status()).toBe('completed');
    } finally {
      await worker.stop();
    }
  });
});
