// Scenario 5: Redis (appendonly yes, appendfsync always) killed and restarted under load,
// with jobs queued and in flight. Workers and clients reconnect by themselves within 5 s,
// nothing acknowledged is lost, nothing stays in flight, and every job completes; a job
// completes twice only if it was in flight at the restart (an explained duplicate).

import { byKey, checkLedger, readLedger } from '../lib/ledger.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { percentile, realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function redisRestart(size: Size): Promise<ScenarioResult> {
  const r = new Report('5 Redis restarted under load', size);
  const n = size === 'short' ? 10_000 : 100_000;
  const procs = 2;
  const idle = 2000;
  const outageMs = 1000;
  // Long enough that most jobs are still queued when Redis is killed after a fifth of them (at
  // 5 ms, 100 slots drained the short run's 10,000 before the kill came), and that the work left
  // after the restart outlasts the 5 s bound for one worker alone: at 20 ms the short run's
  // 8,000 took one worker 1.6 s, so on a loaded machine a worker that reconnected after the
  // other had found nothing left to fetch, which read as "never back" (Infinity).
  const JOB_MS = size === 'short' ? 100 : 20;
  const stage = await Stage.open('restart', { appendonly: true, appendfsync: 'always' });
  return runScenario(stage, r, async (redis) => {
    redis.on('error', () => undefined);
    const keys = Array.from({ length: n }, (_, i) => `r${i}`);
    const ids = new Map<string, string>();
    for (let i = 0; i < n; i += 2000) {
      const chunk = keys.slice(i, i + 2000);
      const jobs = await stage.client.hold.enqueueMany(chunk.map((k) => [k, JOB_MS] as [string, number]));
      jobs.forEach((j, x) => ids.set(chunk[x]!, j.id));
    }
    const tags = Array.from({ length: procs }, (_, i) => `w${i}`);
    for (const tag of tags) stage.spawn({ tag, idleTimeout: idle, concurrency: 50, prefetch: 50 }); // capacity 100
    // Under load: a fifth of the jobs done, the rest queued or in flight.
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'done').length >= n / 5, { timeout: 120_000, interval: 100, what: 'load' });
    const killedAt = realNow();
    await stage.redis.kill();
    await sleep(outageMs);
    await stage.redis.up();
    const upAt = realNow();
    // A client command right away: the client app reconnects by itself.
    const clientOk = await stage.client.app.inspector.counts(stage.client.work).then(() => realNow() - upAt, () => -1);
    await waitFor(() => checkLedger(readLedger(stage.ledger), keys).lost.length === 0, { timeout: 60_000 + n, interval: 250, what: 'every job done' }).catch(() => undefined);
    await sleep(idle);
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    // Per worker: when it had started more jobs after the restart than it can hold, so it
    // surely fetched from the restarted Redis (prefetched jobs start without Redis).
    const capacity = 100;
    const reconnect = tags.map((t) => {
      const after = lines.filter((l) => l.worker === t && l.event === 'start' && l.at >= upAt);
      return after.length > capacity ? after[capacity]!.at - upAt : Infinity;
    });
    const perKey = byKey(lines);
    let unexplained = 0;
    for (const k of c.duplicates) {
      const starts = perKey.get(k)!.filter((l) => l.event === 'start');
      if (!(starts[0]!.at < upAt)) unexplained++;
    }
    const runningAtKill = [...perKey.values()].filter((ls) => ls.some((l) => l.event === 'start' && l.at < killedAt) && !ls.some((l) => l.event === 'done' && l.at < killedAt)).length;
    // Every job's outcome is in Redis: nothing acknowledged was lost with the restart.
    const pipe = redis.pipeline();
    for (const k of keys) pipe.exists(`{${PREFIX}:work}:r:${ids.get(k)}`);
    const missingResults = ((await pipe.exec()) ?? []).filter(([, v]) => v !== 1).length;
    const counts = await stage.client.app.inspector.counts(stage.client.work);
    const waiting = Object.values(counts.waiting).reduce((a, b) => a + b, 0);
    r.set({
      jobs: n, workerProcesses: procs, outageMs, lost: c.lost.length, duplicateCompletions: c.duplicates.length, unexplainedDuplicates: unexplained,
      runningAtKill, reruns: c.reruns, missingResults, stuckActive: counts.active, stuckWaiting: waiting,
      workerReconnectMs: reconnect.join('/'), clientReconnectMs: clientOk, recoveryP50Ms: percentile(reconnect, 50), recoveryP99Ms: percentile(reconnect, 99),
    });
    r.check(c.lost.length === 0, `${c.lost.length} jobs never completed`);
    r.check(unexplained === 0, `${unexplained} duplicate completions of jobs not in flight at the restart`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.slice(0, 5).join(', ')}`);
    r.check(missingResults === 0, `${missingResults} jobs without a result after the restart`);
    r.check(counts.active === 0 && waiting === 0, `jobs stuck: active ${counts.active}, waiting ${waiting}`);
    const startsAfter = tags.map((t) => lines.filter((l) => l.worker === t && l.event === 'start' && l.at >= upAt).length);
    r.check(reconnect.every((ms) => ms <= 5000), `workers back within 5 s: ${reconnect.join('/')} ms (jobs started after the restart: ${startsAfter.join('/')})`);
    r.check(clientOk >= 0 && clientOk <= 5000, `client back within 5 s: ${clientOk} ms`);
  });
}
