// Scenario 7: ten workers start at once over 1,000 orphaned jobs (delivered to a consumer
// 'ghost' that never acknowledges them, while they wait); each job runs again exactly once.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { percentile, realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function orphans(size: Size): Promise<ScenarioResult> {
  const r = new Report('7 ten workers recover 1,000 orphans', size);
  const n = 1000;
  const workers = 10;
  const idle = 1000;
  const stage = await Stage.open('orphans');
  return runScenario(stage, r, async (redis) => {
    // The ten workers first (full size: processes; short: in this process, same race on Redis).
    if (size === 'full') {
      for (let i = 0; i < workers; i++) stage.spawn({ tag: `w${i}`, idleTimeout: idle, concurrency: 20 });
    } else {
      await Promise.all(Array.from({ length: workers }, (_, i) => stage.worker({ tag: `w${i}`, idleTimeout: idle }, { concurrency: 20 })));
    }
    await waitFor(async () => (await stage.client.app.workers()).length === workers, { timeout: 60_000, what: 'ten workers' });
    // Then 1,000 jobs added and delivered to 'ghost' in one transaction, before any worker's
    // blocking read is served: all ten idle workers see the same orphans expire at once.
    const keys = Array.from({ length: n }, (_, i) => `orphan-${i}`);
    const stream = `{${PREFIX}:work}:s:normal`;
    const tx = redis.multi();
    for (const k of keys) tx.xadd(stream, '*', 'h', '|hold|||', 'd', JSON.stringify([k, 0]));
    tx.xreadgroup('GROUP', 'millrace', 'ghost', 'COUNT', n, 'STREAMS', stream, '>');
    const replies = (await tx.exec()) ?? [];
    const got = replies[replies.length - 1]?.[1] as [string, unknown[]][] | null;
    const orphaned = got?.[0]?.[1].length ?? 0;
    r.check(orphaned === n, `the ghost took ${orphaned} of ${n} jobs`);
    const startedAt = realNow();
    await waitFor(() => checkLedger(readLedger(stage.ledger), keys).lost.length === 0, { timeout: 30_000, what: 'every orphan done' }).catch(() => undefined);
    await new Promise((res) => setTimeout(res, idle));
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    const perWorker = new Map<string, number>();
    for (const l of lines) if (l.event === 'done') perWorker.set(l.worker, (perWorker.get(l.worker) ?? 0) + 1);
    const recovery = lines.filter((l) => l.event === 'done').map((l) => l.at - startedAt);
    const ghostPending = Number(((await redis.xpending(stream, 'millrace')) as [number])[0]);
    r.set({
      jobs: n, workers, lost: c.lost.length, duplicateCompletions: c.duplicates.length, reruns: c.reruns, unexpected: c.unexpected.length,
      workersThatRecovered: perWorker.size, recoveryP50Ms: percentile(recovery, 50), recoveryP99Ms: percentile(recovery, 99), pendingAfter: ghostPending,
    });
    r.check(c.lost.length === 0, `${c.lost.length} orphans never ran`);
    r.check(c.duplicates.length === 0 && c.reruns === 0, `${c.duplicates.length} orphans completed twice, ${c.reruns} extra starts`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.slice(0, 5).join(', ')}`);
    r.check(ghostPending === 0, `${ghostPending} entries still pending`);
  });
}
