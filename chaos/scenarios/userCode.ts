// Scenario 17: user code that misbehaves. Worker processes run tasks that throw what is not an
// Error (a Symbol, null, undefined, a cyclic object, a Proxy whose traps throw), return what the
// serializer cannot encode (a BigInt, a cycle), never settle and ignore their signal, or block
// the whole process for 1.5 x the idle timeout; an execution middleware throws before and after
// the handler; event listeners throw, throw a Symbol and reject.
// Phase 1: one worker alone runs the blocking jobs, one per round among companions (ok, a
// thrown Symbol, a cyclic result, a failing middleware): every lease it holds goes idle past the
// idle timeout while it is blocked (watched from outside with XPENDING), and it must not reclaim
// (re-run) a job it still holds. Phase 2: a second worker joins and both run the whole mix
// without blocking jobs. (With a second worker up during a block, that worker reclaims the
// blocked one's idle leases and runs them again: documented at-least-once behaviour, see
// docs/delivery.md, so no phase blocks a worker while another is up.)
// What must hold: both workers stay alive and registered, with no unhandled rejection or uncaught
// exception; every job ends: 'ok' and 'block' completed once (one start, one done), every other
// one failed and in the DLQ with the right reason, attempts and an error text naming what was
// thrown, each failing handler run exactly maxTries times; 0 lost, nothing left waiting, active
// or delayed; the listeners' failures are logged and contained.

import type { Job } from '../../src/index.js';
import { CONSUMER_GROUP } from '../../src/redis/keys.js';
import type { DeadLetterEntry } from '../../src/broker/types.js';
import type { Misbehaviour } from '../lib/fixture.js';
import { byKey, readLedger } from '../lib/ledger.js';
import type { WorkerProc } from '../lib/procs.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

type Kind = Misbehaviour | 'mw_before' | 'mw_after';

/** What a failing kind's DLQ entry must say: its reason, attempts and (part of) its error text. */
const EXPECTED_DEAD: Partial<Record<Kind, { reason: string; attempts: number; error: string }>> = {
  symbol: { reason: 'max-tries', attempts: 2, error: 'Error: non-error thrown: Symbol(thrown symbol)' },
  null: { reason: 'max-tries', attempts: 2, error: 'Error: non-error thrown: null' },
  undefined: { reason: 'max-tries', attempts: 2, error: 'Error: non-error thrown: undefined' },
  cyclic: { reason: 'max-tries', attempts: 2, error: 'Error: non-error thrown: {"what":"cyclic","self":"[Circular]"}' },
  hostile: { reason: 'max-tries', attempts: 2, error: 'Error: non-error thrown: (unreadable value)' },
  bigint: { reason: 'max-tries', attempts: 2, error: "ResultEncodingError: the task's result could not be encoded: Do not know how to serialize a BigInt" },
  'cyclic-result': { reason: 'max-tries', attempts: 2, error: "ResultEncodingError: the task's result could not be encoded: Converting circular structure to JSON" },
  hang: { reason: 'timeout', attempts: 2, error: 'JobTimeoutError: job timed out after 400 ms' },
  mw_before: { reason: 'max-tries', attempts: 1, error: 'Error: middleware failed before the handler' },
  mw_after: { reason: 'max-tries', attempts: 1, error: 'TypeError: middleware failed after the handler' },
};

/** Ledger 'start' lines each kind must have: both attempts of a failing handler, none when the middleware fails first. */
const STARTS: Record<Kind, number> = {
  symbol: 2, null: 2, undefined: 2, cyclic: 2, hostile: 2, bigint: 2, 'cyclic-result': 2, hang: 2, block: 1, ok: 1, mw_before: 0, mw_after: 1,
};

/** 'done' lines: the unencodable results are returned (so written) on both attempts; a hang never returns. */
const DONES: Record<Kind, number> = {
  symbol: 0, null: 0, undefined: 0, cyclic: 0, hostile: 0, bigint: 2, 'cyclic-result': 2, hang: 0, block: 1, ok: 1, mw_before: 0, mw_after: 0,
};

const RESULTS: Partial<Record<Kind, string>> = { ok: 'fine', block: 'unblocked' };

const CRASH_MARKS = [/unhandled/i, /uncaught/i, /triggerUncaughtException/];

interface Enqueued {
  key: string;
  kind: Kind;
  job: Job<unknown>;
}

/** The stream every job here is enqueued on (default priority). */
const STREAM = `{${PREFIX}:work}:s:normal`;

const TERMINAL = new Set(['completed', 'failed', 'aborted', 'expired']);

export async function userCode(size: Size): Promise<ScenarioResult> {
  const r = new Report('17 user code that misbehaves', size);
  const short = size === 'short';
  const idle = short ? 1000 : 2000;
  const per = short ? 5 : 50;
  // A block job stops its whole process for 1.5 x idleTimeout: fewer in full.
  const nBlock = short ? 5 : 10;
  const nOk = short ? 20 : 500;
  const nMw = short ? 5 : 50;
  const stage = await Stage.open('usercode');
  return runScenario(stage, r, async (redis) => {
    const app = stage.client.app;
    const procs: WorkerProc[] = [];
    const exits: string[] = [];
    const startWorker = async (tag: string) => {
      const p = stage.spawn({ tag, idleTimeout: idle, concurrency: 10, misbehave: true });
      procs.push(p);
      void p.exited.then(({ code, signal }) => exits.push(`${tag} exited (code ${code}, signal ${signal})`));
      await waitFor(async () => (await app.workers()).some((w) => w.id === tag), { timeout: 20_000, what: `${tag} up` });
    };
    const jobs: Enqueued[] = [];
    const status = new Map<string, string>();

    /** Enqueues the jobs (in this order) and waits until every one has an outcome: completed, or failed (in the DLQ). */
    const run = async (items: { key: string; kind: Kind }[], what: string): Promise<void> => {
      const mine: Enqueued[] = [];
      const handlers = items.filter((it) => it.kind !== 'mw_before' && it.kind !== 'mw_after');
      (await stage.client.misbehave.enqueueMany(handlers.map((it) => [it.key, it.kind as Misbehaviour] as [string, Misbehaviour])))
        .forEach((job, i) => mine.push({ ...handlers[i]!, job }));
      for (const [kind, task] of [['mw_before', stage.client.mwBefore], ['mw_after', stage.client.mwAfter]] as const) {
        const mw = items.filter((it) => it.kind === kind);
        if (mw.length) (await task.enqueueMany(mw.map((it) => [it.key] as [string]))).forEach((job, i) => mine.push({ ...mw[i]!, job }));
      }
      jobs.push(...mine);
      const open = new Set(mine);
      await waitFor(async () => {
        const batch = [...open];
        const got = await Promise.all(batch.map((e) => e.job.status()));
        batch.forEach((e, i) => {
          status.set(e.key, got[i]!);
          if (TERMINAL.has(got[i]!)) open.delete(e);
        });
        return open.size === 0;
      }, { timeout: 20_000 + mine.length * 20, interval: 100, what });
    };

    // Phase 1, w1 alone: one block job per round, among companions whose leases also go idle
    // while it blocks. Few jobs at a time, so the worker has free slots and its recoverer may
    // look at its own idle leases after a block (a full worker does not look; whether it looks
    // before the lease keeper renews is timer order: the figure blockedLeaseWarnings).
    await startWorker('w1');
    // Watches the leases from outside: w1's entries idle past idleTimeout while it is blocked
    // (the case its recoverer must not take for orphans).
    const idleSeen = new Set<string>();
    let maxIdleMs = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const pending = await redis.xpending(STREAM, CONSUMER_GROUP, 'IDLE', idle, '-', '+', 100).catch(() => []) as [string, string, number, number][];
        for (const [entry, consumer, idleMs] of pending) {
          if (consumer !== 'w1') continue;
          idleSeen.add(entry);
          maxIdleMs = Math.max(maxIdleMs, Number(idleMs));
        }
        await sleep(100);
      }
    })();
    let started = Date.now();
    try {
      for (let i = 0; i < nBlock; i++) {
        const round = (['ok', 'symbol', 'block', 'cyclic-result', 'mw_after'] as const).map((kind) => ({ key: `p1-${kind}-${i}`, kind }));
        await run(round, `block round ${i} done`);
      }
    } finally {
      watching = false;
      await watcher;
    }
    const phase1Ms = Date.now() - started;

    // Phase 2, w1 and w2: the whole mix, every kind interleaved so each worker gets some of each.
    await startWorker('w2');
    const counts: Record<Kind, number> = Object.fromEntries((Object.keys(STARTS) as Kind[]).map((k) => [k, k === 'ok' ? nOk : k === 'block' ? 0 : k.startsWith('mw_') ? nMw : per])) as Record<Kind, number>;
    const mix: { key: string; kind: Kind }[] = [];
    for (let i = 0; i < Math.max(...Object.values(counts)); i++) {
      for (const kind of Object.keys(counts) as Kind[]) if (i < counts[kind]) mix.push({ key: `p2-${kind}-${i}`, kind });
    }
    started = Date.now();
    await run(mix, 'every phase 2 job completed or dead-lettered');
    const phase2Ms = Date.now() - started;
    // Let any late re-run show up before judging duplicates.
    await sleep(500);

    const dlq = app.deadLetters('work');
    const entries: DeadLetterEntry[] = [];
    for (let after: string | undefined; ;) {
      const page = await dlq.list({ limit: 200, after });
      entries.push(...page);
      if (page.length < 200) break;
      after = page[page.length - 1]!.dlqId;
    }
    const dead = new Map<string, DeadLetterEntry[]>();
    for (const e of entries) dead.set(e.id, [...(dead.get(e.id) ?? []), e]);
    const ledger = byKey(readLedger(stage.ledger));
    const workersNow = new Set((await app.workers()).map((w) => w.id));
    const qc = await app.inspector.counts(stage.client.work);
    const waiting = Object.values(qc.waiting).reduce((a, b) => a + b, 0);

    const problems = new Map<Kind, string[]>();
    const problem = (kind: Kind, text: string) => problems.set(kind, [...(problems.get(kind) ?? []), text]);
    let lost = 0;
    let wrongStatus = 0;
    let wrongDlq = 0;
    let wrongLedger = 0;
    let reruns = 0;
    for (const e of jobs) {
      const st = status.get(e.key);
      const want = EXPECTED_DEAD[e.kind];
      const lines = ledger.get(e.key) ?? [];
      const starts = lines.filter((l) => l.event === 'start');
      const dones = lines.filter((l) => l.event === 'done');
      const deadOnes = dead.get(e.job.id) ?? [];
      if (!TERMINAL.has(st ?? '')) lost++;
      if (st !== (want ? 'failed' : 'completed')) {
        wrongStatus++;
        problem(e.kind, `${e.key} status ${st}`);
      }
      if (want) {
        const d = deadOnes[0];
        if (deadOnes.length !== 1 || d!.reason !== want.reason || d!.attempts !== want.attempts || !d!.error.includes(want.error)) {
          wrongDlq++;
          problem(e.kind, deadOnes.length !== 1 ? `${e.key} has ${deadOnes.length} DLQ entries` : `${e.key} DLQ ${d!.reason}/${d!.attempts} '${d!.error}'`);
        }
      } else if (deadOnes.length) {
        wrongDlq++;
        problem(e.kind, `${e.key} dead-lettered: ${deadOnes[0]!.reason} '${deadOnes[0]!.error}'`);
      }
      const attempts = starts.map((l) => l.attempt).join(',');
      const wantAttempts = Array.from({ length: STARTS[e.kind] }, (_, i) => i + 1).join(',');
      if (attempts !== wantAttempts || dones.length !== DONES[e.kind]) {
        wrongLedger++;
        reruns += Math.max(0, starts.length - STARTS[e.kind]);
        problem(e.kind, `${e.key} ran ${starts.length}x (${starts.map((l) => `${l.worker}#${l.attempt}`).join(' ')}), done ${dones.length}x`);
      }
    }
    // The completed jobs' results are what their handlers returned.
    let wrongResults = 0;
    for (const e of jobs.filter((j) => RESULTS[j.kind] !== undefined && status.get(j.key) === 'completed')) {
      const value = await e.job.result({ timeout: 2000 }).catch((err: Error) => `${err.name}: ${err.message}`);
      if (value !== RESULTS[e.kind]) {
        wrongResults++;
        problem(e.kind, `${e.key} result ${JSON.stringify(value)}`);
      }
    }

    const lines = procs.flatMap((p) => p.output().split('\n'));
    const crashLines = lines.filter((l) => CRASH_MARKS.some((m) => m.test(l)));
    const listenerLines = lines.filter((l) => l.includes('an event listener threw'));
    const listenerBy = (event: string) => listenerLines.filter((l) => l.includes(`"event":"${event}"`)).length;
    const logged = (text: string) => lines.filter((l) => l.includes(text)).length;
    const kinds = Object.keys(STARTS) as Kind[];
    const p2Runs = [...ledger.values()].flat().filter((l) => l.event === 'start' && l.key.startsWith('p2-'));
    const expectedDead = jobs.filter((j) => EXPECTED_DEAD[j.kind]).length;
    r.set({
      jobs: jobs.length, perKind: kinds.map((k) => `${k} ${jobs.filter((j) => j.kind === k).length}`).join(', '),
      idleTimeoutMs: idle, workers: procs.length, lost, wrongStatus, reruns, wrongLedger, wrongResults,
      completed: jobs.filter((j) => status.get(j.key) === 'completed').length, dlqEntries: entries.length, expectedDlqEntries: expectedDead, wrongDlqEntries: wrongDlq,
      dlqReasons: [...new Set(entries.map((e) => e.reason))].map((reason) => `${reason} ${entries.filter((e) => e.reason === reason).length}`).join(', '),
      listenerErrorsLogged: listenerLines.length,
      listenerErrorsByEvent: ['job.started', 'job.completed', 'job.failed'].map((e) => `${e} ${listenerBy(e)}`).join(', '),
      leasesSeenIdlePastTimeout: idleSeen.size, maxLeaseIdleMs: maxIdleMs,
      blockedLeaseWarnings: logged('leases of running jobs went idle'), reclaimWarnings: logged('reclaimed jobs of an unresponsive worker'),
      phase2RunsByWorker: procs.map((p) => `${p.spec.tag} ${p2Runs.filter((l) => l.worker === p.spec.tag).length}`).join(', '),
      crashLines: crashLines.length, phase1Ms, phase2Ms,
      left: `waiting ${waiting}, active ${qc.active}, delayed ${qc.delayed}, dlq ${qc.dlq}`,
    });
    for (const p of procs) r.check(p.alive, `${p.spec.tag} is not alive`);
    r.check(exits.length === 0, `worker processes exited: ${exits.join('; ')}`);
    for (const p of procs) r.check(workersNow.has(p.spec.tag), `${p.spec.tag} is not among the registered workers (${[...workersNow].join(', ')})`);
    r.check(lost === 0, `${lost} jobs lost (no outcome)`);
    r.check(wrongStatus === 0, `${wrongStatus} jobs with the wrong final status`);
    r.check(wrongDlq === 0, `${wrongDlq} jobs without exactly the expected DLQ entry`);
    r.check(entries.length === expectedDead, `${entries.length} DLQ entries, want ${expectedDead}`);
    r.check(wrongLedger === 0, `${wrongLedger} jobs ran or completed a wrong number of times (${reruns} extra runs)`);
    r.check(wrongResults === 0, `${wrongResults} completed jobs with the wrong result`);
    for (const [kind, list] of problems) r.check(false, `${kind}: ${list.length} wrong, e.g. ${list.slice(0, 3).join('; ')}`);
    r.check(waiting === 0 && qc.active === 0 && qc.delayed === 0, `jobs stranded: waiting ${waiting}, active ${qc.active}, delayed ${qc.delayed}`);
    r.check(crashLines.length === 0, `worker output shows a crash: ${crashLines.slice(0, 3).join(' | ').slice(0, 600)}`);
    r.check(listenerLines.length > 0, 'no listener failure was logged (the throwing listeners did not run?)');
    for (const e of ['job.started', 'job.completed', 'job.failed']) r.check(listenerBy(e) > 0, `no failure of the ${e} listener was logged`);
    r.check(idleSeen.size > 0, `w1's leases never went idle past idleTimeout (${idle} ms) while it blocked: phase 1 tested nothing`);
    r.check(procs.every((p) => p2Runs.some((l) => l.worker === p.spec.tag)), 'in phase 2 both workers run jobs');
  });
}
