// Scenario 6: enqueue calls made while Redis is down (10 s; short: 3 s). Each call either
// rejects with a clear error or resolves after the reconnect within a bounded time, and
// every call that resolved has its job run: none is dropped silently.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { percentile, realNow, Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

/** How long after Redis is back an enqueue may still take. */
const BOUND_AFTER_UP_MS = 5000;

export async function enqueueOutage(size: Size): Promise<ScenarioResult> {
  const r = new Report('6 enqueue during a Redis outage', size);
  const outageMs = size === 'short' ? 3000 : 10_000;
  const stage = await Stage.open('outage', { appendonly: true, appendfsync: 'always' });
  try {
    await stage.worker({ tag: 'w1' });
    const before = await stage.client.hold.enqueue('before', 0);
    await before.result({ timeout: 5000 });
    await stage.redis.kill();
    const downAt = realNow();
    type Call = { key: string; at: number; settledAt?: number; ok?: boolean; error?: string };
    const calls: Call[] = [];
    const settled: Promise<void>[] = [];
    let i = 0;
    while (realNow() - downAt < outageMs) {
      const call: Call = { key: `outage-${i++}`, at: realNow() };
      calls.push(call);
      settled.push(stage.client.hold.enqueue(call.key, 0).then(
        () => void Object.assign(call, { ok: true, settledAt: realNow() }),
        (e: Error) => void Object.assign(call, { ok: false, settledAt: realNow(), error: `${e.name}: ${e.message}` }),
      ));
      await sleep(100);
    }
    await stage.redis.up();
    const upAt = realNow();
    const allSettled = await Promise.race([Promise.all(settled).then(() => true), sleep(BOUND_AFTER_UP_MS + 30_000).then(() => false)]);
    const ok = calls.filter((c) => c.ok === true);
    const failed = calls.filter((c) => c.ok === false);
    const pending = calls.filter((c) => c.ok === undefined);
    await waitFor(() => checkLedger(readLedger(stage.ledger), ok.map((c) => c.key)).lost.length === 0, { timeout: 15_000, what: 'resolved jobs run' }).catch(() => undefined);
    const lines = readLedger(stage.ledger);
    const c = checkLedger(lines.filter((l) => l.key !== 'before'), ok.map((c) => c.key));
    const ranButRejected = failed.filter((f) => lines.some((l) => l.key === f.key)).length;
    const lateAfterUp = calls.filter((c) => c.settledAt !== undefined && c.settledAt - upAt > BOUND_AFTER_UP_MS).length;
    const unclear = failed.filter((f) => !f.error || f.error.length < 10).length;
    r.set({
      outageMs, calls: calls.length, resolved: ok.length, rejected: failed.length, neverSettled: pending.length,
      silentlyDropped: c.lost.length, duplicates: c.duplicates.length, rejectedButRan: ranButRejected, settledLate: lateAfterUp,
      resolveAfterUpP50Ms: percentile(ok.map((c) => c.settledAt! - upAt), 50), resolveAfterUpMaxMs: Math.max(0, ...ok.map((c) => c.settledAt! - upAt)),
      firstError: failed[0]?.error ?? 'none',
    });
    r.check(allSettled && pending.length === 0, `${pending.length} enqueue calls never settled`);
    r.check(c.lost.length === 0, `${c.lost.length} resolved enqueues never ran (dropped silently)`);
    r.check(c.duplicates.length === 0, `${c.duplicates.length} enqueues ran twice`);
    r.check(lateAfterUp === 0, `${lateAfterUp} calls settled more than ${BOUND_AFTER_UP_MS} ms after Redis was back`);
    r.check(unclear === 0, `${unclear} rejections without a clear error`);
    r.check(c.unexpected.length === ranButRejected, 'only enqueued jobs ran');
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
