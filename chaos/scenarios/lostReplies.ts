// Scenario 15: lost replies, for every script. Workers and the enqueuing client reach Redis
// through a fault proxy that lets a share of every script's calls run but drops their replies
// (and the connection): ioredis then sends each such call again, so every script meets its own
// second run (a take, an enqueue, a completion, a retry, a hand-back, a reclaim, ...). Meanwhile
// one worker stops gracefully (hand-back) and one is killed (reclaim, and its at-most-once job
// cleaned up). Nothing is lost or stranded, no enqueue adds a job twice, each job has one
// recorded outcome, and the workers that were not stopped are alive.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { FaultProxy, commandIn, scriptNamed, type Fault } from '../lib/faultProxy.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';
import { SCRIPTS } from '../../src/redis/scripts.js';

/** A dropped reply for a share of each script's calls (and of blocking reads), each labelled for the figures. */
function dropEveryScript(rate: number): Fault[] {
  // Scripts called a few times a second at most (renewals, heartbeats, hand-backs, ...) lose more.
  const frequent = new Set(['enqueue', 'fetch', 'complete']);
  // Every script loses the reply of its first call under the faults, then of a share of the others.
  const faults: Fault[] = Object.values(SCRIPTS).flatMap((s): Fault[] => [
    { kind: 'drop-reply', rate: 1, times: 1, match: scriptNamed(s.file), label: s.file },
    { kind: 'drop-reply', rate: frequent.has(s.file) ? rate : Math.min(0.5, rate * 4), match: scriptNamed(s.file), label: s.file },
  ]);
  faults.push({ kind: 'drop-reply', rate: rate * 3, match: commandIn('XREADGROUP'), label: 'XREADGROUP' });
  return faults;
}

export async function lostReplies(size: Size): Promise<ScenarioResult> {
  const r = new Report('15 lost replies, for every script', size);
  const n = size === 'short' ? 2000 : 20_000;
  const idle = 1500;
  const stage = await Stage.open('lostreplies');
  return runScenario(stage, r, async (redis) => {
    const proxy = await FaultProxy.start(stage.redis.port, { seed: Number(process.env.CHAOS_SEED ?? 15) });
    try {
      const spec = { redis: proxy.url, idleTimeout: idle, concurrency: 20, prefetch: 10 };
      const keeper = stage.spawn({ tag: 'keep', ...spec });
      const stopper = stage.spawn({ tag: 'stop', ...spec });
      const victim = stage.spawn({ tag: 'kill', ...spec });
      await waitFor(async () => (await stage.client.app.workers()).length === 3, { timeout: 20_000, what: 'three workers' });
      proxy.setFaults(dropEveryScript(size === 'short' ? 0.03 : 0.02));
      const client = stage.app({ redis: proxy.url });
      // Most jobs take a moment; some are at most once (take), always failing (retry, dead
      // letter), delayed (promote), or long and aborted (abort, and the outcome of an abort).
      const kinds = ['hold', 'hold', 'hold', 'hold', 'hold', 'hold', 'once', 'fail', 'delayed', 'hold'] as const;
      const jobs: { key: string; id: string; kind: string }[] = [];
      for (let i = 0; i < n; i += 500) {
        const batch = Array.from({ length: Math.min(500, n - i) }, (_, x) => ({ key: `l${i + x}`, kind: kinds[(i + x) % kinds.length]! }));
        const of = (k: string) => batch.filter((b) => b.kind === k).map((b) => b.key);
        const add = async (k: string, ids: Promise<{ id: string }[]>) => (await ids).forEach((j, x) => jobs.push({ key: of(k)[x]!, id: j.id, kind: k }));
        await add('hold', client.hold.enqueueMany(of('hold').map((k) => [k, 30] as [string, number])));
        await add('once', client.once.enqueueMany(of('once').map((k) => [k, 30] as [string, number])));
        await add('fail', client.fail.enqueueMany(of('fail').map((k) => [k] as [string])));
        await add('delayed', client.hold.enqueueMany(of('delayed').map((k) => ({ args: [k, 30] as [string, number], options: { delay: 500 } }))));
      }
      const long = await client.hold.enqueueMany(Array.from({ length: 10 }, (_, i) => [`long${i}`, 600_000] as [string, number]));
      await waitFor(() => long.every((_, i) => readLedger(stage.ledger).some((l) => l.key === `long${i}` && l.event === 'start')), { timeout: 30_000 + n * 5, interval: 250, what: 'the long jobs running' }).catch(async (e: Error) => {
        const l = readLedger(stage.ledger);
        const pel = await redis.xpending(`{${PREFIX}:work}:s:normal`, 'millrace');
        const ws = (await stage.client.app.workers()).map((w) => `${w.id}: held ${w.held} running ${w.running}`).join('; ');
        throw new Error(`${e.message}: pel ${JSON.stringify(pel)}; workers ${ws}; ledger ${l.length} lines, ${l.filter((x) => x.event === 'done').length} done; counts ${JSON.stringify(await stage.client.app.inspector.counts(stage.client.work))}; stats ${JSON.stringify(proxy.stats.byLabel)}; keep: ${keeper.output().slice(-1500)}`);
      });
      const aborts = await Promise.all(long.map((j) => j.abort()));
      // A graceful stop (hand-back) and a crash (reclaim by the others) under the faults.
      stopper.kill('SIGTERM');
      const stopped = await stopper.exited;
      victim.kill('SIGKILL');
      await victim.exited;
      const replacement = stage.spawn({ tag: 'again', ...spec });
      const finishing = jobs.filter((j) => j.kind === 'hold' || j.kind === 'delayed' || j.kind === 'once');
      // The faults last until the always-failing jobs (whose retries go to the back of the
      // queue) reached the DLQ too.
      const failingCount = jobs.filter((j) => j.kind === 'fail').length;
      await waitFor(async () => checkLedger(readLedger(stage.ledger), finishing.map((j) => j.key)).lost.length <= jobs.filter((j) => j.kind === 'once').length
        && (await stage.client.app.deadLetters('work').count()) >= failingCount,
      { timeout: 60_000 + n * 5, interval: 250, what: 'the jobs done' }).catch(() => undefined);
      proxy.clearFaults();
      const dropped = proxy.stats;
      // The killed worker's at-most-once jobs: dead-lettered as interrupted once it is known dead.
      const interrupted = new Set<string>();
      await waitFor(async () => {
        const out = await stage.client.app.cleanupStaleWorkers(3000);
        out.interrupted.forEach((id) => interrupted.add(id));
        const c = await stage.client.app.inspector.counts(stage.client.work);
        return c.active === 0 && c.delayed === 0 && Object.values(c.waiting).every((w) => w === 0);
      }, { timeout: 30_000, interval: 500, what: 'nothing left in the queue' }).catch(() => undefined);
      const lines = readLedger(stage.ledger);
      const onceIds = new Set(jobs.filter((j) => j.kind === 'once').map((j) => j.id));
      const mustFinish = finishing.filter((j) => !interrupted.has(j.id)).map((j) => j.key);
      const c = checkLedger(lines, mustFinish);
      const counts = await stage.client.app.inspector.counts(stage.client.work);
      // One recorded outcome per job enqueued, and no more: an enqueue sent twice would add a second job.
      let results = 0;
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `{${PREFIX}:work}:r:*`, 'COUNT', 1000);
        cursor = next;
        results += found.length;
      } while (cursor !== '0');
      const streamEntries = await Promise.all(['critical', 'high', 'normal', 'low'].map((l) => redis.xlen(`{${PREFIX}:work}:s:${l}`)));
      const dlq = await stage.client.app.deadLetters('work').list({ limit: 100_000 });
      const failing = jobs.filter((j) => j.kind === 'fail');
      const failIds = new Set(failing.map((j) => j.id));
      const strays = dlq.filter((e) => !failIds.has(e.id) && !interrupted.has(e.id));
      if (strays.length) r.set({ strayDeadLetters: JSON.stringify(strays.slice(0, 5).map((e) => ({ id: e.id, task: e.task, reason: e.reason, error: e.error, attempts: e.attempts, worker: e.worker }))) });
      r.set({
        jobs: jobs.length + long.length, dropped: dropped.injected['drop-reply'], byScript: Object.entries(dropped.seenByLabel).map(([k, v]) => `${k}:${dropped.byLabel[k] ?? 0}/${v}`).join(','),
        lost: c.lost.length, duplicateCompletions: c.duplicates.length, reruns: c.reruns, interrupted: interrupted.size, results,
        dlq: dlq.length, aborted: aborts.join(',').replace(/aborting/g, 'a'), stopExit: String(stopped.code),
      });
      const hit = Object.keys(dropped.byLabel);
      for (const script of ['enqueue', 'fetch', 'complete', 'retry', 'dead', 'take', 'touch', 'heartbeat', 'promote']) {
        r.check(hit.includes(script), `a reply of ${script} was dropped`);
      }
      r.check(c.lost.length === 0, `lost jobs: ${c.lost.slice(0, 10).join(', ')}${c.lost.length > 10 ? ` (+${c.lost.length - 10})` : ''}`);
      r.check([...interrupted].every((id) => onceIds.has(id)), 'only at-most-once jobs were interrupted');
      r.check(results === jobs.length + long.length, `one recorded outcome per job enqueued (${results} results for ${jobs.length + long.length} jobs)`);
      r.check(dlq.length === failing.length + interrupted.size, `the DLQ holds the always-failing and the interrupted jobs once each (${dlq.length} for ${failing.length} + ${interrupted.size})`);
      r.check(counts.active === 0 && counts.delayed === 0 && Object.values(counts.waiting).every((w) => w === 0) && streamEntries.every((x) => x === 0), 'nothing stranded');
      r.check(long.every((_, i) => lines.some((l) => l.key === `long${i}` && l.event === 'abort' && l.extra === 'JobAbortedError')), 'every abort reached its running job');
      r.check(stopped.code === 0, `the stopped worker exited 0 (got ${stopped.code})`);
      r.check(keeper.alive && replacement.alive, 'the workers that were not stopped are alive');
      await sleep(0);
    } finally {
      await proxy.close();
    }
  });
}
