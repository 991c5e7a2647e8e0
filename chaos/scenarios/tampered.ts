// Scenario 11: tampered records written straight to the stream (bad JSON, bad or missing
// signature, missing fields, unknown task) go to the DLQ without running; the worker keeps
// running the good jobs around them.

import { sign } from '../../src/envelope.js';
import { checkLedger, readLedger } from '../lib/ledger.js';
import { PREFIX, runScenario, Stage } from '../lib/stage.js';
import { Report, sleep, waitFor, type ScenarioResult, type Size } from '../lib/util.js';

const SECRET = 'chaos-secret';

/** Stream fields of each kind of tampered record, and the DLQ reason it must get. */
function tamperedRecords(i: number): { kind: string; fields: string[]; reason: string }[] {
  const args = (kind: string) => JSON.stringify([`tampered-${kind}-${i}`, 0]);
  const signed = (task: string, data: string, opts = '') => `|${task}||${sign(SECRET, task, opts, data)}|${opts}`;
  return [
    { kind: 'bad-json', fields: ['h', signed('hold', '["tampered-bad-json'), 'd', '["tampered-bad-json'], reason: 'undecodable' },
    { kind: 'not-a-list', fields: ['h', signed('hold', '{"key":1}'), 'd', '{"key":1}'], reason: 'undecodable' },
    { kind: 'bad-sig', fields: ['h', `|hold||${'A'.repeat(43)}|`, 'd', args('bad-sig')], reason: 'bad-signature' },
    { kind: 'unsigned', fields: ['h', '|hold|||', 'd', args('unsigned')], reason: 'bad-signature' },
    { kind: 're-signed-args', fields: ['h', signed('hold', args('orig')), 'd', args('re-signed-args')], reason: 'bad-signature' },
    { kind: 'no-data', fields: ['h', signed('hold', '')], reason: 'malformed' },
    { kind: 'no-header', fields: ['d', args('no-header')], reason: 'malformed' },
    { kind: 'short-header', fields: ['h', 'hold|x', 'd', args('short-header')], reason: 'malformed' },
    { kind: 'bad-opts', fields: ['h', '|hold||x|{oops', 'd', args('bad-opts')], reason: 'malformed' },
    { kind: 'bad-attempt', fields: ['h', `|hold|-1|${sign(SECRET, 'hold', '', args('bad-attempt'))}|`, 'd', args('bad-attempt')], reason: 'malformed' },
    { kind: 'unknown-task', fields: ['h', signed('nope', args('unknown-task')), 'd', args('unknown-task')], reason: 'unknown-task' },
  ];
}

export async function tampered(size: Size): Promise<ScenarioResult> {
  const r = new Report('11 tampered records', size);
  const rounds = size === 'short' ? 1 : 100;
  const goodPerRound = size === 'short' ? 20 : 50;
  const stage = await Stage.open('tamper');
  return runScenario(stage, r, async (redis) => {
    const client = stage.app({ signingSecret: SECRET });
    const { worker } = await stage.worker({ tag: 'w1', signingSecret: SECRET });
    const stream = `{${PREFIX}:work}:s:normal`;
    const want = new Map<string, string>();
    const goodKeys: string[] = [];
    for (let i = 0; i < rounds; i++) {
      for (const t of tamperedRecords(i)) want.set(String(await redis.xadd(stream, '*', ...t.fields)), `${t.kind}:${t.reason}`);
      // enqueue.lua numbers entries itself and assumes it is the stream's only writer: an
      // entry added by someone else in the same millisecond would make its XADD fail.
      await sleep(2);
      const keys = Array.from({ length: goodPerRound }, (_, j) => `good-${i}-${j}`);
      goodKeys.push(...keys);
      await client.hold.enqueueMany(keys.map((k) => [k, 0] as [string, number]));
    }
    const dlq = client.app.deadLetters('work');
    await waitFor(async () => (await dlq.count()) >= want.size && checkLedger(readLedger(stage.ledger), goodKeys).lost.length === 0,
      { timeout: 20_000 + rounds * 200, what: 'tampered jobs dead-lettered and good jobs done' }).catch(() => undefined);
    const entries = await dlq.list({ limit: want.size + 100 });
    // Records whose header is unreadable are listed under whatever id their broken header
    // names, so they are matched by reason counts; the rest by id too.
    const tally = (reasons: string[]) => reasons.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
    const wantReasons = tally([...want.values()].map((v) => v.split(':')[1]!));
    const gotReasons = tally(entries.map((e) => e.reason));
    const wrong = entries.filter((e) => want.has(e.id) && !want.get(e.id)!.endsWith(`:${e.reason}`));
    const reasonMismatch = [...new Set([...wantReasons.keys(), ...gotReasons.keys()])]
      .filter((k) => wantReasons.get(k) !== gotReasons.get(k)).map((k) => `${k} want ${wantReasons.get(k) ?? 0} got ${gotReasons.get(k) ?? 0}`);
    const missing = Math.max(0, want.size - entries.length);
    const c = checkLedger(readLedger(stage.ledger), goodKeys);
    const executed = c.unexpected;
    const after = await client.hold.enqueue('after-tampering', 0);
    const stillRunning = await after.result({ timeout: 5000 }).then((v) => v === 'after-tampering', () => false);
    r.set({ tampered: want.size, goodJobs: goodKeys.length, deadLettered: entries.length, wrongReason: wrong.length, missingFromDlq: missing, tamperedExecuted: executed.length, goodLost: c.lost.length, goodDuplicates: c.duplicates.length });
    r.check(missing === 0 && reasonMismatch.length === 0, `DLQ reasons differ: ${reasonMismatch.join('; ')}`);
    r.check(wrong.length === 0, `DLQ entries with a wrong reason: ${wrong.slice(0, 5).map((e) => `${want.get(e.id)} got ${e.reason}`).join(', ')}`);
    r.check(executed.length === 0, `tampered records executed: ${executed.slice(0, 5).join(', ')}`);
    r.check(c.lost.length === 0 && c.duplicates.length === 0, `good jobs lost ${c.lost.length}, duplicated ${c.duplicates.length}`);
    r.check(stillRunning && worker.status === 'running', 'the worker keeps running jobs after the tampered records');
  });
}
