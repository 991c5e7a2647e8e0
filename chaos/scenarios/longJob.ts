// Scenario 3: a job running 10x the idle timeout on a healthy worker (short: 4x) is never
// reclaimed, though another worker with free slots watches for expired leases.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function longJob(size: Size): Promise<ScenarioResult> {
  const r = new Report('3 long job never reclaimed', size);
  const idle = size === 'short' ? 1000 : 2000;
  const factor = size === 'short' ? 4 : 10;
  const n = size === 'short' ? 5 : 20;
  const stage = await Stage.open('long');
  try {
    await stage.worker({ tag: 'holder', idleTimeout: idle }, { concurrency: n });
    const keys = Array.from({ length: n }, (_, i) => `long-${i}`);
    const jobs = await stage.client.hold.enqueueMany(keys.map((k) => [k, idle * factor] as [string, number]));
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'start').length === n, { timeout: 10_000, what: 'long jobs running' });
    await stage.worker({ tag: 'watcher', idleTimeout: idle, maxHoldMs: 10 }, { concurrency: n });
    const results = await Promise.all(jobs.map((j) => j.result({ timeout: idle * factor + 10_000 }).then(() => true, () => false)));
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    r.set({
      jobs: n, idleTimeoutMs: idle, jobMs: idle * factor, starts: lines.filter((l) => l.event === 'start').length,
      reclaimed: lines.filter((l) => l.worker === 'watcher').length, lost: c.lost.length, duplicateCompletions: c.duplicates.length,
    });
    r.check(c.reruns === 0 && !lines.some((l) => l.worker === 'watcher' || l.event === 'abort'), 'no long job is reclaimed or aborted');
    r.check(results.every(Boolean) && c.lost.length === 0 && c.duplicates.length === 0, 'every long job completes once, on its worker');
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
