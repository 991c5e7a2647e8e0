// The throughput history (src/broker/history.ts): what a heartbeat adds, counted once however
// often a beat is sent again, per minute, kept over a worker's restart; and real workers'
// completed and failed jobs showing in inspector.throughput after their heartbeats.
import { expect, it } from 'vitest';
import type { ThroughputHistory } from '../../src/broker/types.js';
import { ConfigError } from '../../src/errors.js';
import { Millrace } from '../../src/index.js';
import { conformance, Q, until, workerEntry } from './kit.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

function sum(h: ThroughputHistory): { completed: number; failed: number } {
  return { completed: h.completed.reduce((a, b) => a + b, 0), failed: h.failed.reduce((a, b) => a + b, 0) };
}

conformance('throughput history', (s) => {
  it('adds what a worker ended since its last beat, once, and keeps it over the worker restarting', async () => {
    const { broker, inspector } = s();
    const now = await broker.time();
    const read = async () => sum(await inspector.throughput(Q, now - HOUR, now + 2 * MINUTE));
    const beat = (id: string, completed: number, failed: number, landed: [number, number] = [0, 0]) =>
      broker.heartbeat(workerEntry(id, now), 10_000, [{ queue: Q, record: '{}', ended: { completed, failed, landedCompleted: landed[0], landedFailed: landed[1] } }]);
    expect(await read()).toEqual({ completed: 0, failed: 0 });
    // A beat without totals (a health record only) adds nothing.
    await broker.heartbeat(workerEntry('w0', now), 10_000, [{ queue: Q, record: '{}' }]);
    await beat('w1', 3, 1);
    expect(await read()).toEqual({ completed: 3, failed: 1 });
    // Sent again (its reply was lost): nothing twice.
    await beat('w1', 3, 1);
    expect(await read()).toEqual({ completed: 3, failed: 1 });
    // The next beat, while the worker still thinks none landed: only the growth.
    await beat('w1', 5, 1);
    await beat('w1', 6, 3, [5, 1]);
    expect(await read()).toEqual({ completed: 6, failed: 3 });
    // The worker stops; its next process (a new id, totals from 0) adds to the same history.
    await broker.removeWorker('w1', [Q]);
    await beat('w2', 0, 0);
    await beat('w2', 2, 1, [0, 0]);
    expect(await read()).toEqual({ completed: 8, failed: 4 });
    // A process reusing a stopped worker's id starts from 0 again.
    await beat('w1', 1, 0);
    expect(await read()).toEqual({ completed: 9, failed: 4 });
  });

  it('answers whole minutes of a range, the counts in the minute of the beat, and refuses a bad range', async () => {
    const { broker, inspector } = s();
    const before = await broker.time();
    await broker.heartbeat(workerEntry('w1', before), 10_000, [{ queue: Q, record: '{}', ended: { completed: 4, failed: 2, landedCompleted: 0, landedFailed: 0 } }]);
    const after = await broker.time();
    const from = before - 3 * HOUR - 1234;
    const h = await inspector.throughput(Q, from, after + 1);
    expect(h.start).toBe(Math.floor(from / MINUTE) * MINUTE);
    expect(h.completed).toHaveLength(Math.ceil((after + 1 - h.start) / MINUTE));
    expect(h.failed).toHaveLength(h.completed.length);
    const minute = h.completed.findIndex((n) => n > 0);
    const at = h.start + minute * MINUTE;
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / MINUTE) * MINUTE);
    expect(at).toBeLessThanOrEqual(after);
    expect([h.completed[minute], h.failed[minute]]).toEqual([4, 2]);
    expect(sum(h)).toEqual({ completed: 4, failed: 2 });
    // A range over several UTC days is read day by day.
    expect(sum(await inspector.throughput(Q, before - 7 * 24 * HOUR, after + 1))).toEqual({ completed: 4, failed: 2 });
    expect(sum(await inspector.throughput(Q, before - 7 * 24 * HOUR, before - 6 * 24 * HOUR))).toEqual({ completed: 0, failed: 0 });
    await expect(inspector.throughput(Q, after, before - 1)).rejects.toThrow(ConfigError);
    await expect(inspector.throughput(Q, before - 9 * 24 * HOUR, after)).rejects.toThrow(ConfigError);
  });

  it("shows a worker's completed and failed jobs after its heartbeat, and keeps them over its restart", async () => {
    const { broker, inspector } = s();
    const app = new Millrace({ logLevel: 'silent' });
    const restore = app.substituteBroker(broker, inspector);
    const queue = app.queue('q', { maxTries: 1 });
    const ok = queue.task('ok', async () => 'done');
    const bad = queue.task('bad', async () => {
      throw new Error('no');
    });
    const start = await broker.time();
    const read = async () => sum(await app.inspector.throughput(queue, start - MINUTE, (await broker.time()) + MINUTE));
    try {
      const run = async (oks: number, bads: number, want: { completed: number; failed: number }) => {
        const w = app.worker({ handleSignals: false, healthFile: false, heartbeatInterval: 200, heartbeatTtl: 1000, blockTime: 50 });
        await w.start();
        try {
          const jobs = [...(await ok.enqueueMany(Array.from({ length: oks }, () => []))), ...(await bad.enqueueMany(Array.from({ length: bads }, () => [])))];
          await until(async () => {
            await s().elapse(50);
            return (await Promise.all(jobs.map((j) => j.status()))).every((st) => st === 'completed' || st === 'failed');
          });
          // The periodic heartbeat brings them.
          await until(async () => {
            await s().elapse(100);
            const got = await read();
            return got.completed === want.completed && got.failed === want.failed;
          });
        } finally {
          await w.stop({ grace: 1000 });
        }
      };
      await run(3, 1, { completed: 3, failed: 1 });
      await run(2, 2, { completed: 5, failed: 3 });
      expect(await read()).toEqual({ completed: 5, failed: 3 });
    } finally {
      restore();
      await app.close();
    }
  }, 30_000);
});
