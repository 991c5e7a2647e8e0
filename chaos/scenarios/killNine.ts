// Scenario 1: kill -9 a worker holding 50 in-flight jobs. Another worker reclaims them after
// the idle timeout; all complete within idleTimeout + 5 s, none lost, none completed twice.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { percentile, realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function killNine(size: Size): Promise<ScenarioResult> {
  const r = new Report('1 kill -9 with 50 jobs in flight', size);
  const idle = size === 'short' ? 1500 : 5000;
  const n = 50;
  const stage = await Stage.open('kill9');
  try {
    const victim = stage.spawn({ tag: 'victim', concurrency: n, idleTimeout: idle });
    const keys = Array.from({ length: n }, (_, i) => `job-${i}`);
    await stage.client.hold.enqueueMany(keys.map((k) => [k, 600_000] as [string, number]));
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'start' && l.worker === 'victim').length === n,
      { timeout: 20_000, what: `${n} jobs running on the victim` });
    // The rescuer is up before the kill, so its start-up time is not counted as recovery.
    const rescuer = stage.spawn({ tag: 'rescuer', concurrency: n, idleTimeout: idle, maxHoldMs: 10 });
    await waitFor(async () => (await stage.client.app.workers()).some((w) => w.id === 'rescuer'), { timeout: 20_000, what: 'the rescuer' });
    const killedAt = realNow();
    victim.kill('SIGKILL');
    await victim.exited;
    const bound = idle + 5000;
    await waitFor(() => new Set(readLedger(stage.ledger).filter((l) => l.event === 'done').map((l) => l.key)).size === n,
      { timeout: bound + 5000, what: 'every job done' }).catch(() => undefined);
    // Let any late duplicate show up before judging.
    await new Promise((res) => setTimeout(res, Math.min(1000, idle)));
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    const recovery = lines.filter((l) => l.event === 'done').map((l) => l.at - killedAt);
    const counts = await stage.client.app.inspector.counts(stage.client.work);
    r.set({
      jobs: n, kills: 1, idleTimeoutMs: idle, lost: c.lost.length, duplicateCompletions: c.duplicates.length, unexpected: c.unexpected.length,
      recoveryP50Ms: percentile(recovery, 50), recoveryP99Ms: percentile(recovery, 99), recoveryMaxMs: Math.max(...recovery),
    });
    r.check(c.lost.length === 0, `lost jobs: ${c.lost.join(', ')}`);
    r.check(c.duplicates.length === 0, `jobs completed twice: ${c.duplicates.join(', ')}`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.join(', ')}`);
    r.check(Math.max(...recovery) <= bound, `slowest recovery ${Math.max(...recovery)} ms > idleTimeout + 5 s (${bound} ms)`);
    r.check(lines.filter((l) => l.event === 'done').every((l) => l.worker === 'rescuer' && l.attempt === 1),
      'every job completes on the rescuer at attempt 1 (recovery spends no attempt)');
    r.check(counts.active === 0 && counts.dlq === 0, `nothing left in flight or dead-lettered (active ${counts.active}, dlq ${counts.dlq})`);
    rescuer.kill('SIGTERM');
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
