// Scenario 13: a soak. Jobs stream through 4 worker processes (full: 1,000,000 jobs; short:
// 10,000) while a random one of three is SIGKILLed every few seconds and replaced; the fourth
// is never killed, and its RSS shows whether memory stays flat. 0 lost; duplicates only from
// kills (the first completion was on a worker that was then killed before acknowledging).

import { readFileSync } from 'node:fs';
import { byKey, checkLedger, readLedger } from '../lib/ledger.js';
import type { WorkerProc } from '../lib/procs.js';
import { Stage } from '../lib/stage.js';
import { percentile, realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

export async function soak(size: Size): Promise<ScenarioResult> {
  const r = new Report('13 soak with random kills', size);
  const n = size === 'short' ? 10_000 : 1_000_000;
  const killEveryMs = size === 'short' ? 1000 : 4000;
  const idle = 2000;
  const backlog = 50_000;
  const stage = await Stage.open('soak');
  const spec = { idleTimeout: idle, concurrency: 50, prefetch: 50 };
  let serial = 0;
  let stopping = false;
  const killable: WorkerProc[] = [];
  const killed = new Map<string, number>();
  const recoveries: number[] = [];
  try {
    const steady = stage.spawn({ ...spec, tag: 'steady' });
    for (let i = 0; i < 3; i++) killable.push(stage.spawn({ ...spec, tag: `k${serial++}` }));
    await waitFor(async () => (await stage.client.app.workers()).length === 4, { timeout: 30_000, what: 'four workers' });
    const counts = async () => {
      const c = await stage.client.app.inspector.counts(stage.client.work);
      return Object.values(c.waiting).reduce((a, b) => a + b, 0) + c.active;
    };
    // The killer: every few seconds a random killable worker dies and a new one replaces it.
    const killer = (async () => {
      while (!stopping) {
        await sleep(killEveryMs * (0.5 + Math.random()));
        if (stopping) break;
        const i = Math.floor(Math.random() * killable.length);
        const victim = killable[i]!;
        killed.set(victim.spec.tag, realNow());
        victim.kill('SIGKILL');
        await victim.exited;
        killable[i] = stage.spawn({ ...spec, tag: `k${serial++}` });
      }
    })();
    const rss: { at: number; mb: number }[] = [];
    const sampler = setInterval(() => rss.push({ at: realNow(), mb: rssMb(steady.pid) }), 1000);
    const startedAt = realNow();
    const chunk = size === 'short' ? 1000 : 5000;
    for (let i = 0; i < n; i += chunk) {
      while ((await counts()) > backlog) await sleep(200);
      const m = Math.min(chunk, n - i);
      await stage.client.hold.enqueueMany(Array.from({ length: m }, (_, j) => [`s${i + j}`, 1] as [string, number]));
      // Short: spread the jobs over a few seconds, so kills land while they flow.
      if (size === 'short') await sleep(400);
    }
    await waitFor(async () => (await counts()) === 0, { timeout: 120_000 + n / 5, interval: 500, what: 'the backlog drained' }).catch(() => undefined);
    stopping = true;
    await killer;
    clearInterval(sampler);
    const elapsed = realNow() - startedAt;
    await sleep(idle + 2000); // any job of the last victim is reclaimed by now
    await waitFor(async () => (await counts()) === 0, { timeout: 30_000, what: 'nothing in flight' }).catch(() => undefined);
    const keys = Array.from({ length: n }, (_, i) => `s${i}`);
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines, keys);
    const perKey = byKey(lines);
    let unexplained = 0;
    for (const k of c.duplicates) {
      const dones = perKey.get(k)!.filter((l) => l.event === 'done');
      if (!dones.slice(0, -1).every((l) => killed.has(l.worker))) unexplained++;
    }
    // Recovery: from a kill to the completion elsewhere of each job the victim had started.
    for (const ls of perKey.values()) {
      const first = ls[0]!;
      const killAt = killed.get(first.worker);
      if (killAt === undefined || first.event !== 'start' || first.at > killAt) continue;
      const redone = ls.find((l) => l.event === 'done' && l.at > killAt && l.worker !== first.worker);
      if (redone) recoveries.push(redone.at - killAt);
    }
    const third = Math.floor(rss.length / 3);
    const early = percentile(rss.slice(third, 2 * third).map((s) => s.mb), 50);
    const late = percentile(rss.slice(-Math.max(1, Math.floor(rss.length / 6))).map((s) => s.mb), 50);
    r.set({
      jobs: n, workerProcesses: 4, kills: killed.size, elapsedS: Math.round(elapsed / 1000), jobsPerS: Math.round(n / (elapsed / 1000)),
      lost: c.lost.length, duplicateCompletions: c.duplicates.length, unexplainedDuplicates: unexplained, reruns: c.reruns, unexpected: c.unexpected.length,
      recoveryP50Ms: percentile(recoveries, 50), recoveryP99Ms: percentile(recoveries, 99), steadyRssMidMb: early, steadyRssEndMb: late,
    });
    r.check(c.lost.length === 0, `${c.lost.length} jobs lost`);
    r.check(unexplained === 0, `${unexplained} duplicate completions not explained by a kill`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.slice(0, 5).join(', ')}`);
    r.check(killed.size > 0, 'workers were killed');
    r.check(!(late > early * 1.3 + 20), `the steady worker's RSS grew from ${early} MB to ${late} MB`);
  } catch (err) {
    r.fail(err);
  } finally {
    stopping = true;
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
