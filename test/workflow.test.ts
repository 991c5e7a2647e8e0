// Workflows with real workers on the test Redis: a chain passes each step's result on; a chord
// runs its callback once with the group's results in order; a failed node fails its workflow
// with its error, and replaying it from the dead-letter queue resumes the workflow; the
// policies 'continue' and 'ignore'; status by id names what a workflow waits on; abort ends it
// and its running nodes; a paged group's callback reads its results in pages.
import { afterEach, describe, expect, it } from 'vitest';
import { after, chain, chord, group, WorkflowAbortedError, WorkflowFailedError, type GroupResults, type JobRef, type Settled } from '../src/index.js';
import { testApps, waitFor } from './helpers.js';

describe('workflows', { timeout: 60_000 }, () => {
  const apps = testApps();
  const tracker = apps.tracker;
  afterEach(() => apps.cleanup());

  it('a chain gives each step the previous result; the workflow gives the last one', async () => {
    const t = apps.app('wfchain');
    const q = t.app.queue('img');
    const resize = q.task('resize', async (_ctx, path: string, width: number) => ({ path: `${path}@${width}`, bytes: width * 2 }));
    const upload = q.task('upload', async (_ctx, image: { path: string; bytes: number }, bucket: string) => `s3://${bucket}/${image.path}#${image.bytes}`);
    const notify = q.task('notify', async (_ctx, url: string, who: string) => `${who} <- ${url}`);
    await tracker.start(t.app, { queues: ['img'] });
    const wf = await chain(resize.s('cat.png', 100), upload.s('pics'), notify.s('ops')).start({ id: 'order-1' });
    expect(wf.id).toBe('order-1');
    expect(await wf.result('20s')).toBe('ops <- s3://pics/cat.png@100#200');
    const status = await t.app.workflow('order-1').status();
    expect(status.state).toBe('completed');
    expect(status.stages.map((s) => [s.state, s.settled, s.size])).toEqual([['done', 1, 1], ['done', 1, 1], ['done', 1, 1]]);
    // Starting the same id again adds nothing.
    await chain(resize.s('cat.png', 100), upload.s('pics'), notify.s('ops')).start({ id: 'order-1' });
    expect(await t.app.job('img', 'order-1:0:0').status()).toBe('completed');
  });

  it('a chord runs its callback once, with the results in order, though a child retries', async () => {
    const t = apps.app('wfchord');
    const q = t.app.queue('pages', { concurrency: 8 });
    const tries = new Map<number, number>();
    const count = q.task('count', async (_ctx, page: number) => {
      tries.set(page, (tries.get(page) ?? 0) + 1);
      if (page === 3 && tries.get(page) === 1) throw new Error('flaky');
      return page * 10;
    }, { backoff: { type: 'fixed', base: 10 } });
    let calls = 0;
    const merge = q.task('merge', async (_ctx, counts: number[], label: string) => {
      calls++;
      return `${label}:${counts.join(',')}`;
    });
    await tracker.start(t.app, { queues: ['pages'] });
    const wf = await chord(group(Array.from({ length: 12 }, (_, i) => count.s(i))), merge.s('sum')).start();
    expect(await wf.result('20s')).toBe(`sum:${Array.from({ length: 12 }, (_, i) => i * 10).join(',')}`);
    expect(calls).toBe(1);
    expect(tries.get(3)).toBe(2);
  });

  it('a failed node fails the workflow with its error; replaying it from the DLQ resumes the workflow', async () => {
    const t = apps.app('wffail');
    const q = t.app.queue('work', { maxTries: 1 });
    let broken = true;
    const step = q.task('step', async (_ctx, n: number) => {
      if (n === 2 && broken) throw new Error('disk full');
      return n;
    });
    const total = q.task('total', async (_ctx, ns: number[]) => ns.reduce((a, b) => a + b, 0));
    await tracker.start(t.app, { queues: ['work'] });
    const wf = await chain(group([step.s(1), step.s(2), step.s(3)]), total.s()).start({ id: 'wf-fail' });
    await expect(wf.result('20s')).rejects.toThrow(WorkflowFailedError);
    const status = await wf.status();
    expect(status.state).toBe('failed');
    expect(status.stages.map((s) => s.state)).toEqual(['failed', 'waiting']);
    expect(status.reason).toContain('node wf-fail:0:1 dead-lettered (max-tries): Error: disk full');
    expect(status.waitingOn).toEqual([expect.objectContaining({ node: 1, id: 'wf-fail:0:1', status: 'failed' })]);
    broken = false;
    const dlq = t.app.deadLetters('work');
    const [entry] = await dlq.list();
    expect(entry!.id).toBe('wf-fail:0:1');
    await dlq.replay(entry!.dlqId);
    expect(await wf.result('20s')).toBe(6);
  });

  it('continue passes failures on as Settled values; ignore leaves them out', async () => {
    const t = apps.app('wfpolicy');
    const q = t.app.queue('work', { maxTries: 1 });
    const step = q.task('step', async (_ctx, n: number) => {
      if (n % 2 === 0) throw new TypeError(`even ${n}`);
      return n;
    });
    const describeAll = q.task('describeAll', async (_ctx, all: Settled<number>[]) => all.map((s) => (s.status === 'completed' ? s.value : s.error.message)));
    const sum = q.task('sum', async (_ctx, ns: number[]) => ns.reduce((a, b) => a + b, 0));
    await tracker.start(t.app, { queues: ['work'] });
    const members = () => [1, 2, 3, 4].map((n) => step.s(n));
    const cont = await chain(group(members()).onFailure('continue'), describeAll.s()).start();
    const ign = await chain(group(members()).onFailure('ignore'), sum.s()).start();
    expect(await cont.result('20s')).toEqual([1, 'even 2', 3, 'even 4']);
    expect(await ign.result('20s')).toBe(4);
  });

  it('status names the nodes waited on; abort ends the workflow and aborts its running nodes', async () => {
    const t = apps.app('wfabort');
    const q = t.app.queue('slow', { concurrency: 2 });
    const started: number[] = [];
    const hang = q.task('hang', async (ctx, n: number) => {
      started.push(n);
      await new Promise((resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      return n;
    });
    const after = q.task('after', async (_ctx, ns: number[]) => ns.length);
    await tracker.start(t.app, { queues: ['slow'] });
    const wf = await chain(group([hang.s(1), hang.s(2), hang.s(3)]), after.s()).start({ id: 'wf-abort' });
    await waitFor(() => started.length === 2);
    const status = await wf.status();
    expect(status.state).toBe('running');
    expect(status.reason).toBe('stage 0: 3 of 3 nodes pending');
    await expect(wf.result(50)).rejects.toThrow('no result for workflow wf-abort within 50 ms');
    // The third may be prefetched (active, not started) or waiting.
    expect(status.waitingOn.map((n) => n.id)).toEqual(['wf-abort:0:0', 'wf-abort:0:1', 'wf-abort:0:2']);
    expect(status.waitingOn.every((n) => n.status === 'active' || n.status === 'waiting')).toBe(true);
    expect(await wf.abort('changed my mind')).toBe(true);
    await expect(wf.result('5s')).rejects.toThrow(WorkflowAbortedError);
    await waitFor(async () => (await t.app.job('slow', 'wf-abort:0:0').status()) === 'aborted');
    await waitFor(async () => (await t.app.job('slow', 'wf-abort:0:2').status()) === 'aborted');
    const ended = await wf.status();
    expect(ended.reason).toBe('changed my mind');
    expect(ended.stages.map((s) => s.state)).toEqual(['aborted', 'waiting']);
    expect(await wf.abort()).toBe(false);
    expect(await t.app.job('slow', 'wf-abort:1:0').status()).toBe('unknown');
  });

  it('a paged group\'s callback reads the results in pages', async () => {
    const t = apps.app('wfpaged');
    const q = t.app.queue('many', { concurrency: 20 });
    const square = q.task('square', async (_ctx, n: number) => n * n);
    const app = t.app;
    const total = q.task('total', async (_ctx, ref: GroupResults<number>) => {
      let sum = 0;
      for (let offset = 0; offset < ref.size; offset += 100) {
        for (const s of await app.workflowResults(ref, { offset, limit: 100 })) if (s.status === 'completed') sum += s.value;
      }
      return sum;
    });
    await tracker.start(t.app, { queues: ['many'] });
    const wf = await chain(group(Array.from({ length: 500 }, (_, i) => square.s(i))).paged(), total.s()).start();
    expect(await wf.result('30s')).toBe(Array.from({ length: 500 }, (_, i) => i * i).reduce((a, b) => a + b, 0));
  });

  it('a node whose job ends where no worker settles it (aborted by its own id while waiting) is settled from the note its script left', async () => {
    const t = apps.app('wfnote');
    const q = t.app.queue('one', { concurrency: 1, prefetch: 0, idleTimeout: 1000 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const step = q.task('step', async (_ctx, n: number) => {
      if (n === 0) await gate;
      return n;
    });
    const all = q.task('all', async (_ctx, got: Settled<number>[]) => got.map((s) => (s.status === 'completed' ? s.value : s.error.reason)));
    await tracker.start(t.app, { queues: ['one'] });
    const wf = await chain(group([step.s(0), step.s(1)]).onFailure('continue'), all.s()).start({ id: 'wf-note' });
    await waitFor(async () => (await t.app.job('one', 'wf-note:0:0').status()) === 'active');
    // Node 1 waits behind node 0: aborted by its job id, the abort script ends it (no worker runs it).
    expect(await t.app.job('one', 'wf-note:0:1').abort()).toBe('aborted');
    release();
    expect(await wf.result('20s')).toEqual([0, 'aborted']);
  });

  it('after(...) waits on existing jobs: one ended already, one still to run; the next stage gets their results', async () => {
    const t = apps.app('wfafter');
    const q = t.app.queue('jobs', { idleTimeout: 1000, maxTries: 1 });
    let broken = true;
    const fetch = q.task('fetch', async (_ctx, url: string) => {
      if (url === 'bad' && broken) throw new Error('404');
      return url.length;
    });
    const report = q.task('report', async (_ctx, sizes: number[], title: string) => `${title}: ${sizes.join('+')}`);
    const done = await fetch.enqueue('https://a');
    const worker = await tracker.start(t.app, { queues: ['jobs'] });
    expect(await done.result({ timeout: 10_000 })).toBe(9);
    await worker.stop();
    const later = await fetch.enqueue('b');
    const wf = await chain(after(done, later), report.s('sizes')).start({ id: 'wf-after' });
    expect((await wf.status()).reason).toBe('stage 0: 1 of 2 nodes pending');
    await tracker.start(t.app, { queues: ['jobs'] });
    expect(await wf.result('20s')).toBe('sizes: 9+1');
    // A job waited on fails: the workflow fails with it; replayed and completed, it resumes.
    const bad = await fetch.enqueue('bad');
    const wf2 = await chain(after([bad, done]), report.s('again')).start();
    await expect(wf2.result('20s')).rejects.toThrow(WorkflowFailedError);
    expect((await wf2.status()).reason).toMatch(new RegExp(`^node ${bad.id} dead-lettered \\(max-tries\\): Error: 404`));
    broken = false;
    const [entry] = await t.app.deadLetters('jobs').list();
    await t.app.deadLetters('jobs').replay(entry!.dlqId);
    expect(await wf2.result('20s')).toBe('again: 3+9');
    // A job that does not exist cannot be waited on.
    await expect(chain(after({ queue: 'jobs', id: 'never' } as JobRef<number>), report.s('x')).start()).rejects.toThrow(/never/);
  });
});
