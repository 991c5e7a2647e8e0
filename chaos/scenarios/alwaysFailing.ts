// Scenario 10: an always-failing job makes exactly maxTries attempts, spaced as the backoff
// formula says (jitter off), then lands in the dead-letter queue with its last error.

import { backoffDelay } from '../../src/options.js';
import { FAIL_BACKOFF, FAIL_TRIES } from '../lib/fixture.js';
import { byKey, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

/** How late an attempt may start after its due time: scheduler poll, fetch, start. */
const SLACK_MS = 600;

export async function alwaysFailing(size: Size): Promise<ScenarioResult> {
  const r = new Report('10 always-failing job', size);
  const n = size === 'short' ? 3 : 50;
  const stage = await Stage.open('fail');
  try {
    await stage.worker({ tag: 'w1' }, { concurrency: 20 });
    const keys = Array.from({ length: n }, (_, i) => `fail-${i}`);
    const jobs = await stage.client.fail.enqueueMany(keys.map((k) => [k] as [string]));
    const dlq = stage.client.app.deadLetters('work');
    const spacing = Array.from({ length: FAIL_TRIES - 1 }, (_, i) => backoffDelay({ ...FAIL_BACKOFF, jitter: false }, i + 1));
    const total = spacing.reduce((a, b) => a + b, 0);
    await waitFor(async () => (await dlq.count()) === n, { timeout: total + 10_000, what: 'every job in the DLQ' });
    const lines = byKey(readLedger(stage.ledger));
    let badCount = 0;
    let badSpacing = 0;
    let worstLate = 0;
    let worstEarly = 0;
    for (const k of keys) {
      const starts = (lines.get(k) ?? []).filter((l) => l.event === 'start');
      if (starts.length !== FAIL_TRIES || starts.some((l, i) => l.attempt !== i + 1)) badCount++;
      for (let i = 1; i < starts.length; i++) {
        const gap = starts[i]!.at - starts[i - 1]!.at;
        const want = spacing[i - 1]!;
        worstLate = Math.max(worstLate, gap - want);
        worstEarly = Math.max(worstEarly, want - gap);
        // The server clock and this host's are the same clock here; allow a few ms of rounding.
        if (gap < want - 5 || gap > want + SLACK_MS) badSpacing++;
      }
    }
    const entries = await dlq.list({ limit: n + 10 });
    const byId = new Map(entries.map((e) => [e.id, e]));
    const wrongDlq = jobs.filter((j) => {
      const e = byId.get(j.id);
      return !e || e.reason !== 'max-tries' || e.attempts !== FAIL_TRIES || !e.error.includes(`always fails (attempt ${FAIL_TRIES})`);
    }).length;
    const first = await jobs[0]!.result({ timeout: 2000 }).then(() => 'resolved', (e: Error) => `${e.name}: ${e.message}`);
    r.set({ jobs: n, maxTries: FAIL_TRIES, expectedSpacingMs: spacing.join('/'), worstLateMs: worstLate, worstEarlyMs: worstEarly, wrongAttemptCounts: badCount, spacingOutOfBounds: badSpacing, wrongDlqEntries: wrongDlq });
    r.check(badCount === 0, `${badCount} jobs did not run exactly attempts 1..${FAIL_TRIES}`);
    r.check(badSpacing === 0, `${badSpacing} retry gaps outside [delay, delay + ${SLACK_MS} ms] (worst late ${worstLate} ms, early ${worstEarly} ms)`);
    r.check(wrongDlq === 0, `${wrongDlq} DLQ entries missing or without reason max-tries, ${FAIL_TRIES} attempts and the last error`);
    r.check(first.startsWith('JobFailedError') && first.includes(`attempt ${FAIL_TRIES}`), `job.result() should reject with the last error, got ${first}`);
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
