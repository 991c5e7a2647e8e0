// Scenario 22: exactly-once fan-in. A chord of N children (a short random sleep each, giving
// its index + 1) and a callback that sums them runs on worker processes that are killed -9 at
// random while the children run (a new one started each time), and frozen (SIGSTOP) past the
// idle timeout, so the others reclaim the children they hold and run them again while the
// frozen one, thawed (SIGCONT), finishes its own runs too: children delivered twice, run twice
// and settled twice, concurrently. By the ledger, the callback runs exactly once per round,
// with all N values; the workflow completes with the right sum; every child's job completes;
// no workflow is left running. Children that ran (and that completed) more than once are
// counted: in the full run they must be there, or the scenario proved nothing.
//
// The chaos stops before the callback can exist (while a tenth of the children is still
// unsettled): a callback killed mid-run may rightly run again (jobs run at least once); what
// is proven here is that the children's settling fans in to one callback, however often they run.

import type { Redis } from 'ioredis';
import { chord, group } from '../../src/index.js';
import { byKey, readLedger, type LedgerLine } from '../lib/ledger.js';
import type { WorkerProc } from '../lib/procs.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

const IDLE = 1500;
/**
 * A freeze lasts at most this: past the idle timeout, so the others reclaim the frozen worker's
 * children by their expired leases, and far from the janitor's stale mark (twice the heartbeat
 * TTL of 3 s), so they are not handed back as a dead worker's.
 */
const FREEZE_MAX = 2800;

interface RoundFigures {
  seconds: number;
  kills: number;
  freezes: number;
  runTwice: number;
  doneTwice: number;
  aborted: number;
  callbackRuns: number;
}

export async function fanIn(size: Size): Promise<ScenarioResult> {
  const r = new Report('22 exactly-once fan-in under kill -9 and duplicate deliveries', size);
  const full = size === 'full';
  const n = full ? 10_000 : 300;
  const rounds = full ? 3 : 1;
  const stage = await Stage.open('fanin');
  // maxRecoveries 10: a child reclaimed off several killed or frozen workers in a row is not
  // taken for poison (dead-lettered by the reclaim, it would fail its workflow, rightly, under
  // the policy 'fail': not what this scenario measures).
  const spec = (tag: string) => ({ tag, concurrency: full ? 16 : 10, idleTimeout: IDLE, fanIn: true, maxRecoveries: 10 });
  const procs: WorkerProc[] = [];
  return runScenario(stage, r, async (redis) => {
    for (let i = 0; i < 3; i++) procs.push(stage.spawn(spec(`w${i}`)));
    const client = stage.app({ fanIn: true, idleTimeout: IDLE });
    await waitFor(async () => (await client.app.workers()).length >= procs.length, { timeout: 30_000, what: 'the workers up' });
    const total: RoundFigures[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = Date.now();
      const id = `fanin-r${round}`;
      const keys = Array.from({ length: n }, (_, i) => `fan-r${round}-${i}`);
      const sumKey = `sum-r${round}`;
      // Children of 10 to 60 ms (full) or 100 to 400 ms (short: fewer of them, running long enough to be hit twice).
      const ms = () => (full ? 10 + Math.floor(Math.random() * 50) : 100 + Math.floor(Math.random() * 300));
      const flow = chord(group(keys.map((k, i) => client.faninChild!.s(k, i + 1, ms()))), client.faninSum!.s(sumKey));
      const wf = await flow.start({ id });
      const chaos = await stir(stage, procs, spec, () => wf.status(), n, full ? 14 : 2, `fan-r${round}-`);
      const sum = await wf.result(full ? '300s' : '60s');
      const status = await wf.status();
      // Thawed workers may still finish stale children: let any late duplicate show up before judging.
      await sleep(IDLE);
      const lines = readLedger(stage.ledger).filter((l) => l.key.startsWith(`fan-r${round}-`) || l.key === sumKey);
      const f = { ...chaos, ...tally(lines, keys, sumKey), seconds: Math.round((Date.now() - started) / 100) / 10 };
      total.push(f);
      const want = (n * (n + 1)) / 2;
      const cb = lines.filter((l) => l.key === sumKey);
      r.check(f.callbackRuns === 1, `round ${round}: the callback ran ${f.callbackRuns} times (${cb.map((l) => `${l.event} on ${l.worker}`).join(', ')})`);
      r.check(cb.every((l) => l.extra?.split(' ')[0] === `n=${n}`), `round ${round}: the callback got other than ${n} values: ${cb.map((l) => l.extra).join('; ')}`);
      r.check(sum === want, `round ${round}: the workflow gave ${String(sum)}, not ${want}`);
      r.check(status.state === 'completed', `round ${round}: the workflow is ${status.state} (${status.reason})`);
      r.check(status.stages[0]?.settled === n && status.stages[1]?.settled === 1, `round ${round}: settled ${status.stages.map((s) => `${s.settled}/${s.size}`).join(', ')}`);
      const per = byKey(lines);
      const notDone = keys.filter((k) => !per.get(k)?.some((l) => l.event === 'done'));
      r.check(notDone.length === 0, `round ${round}: children with no completed run in the ledger: ${notDone.slice(0, 10).join(', ')}`);
      const statuses = await jobStatuses(client.app, id, n);
      const notCompleted = statuses.map((s, i) => [i, s] as const).filter(([, s]) => s !== 'completed');
      r.check(notCompleted.length === 0, `round ${round}: ${notCompleted.length} children's jobs not completed: ${notCompleted.slice(0, 10).map(([i, s]) => `${i} ${s}`).join(', ')}`);
      r.check(await client.app.job('fanin', `${id}:1:0`).status() === 'completed', `round ${round}: the callback's job is not completed`);
    }
    const counts = await client.app.inspector.counts(client.fanin!);
    const states = await workflowStates(redis);
    const open = Object.entries(states).filter(([, s]) => s !== 'completed');
    const sumOf = (k: keyof RoundFigures) => total.reduce((a, f) => a + f[k], 0);
    r.set({
      rounds, children: n * rounds, workers: procs.length, kills: sumOf('kills'), freezes: sumOf('freezes'),
      childrenRunTwice: sumOf('runTwice'), childrenCompletedTwice: sumOf('doneTwice'), childRunsAborted: sumOf('aborted'),
      callbackRuns: sumOf('callbackRuns'), workflows: Object.keys(states).length, secondsPerRound: total.map((f) => f.seconds).join(' / '),
    });
    r.check(open.length === 0, `workflows left non-terminal or not completed: ${open.map(([id, s]) => `${id} ${s}`).join(', ')}`);
    r.check(Object.keys(states).length === rounds, `${Object.keys(states).length} workflow records, not ${rounds}`);
    r.check(counts.active === 0 && counts.dlq === 0, `'fanin' left in flight or dead-lettered (active ${counts.active}, dlq ${counts.dlq})`);
    r.check(sumOf('kills') > 0, 'no worker was killed');
    r.check(sumOf('freezes') > 0, 'no worker was frozen');
    // Not vacuous: children really were delivered and run twice (a killed worker's always are)...
    r.check(sumOf('runTwice') > 0, 'no child ran twice: no second delivery happened');
    // ... and, in the full run, run to completion twice (a frozen worker's, reclaimed meanwhile).
    if (full) r.check(sumOf('doneTwice') > 0, 'no child completed twice: no concurrent duplicate run was forced');
    for (const p of procs) p.kill('SIGTERM');
  });
}

/**
 * Kills -9 and freezes random workers running children, alternately, `actions` times at most:
 * spread over the round until three quarters of the children settled, the last one a freeze
 * once they did (the others, their backlog drained, have room to reclaim the frozen one's
 * children). None once a tenth of the children is left (see above). A new worker replaces
 * each killed one; each frozen one is thawed before the next action; two stay alive.
 */
async function stir(
  stage: Stage, procs: WorkerProc[], spec: (tag: string) => Parameters<Stage['spawn']>[0],
  status: () => Promise<{ stage: number; stages: { settled: number }[] }>, n: number, actions: number, round: string,
): Promise<{ kills: number; freezes: number }> {
  let kills = 0;
  let freezes = 0;
  const settled = async () => {
    const s = await status();
    return s.stage === 0 ? (s.stages[0]?.settled ?? 0) : n;
  };
  const act = async (kind: 'kill' | 'freeze'): Promise<boolean> => {
    if ((await settled()) >= n * 0.9) return false;
    const running = runningOn(readLedger(stage.ledger), round);
    const live = procs.filter((p) => p.alive);
    if (live.length < 2) return false;
    const busy = live.filter((p) => (running.get(p.spec.tag)?.size ?? 0) > 0);
    const pool = busy.length ? busy : live;
    const victim = pool[Math.floor(Math.random() * pool.length)]!;
    if (kind === 'kill') {
      victim.kill('SIGKILL');
      await victim.exited;
      kills++;
      procs.push(stage.spawn(spec(`w${procs.length}`)));
    } else {
      victim.kill('SIGSTOP');
      freezes++;
      await thawWhenReclaimed(stage, victim.spec.tag, running.get(victim.spec.tag) ?? new Set());
      victim.kill('SIGCONT');
    }
    return true;
  };
  await waitFor(() => readLedger(stage.ledger).some((l) => l.event === 'start' && l.key.startsWith(round)), { timeout: 30_000, interval: 50, what: 'children running' });
  for (let k = 0; k < actions - 1; k++) {
    await sleep(100 + Math.floor(Math.random() * 400));
    if ((await settled()) >= n * 0.75 || !(await act(k % 2 === 0 ? 'kill' : 'freeze'))) break;
  }
  await waitFor(async () => (await settled()) >= n * 0.75, { timeout: 120_000, interval: 50, what: 'three quarters of the children settled' });
  await act('freeze');
  return { kills, freezes };
}

/** Each worker's children running now by the ledger: a start of this round not ended there (done or abort) since. */
function runningOn(lines: LedgerLine[], round: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const l of lines) {
    if (!l.key.startsWith(round)) continue;
    let set = out.get(l.worker);
    if (!set) out.set(l.worker, (set = new Set()));
    if (l.event === 'start') set.add(l.key);
    else set.delete(l.key);
  }
  return out;
}

/**
 * Waits, the worker frozen, until another worker has started one of the children it was
 * running (a second delivery of a child still running here), then a little more for others;
 * FREEZE_MAX at most.
 */
async function thawWhenReclaimed(stage: Stage, tag: string, held: Set<string>): Promise<void> {
  const until = Date.now() + FREEZE_MAX;
  const from = readLedger(stage.ledger).length;
  while (Date.now() < until) {
    await sleep(100);
    if (readLedger(stage.ledger).slice(from).some((l) => l.event === 'start' && l.worker !== tag && held.has(l.key))) {
      await sleep(Math.min(400, Math.max(0, until - Date.now())));
      return;
    }
  }
}

/** Children that ran more than once, completed more than once, were aborted (a lost lease); the callback's runs. */
function tally(lines: LedgerLine[], keys: string[], sumKey: string): Omit<RoundFigures, 'seconds' | 'kills' | 'freezes'> {
  const per = byKey(lines);
  let runTwice = 0;
  let doneTwice = 0;
  let aborted = 0;
  for (const k of keys) {
    const ls = per.get(k) ?? [];
    if (ls.filter((l) => l.event === 'start').length > 1) runTwice++;
    if (ls.filter((l) => l.event === 'done').length > 1) doneTwice++;
    aborted += ls.filter((l) => l.event === 'abort').length;
  }
  const callbackRuns = (per.get(sumKey) ?? []).filter((l) => l.event === 'start').length;
  return { runTwice, doneTwice, aborted, callbackRuns };
}

/** The status of every child's job (ids "<workflow>:0:<node>"). */
async function jobStatuses(app: Stage['client']['app'], id: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 500) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => app.job('fanin', `${id}:0:${i + j}`).status()))));
  }
  return out;
}

/** Every workflow record on the stage's Redis, by id, with its state. */
async function workflowStates(redis: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${PREFIX}:wf:*}`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) out[key.slice(`{${PREFIX}:wf:`.length, -1)] = (await redis.hget(key, 'state')) ?? 'none';
  } while (cursor !== '0');
  return out;
}
