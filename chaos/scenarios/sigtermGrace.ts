// Scenario 2: SIGTERM while jobs run past the grace period. The process exits within
// grace + 2 s, and its jobs are handed back and run again elsewhere at once, without
// spending an attempt.

import { byKey, checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { percentile, realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function sigtermGrace(size: Size): Promise<ScenarioResult> {
  const r = new Report('2 SIGTERM past the grace period', size);
  const grace = size === 'short' ? 1000 : 5000;
  const idle = 10_000; // long: a hand-back must not wait for the idle timeout
  const n = size === 'short' ? 10 : 50;
  const stage = await Stage.open('sigterm');
  try {
    const leaver = stage.spawn({ tag: 'leaver', concurrency: n, idleTimeout: idle, graceMs: grace });
    const keys = Array.from({ length: n }, (_, i) => `long-${i}`);
    await stage.client.hold.enqueueMany(keys.map((k) => [k, 600_000] as [string, number]));
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'start').length === n, { timeout: 20_000, what: 'jobs running on the leaver' });
    stage.spawn({ tag: 'rescuer', concurrency: n, idleTimeout: idle, maxHoldMs: 10 });
    await waitFor(async () => (await stage.client.app.workers()).some((w) => w.id === 'rescuer'), { timeout: 20_000, what: 'the rescuer' });
    const termAt = realNow();
    leaver.kill('SIGTERM');
    const exit = await leaver.exited;
    const exitMs = realNow() - termAt;
    await waitFor(() => checkLedger(readLedger(stage.ledger), keys).lost.length === 0, { timeout: 10_000, what: 'every job done elsewhere' }).catch(() => undefined);
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    const perKey = byKey(lines);
    const aborts = lines.filter((l) => l.event === 'abort');
    const rerunMs = lines.filter((l) => l.event === 'done').map((l) => l.at - termAt);
    const attemptsSpent = lines.filter((l) => l.event === 'start' && l.worker === 'rescuer' && l.attempt !== 1).length;
    r.set({
      jobs: n, graceMs: grace, exitMs, exitCode: String(exit.code ?? exit.signal), abortedAtShutdown: aborts.length,
      lost: c.lost.length, duplicateCompletions: c.duplicates.length, attemptsSpent, rerunP50Ms: percentile(rerunMs, 50), rerunP99Ms: percentile(rerunMs, 99),
    });
    r.check(exitMs <= grace + 2000 && exit.code === 0, `the worker exits cleanly within grace + 2 s (${exitMs} ms, code ${exit.code})`);
    r.check(aborts.length === n && aborts.every((l) => l.extra === 'ShutdownError'), `every running job is aborted by the shutdown (${aborts.length}: ${aborts[0]?.extra})`);
    r.check(c.lost.length === 0 && c.duplicates.length === 0, `lost ${c.lost.length}, duplicated ${c.duplicates.length}`);
    r.check(keys.every((k) => perKey.get(k)!.filter((l) => l.event === 'done').every((l) => l.worker === 'rescuer')), 'every job completes on the other worker');
    r.check(attemptsSpent === 0, `${attemptsSpent} re-runs spent an attempt`);
    r.check(Math.max(...rerunMs) <= grace + 2000 + 3000, `handed-back jobs run again at once, not after the idle timeout (slowest ${Math.max(...rerunMs)} ms after SIGTERM)`);
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
