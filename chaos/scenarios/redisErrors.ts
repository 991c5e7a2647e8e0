// Scenario 14: Redis errors on every kind of call. Two worker processes reach Redis through a
// fault proxy that, for a while, answers a share of their commands with READONLY (a failover),
// LOADING (a restart), OOM (a full Redis), drops replies of commands that ran and resets
// connections, under load. Nothing is lost or stranded, every job's outcome is recorded once,
// and both workers are alive and fetching when the faults stop.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { commandIn, ERRORS, FaultProxy, type Fault } from '../lib/faultProxy.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

/** The faults of the storm, as shares of the workers' commands. */
export function storm(scale = 1): Fault[] {
  return [
    // Blocking reads are few (one per idle second per worker): hit more of them.
    { kind: 'error', error: ERRORS.LOADING, rate: 0.2 * scale, match: commandIn('XREADGROUP') },
    { kind: 'drop-reply', rate: 0.1 * scale, match: commandIn('XREADGROUP') },
    { kind: 'error', error: ERRORS.READONLY, rate: 0.05 * scale },
    { kind: 'error', error: ERRORS.LOADING, rate: 0.05 * scale },
    { kind: 'error', error: ERRORS.OOM, rate: 0.03 * scale },
    { kind: 'drop-reply', rate: 0.02 * scale },
    { kind: 'reset', rate: 0.01 * scale },
  ];
}

export async function redisErrors(size: Size): Promise<ScenarioResult> {
  const r = new Report('14 Redis errors on every kind of call', size);
  // 40 slots of 50 ms jobs: about 800 a second, so the load lasts past the storm.
  const n = size === 'short' ? 4000 : 30_000;
  const stormMs = size === 'short' ? 4000 : 30_000;
  const idleStormMs = size === 'short' ? 3000 : 10_000;
  const idle = 2000;
  const stage = await Stage.open('errors');
  return runScenario(stage, r, async (redis) => {
    const proxy = await FaultProxy.start(stage.redis.port, { seed: Number(process.env.CHAOS_SEED ?? 14) });
    try {
      const workers = ['e1', 'e2'].map((tag) => stage.spawn({ tag, redis: proxy.url, idleTimeout: idle, concurrency: 20, prefetch: 20 }));
      await waitFor(async () => (await stage.client.app.workers()).length === 2, { timeout: 20_000, what: 'both workers' });
      // Most jobs take a moment each, so that the storm meets jobs queued, running and settling;
      // some are delayed (promote), at most once (take) or always failing (retry, dead letter).
      const keys = Array.from({ length: n }, (_, i) => `e${i}`);
      const kind = (i: number) => (i % 20 === 1 ? 'once' : i % 20 === 2 ? 'delayed' : i % 20 === 3 ? 'fail' : 'hold');
      const jobs: { key: string; id: string; kind: string }[] = [];
      const c0 = stage.client;
      for (let i = 0; i < n; i += 1000) {
        const chunk = keys.slice(i, i + 1000).map((key, x) => ({ key, kind: kind(i + x) }));
        const add = async (k: string, run: (ks: string[]) => Promise<{ id: string }[]>) => {
          const ks = chunk.filter((c) => c.kind === k).map((c) => c.key);
          (await run(ks)).forEach((j, x) => jobs.push({ key: ks[x]!, id: j.id, kind: k }));
        };
        await add('hold', (ks) => c0.hold.enqueueMany(ks.map((k) => [k, 50] as [string, number])));
        await add('once', (ks) => c0.once.enqueueMany(ks.map((k) => [k, 50] as [string, number])));
        await add('delayed', (ks) => c0.hold.enqueueMany(ks.map((k) => ({ args: [k, 50] as [string, number], options: { delay: 1000 } }))));
        await add('fail', (ks) => c0.fail.enqueueMany(ks.map((k) => [k] as [string])));
      }
      const finishing = keys.filter((_, i) => kind(i) !== 'fail');
      const failing = jobs.filter((j) => j.kind === 'fail');
      proxy.setFaults(storm());
      await sleep(stormMs);
      await waitFor(() => checkLedger(readLedger(stage.ledger), finishing).lost.length === 0, { timeout: 30_000 + n * 2, interval: 200, what: 'every job done' }).catch(() => undefined);
      // The storm goes on a while over the idle queue, which workers read by blocking reads.
      await sleep(idleStormMs);
      proxy.clearFaults();
      const faults = proxy.stats;
      await waitFor(() => checkLedger(readLedger(stage.ledger), finishing).lost.length === 0, { timeout: 30_000, interval: 200, what: 'every job done' }).catch(() => undefined);
      await waitFor(async () => {
        const c = await stage.client.app.inspector.counts(stage.client.work);
        return c.active === 0 && c.delayed === 0 && Object.values(c.waiting).every((w) => w === 0) && c.dlq === failing.length;
      }, { timeout: 20_000, interval: 200, what: 'nothing left in the queue' }).catch(() => undefined);
      const c = checkLedger(readLedger(stage.ledger).filter((l) => !l.key.startsWith('after-')), finishing);
      const counts = await stage.client.app.inspector.counts(stage.client.work);
      // Exactly one recorded outcome each: completed, or failed for the always-failing ones.
      const statuses = new Map<string, number>();
      for (let i = 0; i < jobs.length; i += 500) {
        const chunk = jobs.slice(i, i + 500);
        const raw = await redis.mget(...chunk.map((j) => `{${PREFIX}:work}:r:${j.id}`));
        raw.forEach((v, x) => {
          const s = `${chunk[x]!.kind === 'fail' ? 'fail' : 'ok'}/${v === null ? 'missing' : v.slice(0, v.indexOf('|'))}`;
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
        });
      }
      if (c.lost.length) {
        const lostJobs = jobs.filter((j) => c.lost.includes(j.key)).slice(0, 5);
        r.set({ lostDetail: JSON.stringify(await Promise.all(lostJobs.map(async (j) => ({ kind: j.kind, ...(await stage.client.app.job('work', j.id).info()) })))) });
      }
      const dlqIds = (await stage.client.app.deadLetters('work').list({ limit: 100_000 })).map((e) => e.id);
      // Still fetching: a new job runs on them after the storm.
      const after = await stage.client.hold.enqueueMany([['after-1', 0], ['after-2', 0], ['after-3', 0], ['after-4', 0]]);
      const afterOk = await Promise.all(after.map((j) => j.result({ timeout: 15_000 }).then(() => true, () => false)));
      r.set({
        jobs: n, stormMs: `${stormMs} + idle ${idleStormMs}`, commandsSeen: faults.commands, errorsInjected: faults.injected.error, repliesDropped: faults.injected['drop-reply'],
        resets: faults.injected.reset, hitCommands: Object.keys(faults.byCommand).sort().join(','), lost: c.lost.length, duplicateCompletions: c.duplicates.length, reruns: c.reruns,
        recorded: [...statuses].map(([s, k]) => `${s}:${k}`).join(','), left: `waiting ${Object.values(counts.waiting).reduce((a, b) => a + b, 0)}, active ${counts.active}, delayed ${counts.delayed}, dlq ${counts.dlq}`,
      });
      r.check(faults.injected.error > 0 && faults.injected['drop-reply'] > 0 && faults.injected.reset > 0, 'the storm injected errors, dropped replies and resets');
      r.check(c.lost.length === 0, `lost jobs: ${c.lost.slice(0, 10).join(', ')}${c.lost.length > 10 ? ` (+${c.lost.length - 10})` : ''}`);
      r.check(statuses.get('ok/completed') === finishing.length && statuses.get('fail/failed') === failing.length,
        `every job has its one recorded outcome (${[...statuses].map(([s, k]) => `${s}:${k}`).join(', ')})`);
      r.check(dlqIds.length === failing.length && new Set(dlqIds).size === failing.length && failing.every((f) => dlqIds.includes(f.id)),
        `each always-failing job dead-lettered once (${dlqIds.length} entries for ${failing.length} jobs)`);
      r.check(counts.active === 0 && counts.delayed === 0 && Object.values(counts.waiting).every((w) => w === 0), 'nothing stranded in the queue');
      r.check(workers.every((w) => w.alive), `both workers alive (exited: ${workers.filter((w) => !w.alive).map((w) => w.spec.tag).join(', ') || 'none'})`);
      r.check(afterOk.every(Boolean), 'the workers run new jobs after the storm');
      r.check(!workers.some((w) => /Unhandled|triggerUncaughtException/.test(w.output())), 'no unhandled rejection in a worker');
    } finally {
      await proxy.close();
    }
  });
}
