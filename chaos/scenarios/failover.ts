// Scenarios 19 and 20: the master killed -9 under load, again and again, on Redis Sentinel (a
// master, two replicas, three sentinels) and on a Redis Cluster (the master of the queue's
// slot; its replica is promoted). Enqueuers and two worker processes run throughout; nobody
// restarts anything by hand. After each promotion the killed node is started again (it comes
// back as a replica) before the next kill.
//
// Checked: processing resumes within 5 s of each promotion (a job enqueued after it starts),
// no worker process dies, every enqueue either resolved or failed loudly (an error, after which
// the same id is sent again), and a job completes twice only when it was started before a
// failover ended (its outcome was lost with the old master, or its lease with it). One enqueuer
// is durable (`durability: { replicas: 1 }`): none of its acknowledged jobs may be lost. Reported:
// the plain enqueuer's acknowledged jobs lost with the killed master (Redis replicates
// asynchronously).

import { JobNotFoundError, NotDurableError } from '../../src/index.js';
import { fixtureApp } from '../lib/fixture.js';
import { byKey, checkLedger, newLedger, readLedger } from '../lib/ledger.js';
import { Fleet } from '../lib/procs.js';
import { percentile, realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';
import { startSentinelSet } from '../../test/support/sentinel.js';
import { startCluster } from '../../test/support/cluster.js';
import { queueKeys } from '../../src/redis/keys.js';
import { slotOf } from '../../src/redis/topology.js';

const PREFIX = 'chaosfo';
/** The durable enqueuer's option: one replica has the job before the enqueue resolves. */
const DURABLE = { replicas: 1, timeout: '1s' } as const;

/** A topology under test: its URL, and one kill of the master that matters, promotion awaited. */
interface Target {
  url: string;
  /** Kills the master, resolves at the promotion (epoch ms) with a restart of the killed node. */
  killMaster(): Promise<{ promotedAt: number; restart(): Promise<void> }>;
  stop(): Promise<void>;
}

async function sentinelTarget(): Promise<Target> {
  const set = await startSentinelSet({ name: 'chaos', peers: true });
  return {
    url: `redis-sentinel://${set.sentinelList}/${set.name}`,
    killMaster: () => set.killMaster(),
    stop: () => set.stop(),
  };
}

async function clusterTarget(): Promise<Target> {
  const cluster = await startCluster();
  const slot = slotOf(queueKeys(PREFIX, 'work', []).base);
  return {
    url: `redis-cluster://${cluster.nodeList}`,
    async killMaster() {
      const from = await cluster.ownerOf(slot);
      await cluster.kill(from);
      await waitFor(async () => (await cluster.ownerOf(slot).catch(() => from)) !== from, { timeout: 60_000, interval: 50, what: 'a replica promoted' });
      const promotedAt = realNow();
      return {
        promotedAt,
        async restart() {
          await cluster.restart(from);
          await cluster.settled();
        },
      };
    },
    stop: () => cluster.stop(),
  };
}

export const sentinelFailover = (size: Size) => failover('19 Sentinel: master killed -9 under load, repeatedly', sentinelTarget, size);
export const clusterFailover = (size: Size) => failover('20 Cluster: queue master killed -9 under load, repeatedly', clusterTarget, size);

async function failover(title: string, open: () => Promise<Target>, size: Size): Promise<ScenarioResult> {
  const r = new Report(title, size);
  const rounds = size === 'short' ? 1 : 20;
  const ledger = newLedger('failover');
  const target = await open();
  const fleet = new Fleet();
  const client = fixtureApp({ redis: target.url, prefix: PREFIX });
  const acked = new Map<string, number>();
  let failedTries = 0;
  let notDurable = 0;
  let streaming = true;
  try {
    const tags = ['w0', 'w1'];
    const procs = tags.map((tag) => fleet.start({ redis: target.url, prefix: PREFIX, ledger, tag, idleTimeout: 2000, concurrency: 20 }));
    // Two enqueuers, one job at a time each, custom ids: e0 plain, e1 durable (acknowledged once
    // a replica has the job). An enqueue that fails (a durable one included: "written but maybe
    // not durable") is sent again with its id, so it makes one job however often it is sent.
    const enqueuers = [0, 1].map(async (e) => {
      const options = e === 1 ? { durability: DURABLE } : {};
      for (let n = 0; streaming; n++) {
        const key = `e${e}-${n}`;
        for (;;) {
          try {
            await client.hold.with({ id: key, ...options }).enqueue(key, 5);
            acked.set(key, realNow());
            break;
          } catch (err) {
            if (err instanceof NotDurableError) notDurable++;
            failedTries++;
            await sleep(50);
          }
        }
        await sleep(5);
      }
    });
    await waitFor(() => readLedger(ledger).filter((l) => l.event === 'done').length >= 100, { timeout: 60_000, interval: 100, what: 'the workers under load' });

    const resume: number[] = [];
    const outage: number[] = [];
    const failovers: { killedAt: number; promotedAt: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      await sleep(500);
      const killedAt = realNow();
      const { promotedAt, restart } = await target.killMaster();
      failovers.push({ killedAt, promotedAt });
      // Resumed: a job enqueued after the promotion has started (fetched from the new master).
      const started = await waitFor(() => {
        const after = new Set([...acked].filter(([, at]) => at > promotedAt).map(([k]) => k));
        return readLedger(ledger).find((l) => l.event === 'start' && after.has(l.key));
      }, { timeout: 30_000, interval: 20, what: `processing after failover ${round + 1}` }).catch(() => undefined);
      resume.push(started ? started.at - promotedAt : Infinity);
      outage.push(started ? started.at - killedAt : Infinity);
      await restart();
    }
    streaming = false;
    await Promise.all(enqueuers);

    // Every acknowledged job completes, or was lost with a killed master before its promotion.
    const keys = [...acked.keys()];
    await waitFor(() => checkLedger(readLedger(ledger), keys).lost.length === 0, { timeout: 30_000, interval: 250, what: 'every job done' }).catch(() => undefined);
    const c = checkLedger(readLedger(ledger), keys);
    const missing = await Promise.all(c.lost.map((k) => client.app.job('work', k).status().then((s) => ({ k, s }), (err: unknown) => ({ k, s: err instanceof JobNotFoundError ? 'gone' : String(err) }))));
    const gone = missing.filter((m) => m.s === 'gone' || m.s === 'unknown').map((m) => m.k);
    // A loss is explained only for an enqueue acknowledged shortly before a kill or during it.
    const lateLoss = gone.filter((k) => !failovers.some((f) => acked.get(k)! > f.killedAt - 2000 && acked.get(k)! <= f.promotedAt));
    const perKey = byKey(readLedger(ledger));
    const unexplained = c.duplicates.filter((k) => {
      const first = perKey.get(k)!.find((l) => l.event === 'start')!;
      return !failovers.some((f) => first.at <= f.promotedAt + 2000);
    });
    const dead = procs.filter((p) => !p.alive).map((p) => p.spec.tag);
    const durableKeys = keys.filter((k) => k.startsWith('e1-'));
    const durableLost = gone.filter((k) => k.startsWith('e1-'));
    r.set({
      failovers: rounds, acknowledgedEnqueues: keys.length, failedEnqueueTries: failedTries, notDurableErrors: notDurable,
      plainAcknowledged: keys.length - durableKeys.length, plainLost: gone.length - durableLost.length,
      durableAcknowledged: durableKeys.length, durableLost: durableLost.length,
      lostAcknowledged: gone.length, lostOutsideFailover: lateLoss.length, neverCompleted: c.lost.length - gone.length,
      duplicateCompletions: c.duplicates.length, unexplainedDuplicates: unexplained.length,
      resumeP50Ms: percentile(resume, 50), resumeMaxMs: Math.max(...resume),
      killToResumeP50Ms: percentile(outage, 50), killToResumeMaxMs: Math.max(...outage), deadWorkers: dead.length,
    });
    r.check(resume.every((ms) => ms <= 5000), `processing resumed within 5 s of each promotion: ${resume.join('/')} ms`);
    r.check(dead.length === 0, `worker processes died: ${dead.join(', ')}`);
    r.check(c.lost.length === gone.length, `${c.lost.length - gone.length} jobs acknowledged and still in Redis never completed`);
    r.check(durableLost.length === 0, `${durableLost.length} durable enqueues (replicas: 1) acknowledged and lost: ${durableLost.slice(0, 5).join(', ')}`);
    r.check(lateLoss.length === 0, `${lateLoss.length} jobs acknowledged outside a failover were lost: ${lateLoss.slice(0, 5).join(', ')}`);
    r.check(unexplained.length === 0, `${unexplained.length} duplicate completions of jobs started after every failover: ${unexplained.slice(0, 5).join(', ')}`);
    r.check(c.unexpected.length === 0, `unexpected jobs: ${c.unexpected.slice(0, 5).join(', ')}`);
  } catch (err) {
    r.fail(err);
  } finally {
    streaming = false;
    await fleet.reap();
    await client.app.close().catch(() => undefined);
    await target.stop();
  }
  return r.result();
}
