// Scenario 16: pub/sub loss. Two worker processes and a client app reach Redis through a
// fault proxy that resets every subscriber connection at random intervals of 50-300 ms, so
// result ('done' channel) and abort notifications are lost again and again while jobs
// complete and are aborted (ioredis reconnects and resubscribes by itself). The client waits
// on the result of N short jobs at once and aborts M running long jobs.
// What must hold: every result() resolves with its value (no ResultTimeoutError); every abort
// reaches its handler (ledger 'abort' with JobAbortedError) within idleTimeout + 2 s, the job
// ends 'aborted' and its result() rejects with JobAbortedError; none lost, none completed
// twice, none run twice, nothing left waiting, active, delayed or dead-lettered; the workers
// are still alive; and the resets really happened.

import { JobAbortedError } from '../../src/index.js';
import { FaultProxy } from '../lib/faultProxy.js';
import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { eventually, percentile, realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

/** A pause of 50-300 ms: the interval between resets. */
const jitter = () => 50 + Math.floor(Math.random() * 251);

/** Resets every subscriber connection through the proxy, at random intervals, until stopped. */
function resetSubscribers(proxy: FaultProxy) {
  let stopped = false;
  let rounds = 0;
  const loop = (async () => {
    while (!stopped) {
      await sleep(jitter());
      if (stopped) break;
      proxy.resetConnections((c) => c.subscriber);
      rounds++;
    }
  })();
  return {
    get rounds() {
      return rounds;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

interface Settled {
  value?: unknown;
  error?: unknown;
  /** When it settled (realNow). */
  at: number;
}

function settle(p: Promise<unknown>): Promise<Settled> {
  return p.then((value) => ({ value, at: realNow() }), (error: unknown) => ({ error, at: realNow() }));
}

export async function pubsubLoss(size: Size): Promise<ScenarioResult> {
  const r = new Report('16 pub/sub loss (subscribers reset)', size);
  const short = size === 'short';
  const idle = short ? 1500 : 3000;
  const n = short ? 300 : 3000;
  const m = short ? 10 : 50;
  const resultTimeout = short ? 30_000 : 60_000;
  // Room for every long job on one worker, and a few slots for the short jobs on each.
  const concurrency = m + (short ? 5 : 20);
  // The aborts are spread over about this long, the resets going on throughout.
  const abortSpreadMs = short ? 4000 : 12_000;
  // A result found only by the final re-read at its timeout would wake this late or later.
  const wakeBound = 5000;
  const minResets = short ? 30 : 100;
  const stage = await Stage.open('pubsub');
  let proxy: FaultProxy | undefined;
  let resets: ReturnType<typeof resetSubscribers> | undefined;
  try {
    proxy = await FaultProxy.start(stage.redis.port);
    const tags = ['w1', 'w2'];
    const workers = tags.map((tag) => stage.spawn({ tag, redis: proxy!.url, idleTimeout: idle, concurrency }));
    const fx = stage.app({ redis: proxy.url });
    // A worker registers after its abort listener subscribed.
    await waitFor(async () => (await stage.client.app.workers()).filter((w) => tags.includes(w.id)).length === tags.length,
      { timeout: 20_000, what: 'both workers' });
    const subscribersBefore = proxy.connections.filter((c) => c.subscriber).length;

    // From here on, subscriber connections are reset every 50-300 ms.
    resets = resetSubscribers(proxy);
    const faultsAt = realNow();

    // The long jobs, their results awaited from the start, all running before any abort.
    const longKeys = Array.from({ length: m }, (_, i) => `long-${i}`);
    const longJobs = await fx.hold.enqueueMany(longKeys.map((k) => [k, 600_000] as [string, number]));
    const longResults = longJobs.map((j) => settle(j.result({ timeout: resultTimeout })));
    const want = new Set(longKeys);
    await waitFor(() => new Set(readLedger(stage.ledger).filter((l) => l.event === 'start' && want.has(l.key)).map((l) => l.key)).size === m,
      { timeout: 20_000, what: `${m} long jobs running` });

    // Short jobs with every result awaited at once, while the long jobs are aborted one by one.
    const holdKeys = Array.from({ length: n }, (_, i) => `short-${i}`);
    const holdJobs = await fx.hold.enqueueMany(holdKeys.map((k) => [k, 20 + Math.floor(Math.random() * 181)] as [string, number]));
    const calledAt = realNow();
    const abortAt = new Map<string, number>();
    const abortReplies: string[] = [];
    const [holdResults] = await Promise.all([
      Promise.all(holdJobs.map((j) => settle(j.result({ timeout: resultTimeout })))),
      (async () => {
        for (const [i, job] of longJobs.entries()) {
          await sleep(Math.round((0.5 + Math.random()) * (abortSpreadMs / m)));
          abortAt.set(longKeys[i]!, realNow());
          abortReplies.push(await job.abort());
        }
      })(),
    ]);
    const resultsAt = realNow();
    const abortLines = () => new Map(readLedger(stage.ledger).filter((l) => l.event === 'abort' && want.has(l.key)).map((l) => [l.key, l]));
    await waitFor(() => abortLines().size === m, { timeout: idle + 10_000, what: 'every long job aborted in its handler' }).catch(() => undefined);
    const longSettled = await Promise.all(longResults);
    const rounds = resets.rounds;
    await resets.stop();
    const resetsEnd = realNow();
    const stats = proxy.stats;

    // Judged with the faults over.
    const statuses = await Promise.all(longJobs.map((j) => j.status()));
    const counts = await stage.client.app.inspector.counts(stage.client.work);
    const drained = await eventually(async () => {
      const c = await stage.client.app.inspector.counts(stage.client.work);
      return Object.values(c.waiting).every((v) => v === 0) && c.active === 0 && c.delayed === 0;
    }, 10_000);
    const finalCounts = drained ? await stage.client.app.inspector.counts(stage.client.work) : counts;
    // Let any late duplicate or rerun show up before judging.
    await sleep(Math.min(1000, idle));
    const lines = readLedger(stage.ledger);
    const aborts = abortLines();
    const c = checkLedger(lines, [...holdKeys, ...longKeys]);
    const lost = c.lost.filter((k) => !aborts.has(k));
    const doneAt = new Map(lines.filter((l) => l.event === 'done').map((l) => [l.key, l.at]));

    const wrong = holdResults.map((s, i) => ({ s, key: holdKeys[i]! })).filter(({ s, key }) => s.error !== undefined || s.value !== key);
    const timeouts = wrong.filter(({ s }) => (s.error as Error | undefined)?.name === 'ResultTimeoutError');
    const resultMs = holdResults.map((s) => s.at - calledAt);
    // From the handler's end (ledger 'done') to result() resolving: how late the notification was.
    const wakeMs = holdResults.flatMap((s, i) => (s.error === undefined && doneAt.has(holdKeys[i]!) ? [Math.max(0, s.at - doneAt.get(holdKeys[i]!)!)] : []));
    const abortMs = longKeys.filter((k) => aborts.has(k)).map((k) => aborts.get(k)!.at - abortAt.get(k)!);
    const badAbortReason = longKeys.filter((k) => aborts.has(k) && aborts.get(k)!.extra !== 'JobAbortedError');
    const notAborted = longKeys.filter((k) => !aborts.has(k));
    const badLongResults = longKeys.filter((_, i) => !(longSettled[i]!.error instanceof JobAbortedError));
    const badStatuses = longKeys.filter((_, i) => statuses[i] !== 'aborted');
    const alive = workers.filter((w) => w.alive).length;
    const bound = idle + 2000;
    const slowestAbort = abortMs.length ? Math.max(...abortMs) : -1;
    const slowestWake = wakeMs.length ? Math.max(...wakeMs) : -1;

    r.set({
      shortJobs: n, longJobs: m, idleTimeoutMs: idle, concurrencyPerWorker: concurrency, proxySeed: proxy.seed,
      subscribersAtStart: subscribersBefore, resetRounds: rounds, subscriberResets: stats.resetOnDemand,
      proxyConnections: stats.connections, faultsMs: resetsEnd - faultsAt,
      resultsResolved: n - wrong.length, resultTimeouts: timeouts.length, resultErrors: wrong.length - timeouts.length,
      resultP50Ms: percentile(resultMs, 50), resultP99Ms: percentile(resultMs, 99), resultMaxMs: Math.max(...resultMs),
      resultsPhaseMs: resultsAt - calledAt,
      wakeAfterDoneP50Ms: percentile(wakeMs, 50), wakeAfterDoneP99Ms: percentile(wakeMs, 99), wakeAfterDoneMaxMs: slowestWake,
      abortReplies: [...new Set(abortReplies)].map((a) => `${a} x${abortReplies.filter((b) => b === a).length}`).join(', '),
      abortsInHandler: aborts.size, abortToHandlerP50Ms: percentile(abortMs, 50), abortToHandlerMaxMs: slowestAbort,
      abortedStatus: m - badStatuses.length, abortedResultRejections: m - badLongResults.length,
      lost: lost.length, duplicateCompletions: c.duplicates.length, reruns: c.reruns, unexpected: c.unexpected.length,
      waiting: Object.values(finalCounts.waiting).reduce((a, b) => a + b, 0), active: finalCounts.active, delayed: finalCounts.delayed, dlq: finalCounts.dlq,
      workersAlive: `${alive}/${workers.length}`,
    });
    r.check(wrong.length === 0, `${wrong.length} of ${n} result() calls did not resolve with their key (${timeouts.length} ResultTimeoutError); first: ${
      wrong.slice(0, 5).map(({ s, key }) => `${key}: ${s.error !== undefined ? `${(s.error as Error)?.name} ${(s.error as Error)?.message}` : `resolved with ${String(s.value)}`}`).join('; ')}`);
    r.check(slowestWake <= wakeBound, `slowest result() resolved ${slowestWake} ms after its job completed (> ${wakeBound} ms): a lost notification was not made up for`);
    r.check(notAborted.length === 0, `long jobs whose handler never saw the abort: ${notAborted.join(', ')}`);
    r.check(badAbortReason.length === 0, `long jobs aborted for another reason than JobAbortedError: ${badAbortReason.map((k) => `${k} (${aborts.get(k)!.extra})`).join(', ')}`);
    r.check(slowestAbort <= bound, `slowest abort reached its handler after ${slowestAbort} ms > idleTimeout + 2 s (${bound} ms)`);
    r.check(abortReplies.every((a) => a === 'aborting'), `abort() of a running job should answer 'aborting', got ${abortReplies.join(', ')}`);
    r.check(badStatuses.length === 0, `aborted jobs whose status is not 'aborted': ${badStatuses.map((k) => `${k} (${statuses[longKeys.indexOf(k)]})`).join(', ')}`);
    r.check(badLongResults.length === 0, `aborted jobs whose result() did not reject with JobAbortedError: ${badLongResults.map((k) => {
      const s = longSettled[longKeys.indexOf(k)]!;
      return `${k} (${s.error !== undefined ? `${(s.error as Error)?.name} ${(s.error as Error)?.message}` : `resolved with ${String(s.value)}`})`;
    }).join(', ')}`);
    r.check(lost.length === 0, `lost jobs (neither done nor aborted): ${lost.slice(0, 20).join(', ')}`);
    r.check(c.duplicates.length === 0, `jobs completed twice: ${c.duplicates.join(', ')}`);
    r.check(c.reruns === 0, `${c.reruns} jobs ran again (only subscriber connections were reset: no lease should be lost)`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.join(', ')}`);
    r.check(drained && finalCounts.dlq === 0,
      `stranded: waiting ${JSON.stringify(finalCounts.waiting)}, active ${finalCounts.active}, delayed ${finalCounts.delayed}, dlq ${finalCounts.dlq}`);
    r.check(alive === workers.length, `worker processes died: ${workers.filter((w) => !w.alive).map((w) => `${w.spec.tag}: ${w.output().slice(-500)}`).join('; ')}`);
    r.check(stats.resetOnDemand >= minResets, `only ${stats.resetOnDemand} subscriber connections reset (want >= ${minResets}): the fault did not really happen`);
  } catch (err) {
    r.fail(err);
  } finally {
    await resets?.stop();
    await stage.close(r.failures.length > 0);
    await proxy?.close();
  }
  return r.result();
}
