// Scenario 9: poison jobs that kill their worker process every time go to the DLQ after
// maxRecoveries; a supervisor restarts the dead workers, and the other jobs keep flowing
// (re-run only when they were in flight on a killed worker).

import { byKey, checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import type { WorkerProc } from '../lib/procs.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function poison(size: Size): Promise<ScenarioResult> {
  const r = new Report('9 poison jobs', size);
  const idle = 1000;
  const maxRecoveries = 2;
  const nPoison = size === 'short' ? 1 : 5;
  const nGood = size === 'short' ? 300 : 5000;
  const procs = 3;
  const stage = await Stage.open('poison');
  let stopped = false;
  const deaths: { tag: string; at: number }[] = [];
  let serial = 0;
  // The supervisor: a worker that dies is replaced by a new process.
  const supervise = (w: WorkerProc): void => {
    void w.exited.then(() => {
      deaths.push({ tag: w.spec.tag, at: Date.now() });
      if (!stopped) supervise(stage.spawn({ ...w.spec, tag: `w${serial++}` }));
    });
  };
  try {
    for (let i = 0; i < procs; i++) supervise(stage.spawn({ tag: `w${serial++}`, idleTimeout: idle, concurrency: 10, maxRecoveries }));
    await waitFor(async () => (await stage.client.app.workers()).length === procs, { timeout: 20_000, what: 'workers up' });
    const goodKeys = Array.from({ length: nGood }, (_, i) => `good-${i}`);
    const poisonKeys = Array.from({ length: nPoison }, (_, i) => `poison-${i}`);
    // Poison jobs spread among the good ones.
    const step = Math.floor(nGood / (nPoison + 1));
    for (let i = 0; i < nGood; i += step) {
      await stage.client.hold.enqueueMany(goodKeys.slice(i, i + step).map((k) => [k, 20] as [string, number]));
      const p = Math.floor(i / step);
      if (p < nPoison) await stage.client.poison.enqueue(poisonKeys[p]!);
    }
    const dlq = stage.client.app.deadLetters('work');
    // The key a dead-lettered job was enqueued with (its first argument).
    const dlqKeys = async () => new Set((await dlq.list({ limit: 1000 })).map((e) => String((JSON.parse(String(e.data)) as unknown[])[0])));
    const settled = async () => {
      const inDlq = await dlqKeys();
      return poisonKeys.every((k) => inDlq.has(k)) && checkLedger(readLedger(stage.ledger), goodKeys.filter((k) => !inDlq.has(k))).lost.length === 0;
    };
    await waitFor(settled, { timeout: 20_000 + nPoison * 3 * 3000 + nGood * 5, interval: 500, what: 'poison dead-lettered and good jobs done' }).catch(() => undefined);
    stopped = true;
    await sleep(200);
    const lines = readLedger(stage.ledger);
    const inDlq = await dlqKeys();
    const collateral = goodKeys.filter((k) => inDlq.has(k));
    const c = checkLedger(lines.filter((l) => !l.key.startsWith('poison')), goodKeys.filter((k) => !inDlq.has(k)));
    const perKey = byKey(lines);
    // A good job may complete twice only if its first run was on a worker that then died.
    const dead = new Set(deaths.map((d) => d.tag));
    const unexplained = c.duplicates.filter((k) => !perKey.get(k)!.filter((l) => l.event === 'done').slice(0, -1).every((l) => dead.has(l.worker))).length;
    const entries = await dlq.list({ limit: 1000 });
    const poisonStarts = poisonKeys.map((k) => (perKey.get(k) ?? []).filter((l) => l.event === 'start').length);
    const poisonDlq = entries.filter((e) => e.task === 'poison' && e.reason === 'poison').length;
    r.set({
      goodJobs: nGood, poisonJobs: nPoison, maxRecoveries, workerDeaths: deaths.length, poisonRuns: poisonStarts.join(','),
      poisonDeadLettered: poisonDlq, goodDeadLetteredAsPoison: collateral.length, lost: c.lost.length, duplicateCompletions: c.duplicates.length,
      unexplainedDuplicates: unexplained, reruns: c.reruns,
    });
    r.check(poisonDlq === nPoison, `${poisonDlq} poison jobs in the DLQ (want ${nPoison}, reason poison)`);
    // Each death counts for every job its worker held, so a poison job held (not run) by a
    // worker another poison job killed reaches the DLQ after fewer runs of its own.
    r.check(poisonStarts.every((n) => n >= 1 && n <= maxRecoveries + 1), `each poison job runs at most 1 + maxRecoveries = ${maxRecoveries + 1} times (runs: ${poisonStarts.join(',')})`);
    r.check(deaths.length <= nPoison * (maxRecoveries + 1), `worker deaths ${deaths.length}, at most ${nPoison * (maxRecoveries + 1)}`);
    r.check(c.lost.length === 0, `${c.lost.length} good jobs lost (neither done nor dead-lettered)`);
    r.check(unexplained === 0, `${unexplained} duplicate completions not explained by a killed worker`);
    // A job that died with a worker twice runs alone, so a good job never collects
    // maxRecoveries + 1 deaths from poison neighbours (see docs/delivery.md).
    r.check(collateral.length === 0, `${collateral.length} good jobs dead-lettered as poison: they were held by ${maxRecoveries + 1} workers that died (${collateral.slice(0, 5).join(', ')})`);
  } catch (err) {
    r.fail(err);
  } finally {
    stopped = true;
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
