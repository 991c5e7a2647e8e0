// The workflow store (Broker.workflows): a node settles once however often it is reported; the
// stage it completes starts the next exactly once, answering the next stage's nodes and what
// they receive, and answers it again to a node of the stage before reported after the advance
// while the new stage is not marked started (its first reporter crashed in between); a failed
// node under 'fail' fails the workflow until that node completes (a replay); 'continue' and
// 'ignore' settle it with its error or without a value; abort ends a running or failed
// workflow once, and no stage starts after it. Every call touches the workflow's slot alone.
import { expect, it } from 'vitest';
import type { StoredStage, StepAnswer, WorkflowStore } from '../../src/broker/workflows.js';
import { encodeHeader } from '../../src/envelope.js';
import type { EnqueueItem } from '../../src/broker/types.js';
import { ABORTED, completion, conformance, deadLetter, item, NORMAL, Q, reclaimOpts, record } from './kit.js';

/** A workflow node's job: its header says its place. */
function node(id: string, place: [string, number, number]): EnqueueItem {
  return { level: NORMAL, id, task: 't', header: encodeHeader(id, 't', { w: place }, '[]'), data: '[]' };
}

function stage(size: number, opts: Partial<StoredStage> = {}): StoredStage {
  return { size, policy: 'fail', mode: size === 1 ? 'one' : 'all', nodes: `{"n":${size}}`, ...opts };
}

/** What a start answer's stage receives: the records of the stage before, as strings (a binary store answers Buffers); [] for no start. */
async function inputs(store: WorkflowStore, id: string, a: StepAnswer, size: number): Promise<(string | null)[]> {
  if (a.kind !== 'start') return [];
  return (await store.results(id, a.stage - 1, 0, size)).map((v) => (v === null ? null : String(v)));
}

conformance('workflow records', (s) => {
  it('settles a node once however often it is reported, and starts the next stage once, with the values in node order', async () => {
    const wf = s().broker.workflows;
    expect(await wf.create('w1', [stage(3), stage(1), stage(1)], 60)).toBe(true);
    expect(await wf.create('w1', [stage(9)], 60)).toBe(false);
    await wf.started('w1', 0);
    expect((await wf.settle('w1', 0, 2, 'ok', '"c"')).kind).toBe('none');
    expect((await wf.settle('w1', 0, 2, 'ok', '"again"')).kind).toBe('none');
    expect((await wf.settle('w1', 0, 0, 'ok', '"a"')).kind).toBe('none');
    let read = await wf.read('w1');
    expect(read).toMatchObject({ state: 'running', stage: 0, started: 0, pending: 1, settled: [2, 0, 0] });
    const start = await wf.settle('w1', 0, 1, 'ok', '"b"');
    expect(start).toMatchObject({ kind: 'start', stage: 1, nodes: '{"n":1}' });
    expect(await inputs(wf, 'w1', start, 3)).toEqual(['v"a"', 'v"b"', 'v"c"']);
    // The advance is not marked started yet: a node of stage 0 run again is answered the start too.
    expect(await inputs(wf, 'w1', await wf.settle('w1', 0, 1, 'ok', '"b"'), 3)).toEqual(['v"a"', 'v"b"', 'v"c"']);
    await wf.started('w1', 1);
    expect((await wf.settle('w1', 0, 1, 'ok', '"b"')).kind).toBe('none');
    read = await wf.read('w1');
    expect(read).toMatchObject({ stage: 1, started: 1, pending: 1, settled: [3, 0, 0] });
    const next = await wf.settle('w1', 1, 0, 'ok', '"merged"');
    expect(await inputs(wf, 'w1', next, 1)).toEqual(['v"merged"']);
    await wf.started('w1', 2);
    expect((await wf.settle('w1', 2, 0, 'ok', '"done"')).kind).toBe('completed');
    expect((await wf.settle('w1', 2, 0, 'ok', '"done"')).kind).toBe('completed');
    read = await wf.read('w1');
    expect(read).toMatchObject({ state: 'completed', stage: 2, settled: [3, 1, 1] });
    expect(read!.endedAt).toBeGreaterThan(0);
    expect((await wf.results('w1', 0, 1, 5)).map((v) => (v === null ? null : String(v)))).toEqual(['v"b"', 'v"c"', null, null, null]);
    expect(await wf.read('nope')).toBeNull();
    expect((await wf.settle('nope', 0, 0, 'ok', '1')).kind).toBe('gone');
  });

  it('a failed node fails its workflow until it completes (a replay); the stage then goes on', async () => {
    const wf = s().broker.workflows;
    await wf.create('w2', [stage(3), stage(1)], 60);
    await wf.started('w2', 0);
    expect((await wf.settle('w2', 0, 1, 'fail', '{"name":"Error","message":"boom"}', 'node w2:0:1 dead-lettered (max-tries): Error: boom')).kind).toBe('failed');
    expect((await wf.settle('w2', 0, 2, 'fail', '{"name":"Error","message":"bang"}', 'node w2:0:2 failed: Error: bang')).kind).toBe('failed');
    expect((await wf.settle('w2', 0, 0, 'ok', '1')).kind).toBe('none');
    let read = await wf.read('w2');
    expect(read).toMatchObject({ state: 'failed', reason: 'node w2:0:1 dead-lettered (max-tries): Error: boom', pending: 2, settled: [1, 0] });
    expect(Object.keys(read!.failed).sort()).toEqual(['1', '2']);
    expect((await wf.settle('w2', 0, 1, 'ok', '2')).kind).toBe('none');
    read = await wf.read('w2');
    expect(read).toMatchObject({ state: 'failed', reason: 'node w2:0:2 failed: Error: bang' });
    const start = await wf.settle('w2', 0, 2, 'ok', '3');
    expect(await inputs(wf, 'w2', start, 3)).toEqual(['v1', 'v2', 'v3']);
    read = await wf.read('w2');
    expect(read).toMatchObject({ state: 'running', reason: '', stage: 1, failed: {} });
    expect(read!.endedAt).toBeUndefined();
  });

  it("'continue' settles a failed node with its error, 'ignore' without a value", async () => {
    const wf = s().broker.workflows;
    await wf.create('w3', [stage(2, { policy: 'continue' }), stage(2, { policy: 'ignore' }), stage(1)], 60);
    await wf.started('w3', 0);
    await wf.settle('w3', 0, 0, 'fail', '{"name":"E","message":"m"}', 'x');
    const start = await wf.settle('w3', 0, 1, 'ok', '5');
    expect(await inputs(wf, 'w3', start, 2)).toEqual(['e{"name":"E","message":"m"}', 'v5']);
    await wf.started('w3', 1);
    await wf.settle('w3', 1, 1, 'fail', '{}', 'y');
    expect(await inputs(wf, 'w3', await wf.settle('w3', 1, 0, 'ok', '6'), 2)).toEqual(['v6', 'x']);
  });

  it('a paged stage passes nothing on; abort ends a workflow once and no stage starts after it', async () => {
    const wf = s().broker.workflows;
    await wf.create('w4', [stage(2, { mode: 'paged' }), stage(1)], 60);
    await wf.started('w4', 0);
    await wf.settle('w4', 0, 0, 'ok', '1');
    const start = await wf.settle('w4', 0, 1, 'ok', '2');
    expect(start).toEqual({ kind: 'start', stage: 1, nodes: '{"n":1}' });
    await wf.started('w4', 1);
    expect(await wf.abort('w4', 'operator')).toEqual({ stage: 1, size: 1 });
    expect(await wf.abort('w4', 'again')).toBeNull();
    expect((await wf.settle('w4', 1, 0, 'ok', '3')).kind).toBe('aborted');
    expect(await wf.read('w4')).toMatchObject({ state: 'aborted', reason: 'operator' });

    await wf.create('w5', [stage(2), stage(1)], 60);
    await wf.started('w5', 0);
    await wf.settle('w5', 0, 0, 'fail', '{}', 'failed');
    expect(await wf.abort('w5', 'give up')).toEqual({ stage: 0, size: 2 });
    expect((await wf.settle('w5', 0, 0, 'ok', '1')).kind).toBe('aborted');
    expect(await wf.abort('nope', 'x')).toBeNull();
  });

  it("notes a node's job the broker ends itself (aborted while waiting, poison), with its place, for a recoverer to settle", async () => {
    const { broker } = s();
    await broker.enqueue(Q, [node('wf:0:0', ['wf', 0, 0]), node('wf:0:1', ['wf', 0, 1]), node('plain', ['x', 0, 0])]);
    // Not a node (no place): ended without a note.
    await broker.enqueue(Q, [{ level: NORMAL, id: 'other', task: 't', header: encodeHeader('other', 't', undefined, '[]'), data: '[]' }]);
    expect(await broker.abort(Q, 'wf:0:1', ABORTED.record, 3600)).toBe('aborted');
    expect(await broker.abort(Q, 'other', ABORTED.record, 3600)).toBe('aborted');
    const got = await broker.fetch(Q, 'dead-worker', 1);
    expect(got).toHaveLength(1);
    await s().elapse(30);
    // Its worker died more often than it may: dead-lettered as poison by the reclaim, noted too.
    const out = await broker.reclaim(Q, 'w1', reclaimOpts({ minIdleMs: 10, maxRecoveries: 0 }));
    expect(out.dead).toEqual(['wf:0:0']);
    expect(out.notes).toBe(2);
    const notes = await broker.nodeNotes(Q, 10);
    expect(notes.map((n) => n.id).sort()).toEqual(['wf:0:0', 'wf:0:1']);
    const meta = (id: string) => JSON.parse(String(notes.find((n) => n.id === id)!.meta).replace(/^[a-z]+\|/, '')) as { w: unknown; reason: string };
    expect(meta('wf:0:0')).toMatchObject({ w: ['wf', 0, 0], reason: 'poison' });
    expect(meta('wf:0:1')).toMatchObject({ w: ['wf', 0, 1], reason: 'aborted' });
    expect(String(notes.find((n) => n.id === 'wf:0:1')!.meta).startsWith('aborted|')).toBe(true);
    // A note written again since it was read stays.
    await broker.abort(Q, 'wf:0:1', ABORTED.record, 3600);
    await broker.dropNodeNotes(Q, [...notes.filter((n) => n.id === 'wf:0:0'), { id: 'wf:0:1', meta: 'aborted|{"changed":1}' }]);
    expect((await broker.nodeNotes(Q, 10)).map((n) => n.id)).toEqual(['wf:0:1']);
    await broker.dropNodeNotes(Q, notes.filter((n) => n.id === 'wf:0:1'));
    expect(await broker.nodeNotes(Q, 10)).toEqual([]);
    expect((await broker.reclaim(Q, 'w1', reclaimOpts())).notes).toBeUndefined();
  });

  it('tells who waits that a workflow ended: completed, failed or aborted', async () => {
    const wf = s().broker.workflows;
    const heard: string[] = [];
    const offs = await Promise.all(['e1', 'e2', 'e3'].map((id) => wf.onEnd(id, () => heard.push(id))));
    try {
      for (const id of ['e1', 'e2', 'e3']) {
        await wf.create(id, [stage(1)], 60);
        await wf.started(id, 0);
      }
      await wf.settle('e1', 0, 0, 'ok', '1');
      await wf.settle('e2', 0, 0, 'fail', '{}', 'failed');
      await wf.abort('e3', 'stop');
      for (let i = 0; i < 100 && new Set(heard).size < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect([...new Set(heard)].sort()).toEqual(['e1', 'e2', 'e3']);
    } finally {
      for (const off of offs) await off();
    }
  });

  it('watches a job for after(...): a completed one answers its record, the ending of any other is noted with the places waiting', async () => {
    const { broker } = s();
    await broker.enqueue(Q, [item({ id: 'done' }), item({ id: 'runs' }), item({ id: 'fails' })]);
    const [d, r, f] = await broker.fetch(Q, 'w1', 3);
    await broker.complete(Q, 'w1', [completion(d!, 'done')]);
    expect(String(await broker.watchJob(Q, 'done', ['a', 0, 0]))).toBe(record());
    expect(await broker.watchJob(Q, 'runs', ['a', 0, 1])).toBeNull();
    expect(await broker.watchJob(Q, 'runs', ['b', 0, 0])).toBeNull();
    expect(await broker.watchJob(Q, 'runs', ['b', 0, 0])).toBeNull(); // once per place
    expect(await broker.watchJob(Q, 'fails', ['a', 0, 2])).toBeNull();
    expect(await broker.complete(Q, 'w1', [completion(r!, 'runs')])).toEqual([true]);
    expect(await broker.deadLetter(Q, 'w1', deadLetter(f!, 'fails'))).toBe(true);
    const notes = await broker.nodeNotes(Q, 10);
    const note = (id: string) => String(notes.find((n) => n.id === id)?.meta);
    expect(notes.map((n) => n.id).sort()).toEqual(['@fails', '@runs']);
    expect(note('@runs')).toBe(`[["a",0,1],["b",0,0]]\n${record()}`);
    expect(note('@fails').startsWith('[["a",0,2]]\nfailed|')).toBe(true);
    // A failed job stays watched (a replay ends it again); a completed one no more; nor one done before.
    await broker.dropNodeNotes(Q, notes);
    expect(String(await broker.watchJob(Q, 'fails', ['c', 0, 0])).startsWith('failed|')).toBe(true);
    const [replayed] = await broker.enqueue(Q, [item({ id: 'runs2' })]);
    expect(replayed!.created).toBe(true);
    expect(await broker.nodeNotes(Q, 10)).toEqual([]);
  });
});
