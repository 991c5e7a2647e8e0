// Scenario 21: a global concurrency cap under crashes. Worker processes of concurrency 6 serve a
// queue capped at 5; one of them is killed -9 again and again (a new one started each time) while
// the jobs run. From the ledger (each job's start and end, a killed worker's jobs ending at its
// kill), an outside gauge of the jobs really running never reads more than the cap, reads the
// cap (it is used), and every job completes exactly once.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

const CAP = 5;

/** The most intervals [from, to) open at once. */
function maxOverlap(intervals: [number, number][]): number {
  const edges = intervals.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]);
  // An end before a start at the same ms: the ledger's ms resolution must not invent overlap.
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (open += d));
  return max;
}

export async function capGauge(size: Size): Promise<ScenarioResult> {
  const r = new Report('21 a global concurrency cap under kill -9', size);
  const n = size === 'short' ? 120 : 1500;
  const kills = size === 'short' ? 2 : 12;
  const idle = 1500;
  const stage = await Stage.open('capgauge');
  try {
    const spec = (tag: string) => ({ tag, concurrency: 6, idleTimeout: idle, cap: CAP });
    const procs = [stage.spawn(spec('w0')), stage.spawn(spec('w1')), stage.spawn(spec('w2'))];
    const keys = Array.from({ length: n }, (_, i) => `cap-${i}`);
    // An enqueue-only app that defines the capped queue (no ledger: it runs nothing).
    const client = stage.app({ cap: CAP, idleTimeout: idle });
    await client.cappedHold!.enqueueMany(keys.map((k, i) => [k, 40 + (i % 5) * 40] as [string, number]));
    const killedAt = new Map<string, number>();
    for (let k = 0; k < kills; k++) {
      await waitFor(() => readLedger(stage.ledger).some((l) => l.event === 'start' && procs.some((p) => p.spec.tag === l.worker && !killedAt.has(l.worker))),
        { timeout: 30_000, what: 'a live worker running jobs' });
      await new Promise((res) => setTimeout(res, 700));
      // The victim: a live worker that has started jobs.
      const started = new Set(readLedger(stage.ledger).filter((l) => l.event === 'start').map((l) => l.worker));
      const victim = procs.find((p) => !killedAt.has(p.spec.tag) && started.has(p.spec.tag)) ?? procs.find((p) => !killedAt.has(p.spec.tag))!;
      victim.kill('SIGKILL');
      killedAt.set(victim.spec.tag, realNow());
      await victim.exited;
      procs.push(stage.spawn(spec(`w${procs.length}`)));
    }
    await waitFor(() => new Set(readLedger(stage.ledger).filter((l) => l.event === 'done').map((l) => l.key)).size === n,
      { timeout: 120_000, what: 'every capped job done' });
    const lines = readLedger(stage.ledger);
    // Each start ends at its done on the same worker and attempt, else at its worker's kill.
    const open = new Map<string, number>();
    const intervals: [number, number][] = [];
    for (const l of lines) {
      const id = `${l.key}|${l.worker}|${l.attempt}`;
      if (l.event === 'start') open.set(id, l.at);
      else if (l.event === 'done' && open.has(id)) {
        intervals.push([open.get(id)!, l.at]);
        open.delete(id);
      }
    }
    let unended = 0;
    for (const [id, from] of open) {
      const worker = id.split('|')[1]!;
      const end = killedAt.get(worker);
      if (end === undefined) unended++;
      else intervals.push([from, end]);
    }
    const max = maxOverlap(intervals);
    const c = checkLedger(lines, keys);
    r.set({ jobs: n, cap: CAP, workers: procs.length, kills, maxRunning: max, interrupted: open.size, unended, lost: c.lost.length, duplicateCompletions: c.duplicates.length });
    r.check(max <= CAP, `the gauge read ${max} jobs running at once, over the cap of ${CAP}`);
    r.check(max === CAP, `the gauge never read the cap (${max} of ${CAP}): the cap went unused`);
    r.check(unended === 0, `${unended} starts on a live worker never ended`);
    r.check(c.lost.length === 0, `lost jobs: ${c.lost.join(', ')}`);
    r.check(c.duplicates.length === 0, `jobs completed twice: ${c.duplicates.join(', ')}`);
    for (const p of procs) if (!killedAt.has(p.spec.tag)) p.kill('SIGTERM');
  } catch (err) {
    r.fail(err);
  } finally {
    await stage.close(r.failures.length > 0);
  }
  return r.result();
}
