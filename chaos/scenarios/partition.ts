// Scenario 4: a worker cut off from Redis by a TCP proxy for 2x the idle timeout. Its
// running job's signal aborts (lease lost), the job runs once elsewhere, its late outcome is
// refused, and it reconnects by itself and fetches again once the network is back.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { byKey, readLedger } from '../lib/ledger.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

/** A pino logger whose lines land in `lines`. */
export function captureLogger(lines: string[], level = 'warn') {
  return pino({ level }, new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  }));
}

export async function partition(size: Size): Promise<ScenarioResult> {
  const r = new Report('4 worker cut off from Redis', size);
  const idle = size === 'short' ? 1500 : 3000;
  const stage = await Stage.open('partition');
  return runScenario(stage, r, async (redis) => {
    const proxy = await stage.proxy();
    const logs: string[] = [];
    const { worker: cut } = await stage.worker({ tag: 'cut', redis: proxy.url, idleTimeout: idle, logger: captureLogger(logs) }, { concurrency: 2 });
    // 'held' runs until its signal aborts; 'finisher' ends while its worker is cut off.
    const held = await stage.client.hold.enqueue('held', 600_000);
    const finisher = await stage.client.hold.enqueue('finisher', Math.round(idle * 1.5));
    await waitFor(() => readLedger(stage.ledger).filter((l) => l.event === 'start' && l.worker === 'cut').length === 2, { timeout: 10_000, what: 'both jobs running on the cut-off worker' });
    const { worker: other } = await stage.worker({ tag: 'other', idleTimeout: idle, maxHoldMs: 10 });
    const cutAt = realNow();
    proxy.cut();
    await sleep(2 * idle);
    const restoredAt = realNow();
    proxy.restore();
    // The cut-off worker renews again, learns the lease is gone and aborts the held job.
    const abortSeen = await waitFor(() => readLedger(stage.ledger).find((l) => l.event === 'abort' && l.key === 'held'), { timeout: idle + 10_000, what: 'the held job aborted' }).catch(() => undefined);
    const refused = await waitFor(() => logs.some((l) => l.includes('outcome refused')), { timeout: 10_000, what: 'the late outcome refused' }).catch(() => false);
    await waitFor(async () => (await redis.exists(`{${PREFIX}:work}:r:${held.id}`, `{${PREFIX}:work}:r:${finisher.id}`)) === 2, { timeout: 10_000, what: 'both results' }).catch(() => undefined);
    const meta = async (id: string) => {
      const raw = await redis.get(`{${PREFIX}:work}:r:${id}`);
      return raw ? (JSON.parse(raw.slice(raw.indexOf('|') + 1, raw.indexOf('\n'))) as { worker?: string }) : undefined;
    };
    const heldMeta = await meta(held.id);
    const finisherMeta = await meta(finisher.id);
    const lines = byKey(readLedger(stage.ledger));
    const heldDone = (lines.get('held') ?? []).filter((l) => l.event === 'done');
    // The network is back: with the other worker gone, a new job must run on the cut-off one.
    await other.stop({ grace: 1000 });
    const probeAt = realNow();
    await stage.client.hold.enqueue('after-restore', 0);
    const resumed = await waitFor(() => readLedger(stage.ledger).find((l) => l.key === 'after-restore' && l.event === 'done' && l.worker === 'cut'), { timeout: 15_000, what: 'a new job on the reconnected worker' }).catch(() => undefined);
    const health = await cut.healthcheck();
    r.set({
      idleTimeoutMs: idle, cutMs: restoredAt - cutAt, abortReason: abortSeen?.extra ?? 'none', abortAfterRestoreMs: abortSeen ? abortSeen.at - restoredAt : -1,
      heldRuns: (lines.get('held') ?? []).filter((l) => l.event === 'start').length, heldCompletions: heldDone.length,
      heldRecordedBy: heldMeta?.worker ?? 'none', finisherRecordedBy: finisherMeta?.worker ?? 'none', lateOutcomesRefused: logs.filter((l) => l.includes('outcome refused')).length,
      resumedFetchingMs: resumed ? resumed.at - probeAt : -1, healthyAfter: String(health.healthy),
    });
    r.check(abortSeen?.extra === 'LeaseLostError', `the cut-off worker's job should abort with LeaseLostError, got ${abortSeen?.extra ?? 'no abort'}`);
    r.check(heldDone.length === 1 && heldDone[0]!.worker === 'other' && heldMeta?.worker === 'other', 'the held job completes exactly once, on the other worker');
    r.check(refused === true && finisherMeta?.worker === 'other', `the cut-off worker's late outcome is refused and the other worker's recorded (recorded by ${finisherMeta?.worker})`);
    r.check(resumed !== undefined, 'the cut-off worker reconnects by itself and runs a new job');
  });
}
