// Scenario 8: workers whose clocks are off by +30 s and -30 s (Date.now shifted in their
// processes) neither start delayed jobs early nor reclaim healthy long jobs early, nor expire
// jobs early (or late): due times, idleness and expiry are measured on the Redis server's clock.

import { byKey, checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

const SKEW_MS = 30_000;

export async function clockSkew(size: Size): Promise<ScenarioResult> {
  const r = new Report('8 skewed clocks (+/-30 s)', size);
  const idle = 1500;
  const delays = size === 'short' ? [1000, 2000, 3000] : [1000, 2000, 5000, 10_000, 20_000];
  const perDelay = size === 'short' ? 10 : 50;
  const longJobs = size === 'short' ? 4 : 10;
  const longMs = size === 'short' ? 3 * idle : 10 * idle;
  const stage = await Stage.open('skew');
  try {
    // Long jobs on both workers (half each): neither may reclaim the other's.
    const longKeys = Array.from({ length: longJobs }, (_, i) => `long-${i}`);
    const ahead = stage.spawn({ tag: 'ahead', idleTimeout: idle, concurrency: longJobs / 2, clockSkewMs: SKEW_MS });
    await waitFor(async () => (await stage.client.app.workers()).length === 1, { timeout: 20_000, what: 'the worker ahead' });
    await stage.client.hold.enqueueMany(longKeys.map((k) => [k, longMs] as [string, number]));
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.worker === 'ahead').length === longJobs / 2, { timeout: 10_000, what: 'long jobs on the worker ahead' });
    const behind = stage.spawn({ tag: 'behind', idleTimeout: idle, concurrency: 50, clockSkewMs: -SKEW_MS });
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'start').length === longJobs, { timeout: 20_000, what: 'long jobs on the worker behind' });
    const due = new Map<string, number>();
    for (const d of delays) {
      const keys = Array.from({ length: perDelay }, (_, i) => `delayed-${d}-${i}`);
      const before = realNow();
      await stage.client.hold.enqueueMany(keys.map((k) => ({ args: [k, 0] as [string, number], options: { delay: d } })));
      for (const k of keys) due.set(k, before + d);
    }
    const all = [...longKeys, ...due.keys()];
    await waitFor(() => checkLedger(readLedger(stage.ledger), all).lost.length === 0, { timeout: Math.max(...delays, longMs) + 15_000, interval: 100, what: 'every job done' }).catch(() => undefined);
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, all);
    const perKey = byKey(lines);
    let early = 0;
    let worstEarly = 0;
    let worstLate = 0;
    for (const [k, at] of due) {
      const start = perKey.get(k)?.find((l) => l.event === 'start');
      if (!start) continue;
      // The server's clock is this host's: a start before the due time (a few ms of rounding) is early.
      if (start.at < at - 5) early++;
      worstEarly = Math.max(worstEarly, at - start.at);
      worstLate = Math.max(worstLate, start.at - at);
    }
    const longStarts = longKeys.map((k) => (perKey.get(k) ?? []).filter((l) => l.event === 'start').length);
    const ranOn = new Set(lines.filter((l) => l.event === 'start').map((l) => l.worker));
    r.set({
      skewMs: `+${SKEW_MS}/-${SKEW_MS}`, delayedJobs: due.size, startedEarly: early, worstEarlyMs: Math.max(0, worstEarly), worstLateMs: worstLate,
      longJobs, longJobMs: longMs, idleTimeoutMs: idle, longJobsReclaimed: longStarts.filter((n) => n > 1).length,
      lost: c.lost.length, duplicateCompletions: c.duplicates.length, workersUsed: [...ranOn].join(','),
    });
    r.check(ahead.alive, 'the worker ahead still running');
    // Expiry: jobs with `expires: 20s` run on the worker 30 s ahead (not expired early)...
    const tally = async (keys: string[], options: { expires: number }, before?: () => Promise<void>) => {
      const jobs = await stage.client.hold.enqueueMany(keys.map((k) => ({ args: [k, 0] as [string, number], options })));
      await before?.();
      const statuses = await Promise.all(jobs.map((j) => j.result({ timeout: 20_000 }).then(() => 'completed', (e: Error) => e.name)));
      return [...new Set(statuses)].map((x) => `${x}:${statuses.filter((y) => y === x).length}`).join(',');
    };
    behind.kill('SIGTERM');
    await behind.exited;
    const n = 5;
    const notEarly = await tally(Array.from({ length: n }, (_, i) => `expiring-${i}`), { expires: 20_000 });
    // ...and jobs with `expires: 1s` that waited 2 s do not run on a worker 30 s behind (not late).
    ahead.kill('SIGTERM');
    await ahead.exited;
    const notLate = await tally(Array.from({ length: n }, (_, i) => `expired-${i}`), { expires: 1000 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      stage.spawn({ tag: 'late', idleTimeout: idle, concurrency: 10, clockSkewMs: -SKEW_MS });
    });
    r.set({ expiresIn20sOnWorkerAhead: notEarly, expiredAfter1sOnWorkerBehind: notLate });
    r.check(early === 0, `${early} delayed jobs started before they were due (worst ${worstEarly} ms early)`);
    r.check(longStarts.every((n) => n === 1), `long jobs reclaimed early: starts ${longStarts.join(',')}`);
    r.check(c.lost.length === 0 && c.duplicates.length === 0, `lost ${c.lost.length}, duplicated ${c.duplicates.length}`);
    r.check(ranOn.size === 2, `both skewed workers ran jobs (${[...ranOn].join(',')})`);
    r.check(notEarly === `completed:${n}`, `jobs expiring in 20 s on the worker 30 s ahead: ${notEarly} (want completed:${n})`);
    r.check(notLate === `JobExpiredError:${n}`, `jobs expired 1 s ago on the worker 30 s behind: ${notLate} (want JobExpiredError:${n})`);
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
