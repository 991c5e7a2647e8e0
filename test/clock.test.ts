// The server clock offset: a skewed process judges expiry on Redis' clock from its very first
// job, however many callers ask for the time at once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rawRedis, testApp, type TestApp } from './helpers.js';

describe('server clock offset', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(async () => {
    vi.restoreAllMocks();
    await t.cleanup();
  });

  it('makes every caller wait for the first measurement, not only the first one', async () => {
    t = testApp({}, 'clock');
    const real = Date.now.bind(Date);
    const redis = rawRedis();
    const [s, us] = await redis.time();
    redis.disconnect();
    const serverAtStart = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    // This process's clock runs 30 s behind the server's.
    vi.spyOn(Date, 'now').mockImplementation(() => real() - 30_000);
    const broker = t.app.broker;
    const readings = await Promise.all([broker.serverNow(), broker.serverNow(), broker.serverNow()]);
    for (const r of readings) {
      expect(Math.abs(r - serverAtStart)).toBeLessThan(5_000);
    }
  });
});
