// Scenario 18: workers on a full Redis (maxmemory, noeviction). A producer fills Redis with
// jobs before any worker ran, until enqueues are refused with OOM. A worker still starts (its
// registration writes nothing that exists; the group is created past maxmemory), runs jobs,
// and stops gracefully (hand-back) while Redis is full; two more start, drain the backlog and
// stop. Nothing is lost or run twice, nothing is left, and every stop exits 0.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { runScenario, Stage } from '../lib/stage.js';
import { Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

export async function fullDrain(size: Size): Promise<ScenarioResult> {
  const r = new Report('18 start, drain and stop workers on a full Redis', size);
  const maxmemory = size === 'short' ? '6mb' : '64mb';
  const stage = await Stage.open('fulldrain', { maxmemory, maxmemoryPolicy: 'noeviction' });
  return runScenario(stage, r, async (redis) => {
    const info = async () => {
      const m = await redis.info('memory');
      return { used: Number(/used_memory:(\d+)/.exec(m)?.[1]), max: Number(/maxmemory:(\d+)/.exec(m)?.[1]) };
    };
    const full = async () => redis.set('probe', 'x').then(() => redis.del('probe').then(() => false), (e: Error) => /OOM/.test(e.message));
    // Fill with 2 KB jobs until five enqueues in a row are refused.
    const padding = 'p'.repeat(2000);
    const keys: string[] = [];
    let refusedInARow = 0;
    for (let i = 0; refusedInARow < 5 && i < 1_000_000; i++) {
      const batch = Array.from({ length: 20 }, (_, j) => `f${i}-${j}`);
      await stage.client.pad.enqueueMany(batch.map((k) => [k, padding] as [string, string])).then(
        () => void (keys.push(...batch), (refusedInARow = 0)),
        (e: Error) => void (/OOM/.test(e.message) ? refusedInARow++ : (refusedInARow = 0)),
      );
    }
    const atFull = await info();
    // Around the limit a small write may pass for a moment (Redis frees client buffers): full
    // means the producer's enqueues are refused.
    const fullBefore = refusedInARow === 5;
    // The first worker: it must start on the full Redis and run jobs; then a graceful stop.
    const first = stage.spawn({ tag: 'first', idleTimeout: 2000, concurrency: 5, prefetch: 5 });
    const started = await waitFor(async () => (await stage.client.app.workers()).some((w) => w.id === 'first'), { timeout: 20_000, what: 'the first worker registered' }).then(() => true, () => false);
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'done').length >= keys.length / 4, { timeout: 60_000, interval: 100, what: 'a quarter done' }).catch(() => undefined);
    const stillFull = await full();
    first.kill('SIGTERM');
    const firstExit = await first.exited;
    // Two more drain the rest.
    const rest = ['second', 'third'].map((tag) => stage.spawn({ tag, idleTimeout: 2000, concurrency: 20, prefetch: 20 }));
    await waitFor(() => checkLedger(readLedger(stage.ledger), keys).lost.length === 0, { timeout: 60_000 + keys.length * 2, interval: 200, what: 'every job done' }).catch(() => undefined);
    const counts = await stage.client.app.inspector.counts(stage.client.work);
    const drained = await info();
    for (const w of rest) w.kill('SIGTERM');
    const exits = await Promise.all(rest.map((w) => w.exited));
    const c = checkLedger(readLedger(stage.ledger), keys);
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
    r.set({
      maxmemory, jobs: keys.length, usedAtFull: mb(atFull.used), fullBefore: String(fullBefore), fullWhenFirstStopped: String(stillFull),
      firstStarted: String(started), firstExit: String(firstExit.code), lost: c.lost.length, duplicateCompletions: c.duplicates.length,
      usedAfterDrain: mb(drained.used), left: `waiting ${Object.values(counts.waiting).reduce((a, b) => a + b, 0)}, active ${counts.active}, dlq ${counts.dlq}`,
      exits: exits.map((e) => e.code).join(','),
    });
    r.check(fullBefore, 'Redis was full (enqueues refused with OOM) before the first worker started');
    r.check(started, 'a worker starts on the full Redis');
    r.check(firstExit.code === 0, `the first worker stopped gracefully on the full Redis (exit ${firstExit.code})`);
    r.check(c.lost.length === 0, `lost jobs: ${c.lost.slice(0, 10).join(', ')}${c.lost.length > 10 ? ` (+${c.lost.length - 10})` : ''}`);
    r.check(c.duplicates.length === 0, `jobs completed twice: ${c.duplicates.slice(0, 10).join(', ')}`);
    r.check(counts.active === 0 && counts.dlq === 0 && Object.values(counts.waiting).every((w) => w === 0), 'nothing left in the queue');
    r.check(exits.every((e) => e.code === 0), `the draining workers stopped gracefully (exits ${exits.map((e) => e.code).join(',')})`);
  });
}
