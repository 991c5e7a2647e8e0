// Scenario 21: a global concurrency cap under crashes. Worker processes of concurrency 6 serve a
// queue capped at 5, and a queue of fair groups capped at 2 jobs per group; one of them is killed
// -9 again and again (a new one started each time) while the jobs run. From the ledger (each
// job's start and end, a killed worker's jobs ending at its kill), an outside gauge of the jobs
// really running never reads more than the cap, nor more than a group's cap in any group, reads
// both caps (they are used), and every job completes exactly once.

import { checkLedger, readLedger } from '../lib/ledger.js';
import { Stage } from '../lib/stage.js';
import { realNow, Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

const CAP = 5;
const GROUP_CAP = 2;
const GROUPS = ['ga', 'gb', 'gc'];

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
    const spec = (tag: string) => ({ tag, concurrency: 6, idleTimeout: idle, cap: CAP, groupCap: GROUP_CAP });
    const procs = [stage.spawn(spec('w0')), stage.spawn(spec('w1')), stage.spawn(spec('w2'))];
    const capKeys = Array.from({ length: n }, (_, i) => `cap-${i}`);
    // Two thirds of the grouped jobs in ga, the rest spread over gb and gc.
    const groupKeys = Array.from({ length: Math.round(n / 2) }, (_, i) => `${GROUPS[i % 3 === 0 ? 0 : i % 3 === 1 ? 0 : 1 + (i % 2)]}-${i}`);
    const keys = [...capKeys, ...groupKeys];
    // An enqueue-only app that defines the capped and the grouped queues (no ledger: it runs nothing).
    const client = stage.app({ cap: CAP, groupCap: GROUP_CAP, idleTimeout: idle });
    await client.cappedHold!.enqueueMany(capKeys.map((k, i) => [k, 40 + (i % 5) * 40] as [string, number]));
    await client.groupedHold!.enqueueMany(groupKeys.map((k, i) => [k, 40 + (i % 5) * 40] as [string, number]));
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
    await waitFor(() => new Set(readLedger(stage.ledger).filter((l) => l.event === 'done').map((l) => l.key)).size === keys.length,
      { timeout: 180_000, what: 'every capped and grouped job done' });
    const lines = readLedger(stage.ledger);
    // Each start ends at its done on the same worker and attempt, else at its worker's kill.
    const open = new Map<string, number>();
    const intervals: [string, number, number][] = [];
    for (const l of lines) {
      const id = `${l.key}|${l.worker}|${l.attempt}`;
      if (l.event === 'start') open.set(id, l.at);
      else if (l.event === 'done' && open.has(id)) {
        intervals.push([l.key, open.get(id)!, l.at]);
        open.delete(id);
      }
    }
    let unended = 0;
    for (const [id, from] of open) {
      const [key, worker] = id.split('|') as [string, string];
      const end = killedAt.get(worker);
      if (end === undefined) unended++;
      else intervals.push([key, from, end]);
    }
    const of = (prefix: string) => intervals.filter(([key]) => key.startsWith(`${prefix}-`)).map(([, a, b]) => [a, b] as [number, number]);
    const max = maxOverlap(of('cap'));
    const perGroup = GROUPS.map((g) => maxOverlap(of(g)));
    const c = checkLedger(lines, keys);
    r.set({
      jobs: keys.length, cap: CAP, groupCap: GROUP_CAP, workers: procs.length, kills, maxRunning: max, maxRunningPerGroup: perGroup.join('/'),
      interrupted: open.size, unended, lost: c.lost.length, duplicateCompletions: c.duplicates.length,
    });
    r.check(max <= CAP, `the gauge read ${max} jobs running at once, over the cap of ${CAP}`);
    r.check(max === CAP, `the gauge never read the cap (${max} of ${CAP}): the cap went unused`);
    perGroup.forEach((m, i) => r.check(m <= GROUP_CAP, `the gauge read ${m} jobs of group ${GROUPS[i]} running at once, over its cap of ${GROUP_CAP}`));
    r.check(perGroup[0] === GROUP_CAP, `the gauge never read group ga's cap (${perGroup[0]} of ${GROUP_CAP}): it went unused`);
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
