// `millrace workflow status|abort <id>` run as real processes against an in-test app's prefix:
// a workflow waiting on nodes no worker serves, one a worker in this process completed, a failed
// one, an unknown id; abort of a running workflow (its jobs aborted) and of an ended one.

import { afterEach, describe, expect, it } from 'vitest';
import { chain, group, WorkflowAbortedError, WorkflowFailedError, type WorkflowStatus } from '../src/index.js';
import { testApps } from './helpers.js';
import { killChildren, runCli } from './fixtures/children.js';
import { parseJson } from './fixtures/cli-setup.js';

describe('millrace workflow commands', { timeout: 60_000 }, () => {
  const apps = testApps();
  afterEach(async () => {
    killChildren();
    await apps.cleanup();
  });

  /** An app with a queue 'wf' whose tasks make a two-stage workflow; the CLI runs on its prefix. */
  function setup(name: string) {
    const t = apps.app(name);
    const q = t.app.queue('wf', { maxTries: 1, idleTimeout: 1000 });
    const step = q.task('step', async (_ctx, n: number) => {
      if (n < 0) throw new Error(`negative ${n}`);
      return n * 10;
    });
    const total = q.task('total', async (_ctx, ns: number[]) => ns.reduce((a, b) => a + b, 0));
    const cli = (...args: string[]) => runCli(['workflow', ...args], { MILLRACE_PREFIX: t.prefix });
    const flow = (...ns: number[]) => chain(group(ns.map((n) => step.s(n))), total.s());
    return { t, cli, flow, startWorker: () => apps.tracker.start(t.app, { queues: ['wf'] }) };
  }

  it('status of a running workflow names its stages and the nodes it waits on', async () => {
    const { t, cli, flow } = setup('cliwfrun');
    // No worker serves 'wf': the first stage's nodes wait.
    await flow(1, 2, 3).start({ id: 'wf-wait' });
    const [text, asJson] = await Promise.all([cli('status', 'wf-wait'), cli('status', 'wf-wait', '--json')]);

    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: '' });
    const out = text.stdout;
    expect(out).toMatch(/^id: +wf-wait$/m);
    expect(out).toMatch(/^state: +running$/m);
    expect(out).toMatch(/^reason: +stage 0: 3 of 3 nodes pending$/m);
    expect(out).toMatch(/^created: +\d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    expect(out).not.toMatch(/^ended:/m);
    expect(out).toMatch(/^STAGE +SIZE +SETTLED +POLICY +STATE$/m);
    expect(out).toMatch(/^ +0 +3 +0 +fail +running$/m);
    expect(out).toMatch(/^ +1 +1 +0 +fail +waiting$/m);
    expect(out).toMatch(/^waiting on:$/m);
    expect(out).toMatch(/^NODE +JOB ID +QUEUE +TASK +STATUS +REASON$/m);
    for (const n of [0, 1, 2]) expect(out).toMatch(new RegExp(`^ +${n} +wf-wait:0:${n} +wf +step +waiting +-$`, 'm'));

    expect(asJson.code).toBe(0);
    const status = parseJson<WorkflowStatus>(asJson);
    expect(status).toEqual(await t.app.workflow('wf-wait').status());
    expect(status).toMatchObject({ id: 'wf-wait', state: 'running', stage: 0, reason: 'stage 0: 3 of 3 nodes pending' });
    expect(status.waitingOn.map((n) => [n.id, n.queue, n.task, n.status])).toEqual([0, 1, 2].map((n) => [`wf-wait:0:${n}`, 'wf', 'step', 'waiting']));

    // A stage larger than the nodes the status lists: the output says how many it shows.
    await flow(...Array.from({ length: 25 }, (_, i) => i)).start({ id: 'wf-big' });
    const big = await cli('status', 'wf-big');
    expect(big.stdout).toMatch(/^reason: +stage 0: 25 of 25 nodes pending$/m);
    expect(big.stdout).toMatch(/^waiting on \(20 of 25 shown\):$/m);
    expect(big.stdout.match(/^ +\d+ +wf-big:0:\d+ /gm)).toHaveLength(20);
  });

  it('status of a completed workflow and of a failed one; an unknown id exits 1 in one line', async () => {
    const { t, cli, flow, startWorker } = setup('cliwfdone');
    await startWorker();
    const done = await flow(1, 2).start({ id: 'wf-done' });
    expect(await done.result('20s')).toBe(30);
    const failed = await flow(4, -1).start({ id: 'wf-failed' });
    await expect(failed.result('20s')).rejects.toThrow(WorkflowFailedError);

    const [text, asJson, failedText, unknown, unknownJson, badId] = await Promise.all([
      cli('status', 'wf-done'),
      cli('status', 'wf-done', '--json'),
      cli('status', 'wf-failed'),
      cli('status', 'no-such-workflow'),
      cli('status', 'no-such-workflow', '--json'),
      cli('status', 'not a workflow id'),
    ]);

    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^state: +completed$/m);
    expect(text.stdout).toMatch(/^ended: +\d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    expect(text.stdout).toMatch(/^took: +\S+$/m);
    expect(text.stdout).not.toMatch(/^reason:/m);
    expect(text.stdout).toMatch(/^ +0 +2 +2 +fail +done$/m);
    expect(text.stdout).toMatch(/^ +1 +1 +1 +fail +done$/m);
    expect(text.stdout).not.toContain('waiting on');
    const status = parseJson<WorkflowStatus>(asJson);
    expect(status).toMatchObject({ id: 'wf-done', state: 'completed', stage: 1, waitingOn: [] });
    expect(status.endedAt).toBeGreaterThanOrEqual(status.createdAt);

    expect(failedText.code).toBe(0);
    expect(failedText.stdout).toMatch(/^state: +failed$/m);
    expect(failedText.stdout).toMatch(/^reason: +node wf-failed:0:1 dead-lettered \(max-tries\): Error: negative -1$/m);
    expect(failedText.stdout).toMatch(/^ +1 +wf-failed:0:1 +wf +step +failed +node wf-failed:0:1 dead-lettered \(max-tries\): Error: negative -1$/m);

    for (const r of [unknown, unknownJson]) {
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
      expect(r.stderr).toBe(`millrace: workflow 'no-such-workflow' not found under prefix '${t.prefix}' (never started, or its record expired after it ended)\n`);
    }
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain("not a workflow id: 'not a workflow id'");
  });

  it('abort ends a running workflow and aborts its jobs; an ended one is left alone', async () => {
    const { t, cli, flow, startWorker } = setup('cliwfabort');
    const running = await flow(1, 2, 3).start({ id: 'wf-run' });
    const [aborted, unknown] = await Promise.all([cli('abort', 'wf-run', '--reason', 'changed my mind'), cli('abort', 'no-such-workflow')]);
    expect({ code: aborted.code, stdout: aborted.stdout.trim(), stderr: aborted.stderr }).toEqual({
      code: 0, stdout: 'workflow wf-run aborted (changed my mind): no later stage starts, and the unfinished jobs of stage 0 are aborted', stderr: '',
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("millrace: workflow 'no-such-workflow' not found under prefix");

    await expect(running.result('5s')).rejects.toThrow(WorkflowAbortedError);
    // The waiting jobs were removed, never to run.
    for (const n of [0, 1, 2]) expect(await t.app.job('wf', `wf-run:0:${n}`).status()).toBe('aborted');
    const [after, afterJson] = await Promise.all([cli('status', 'wf-run'), cli('status', 'wf-run', '--json')]);
    expect(after.stdout).toMatch(/^state: +aborted$/m);
    expect(after.stdout).toMatch(/^reason: +changed my mind$/m);
    expect(after.stdout).toMatch(/^ended: /m);
    expect(parseJson<WorkflowStatus>(afterJson)).toMatchObject({ state: 'aborted', reason: 'changed my mind', waitingOn: [] });

    // Ended workflows: nothing to do, exit 0.
    await startWorker();
    const done = await flow(5).start({ id: 'wf-over' });
    expect(await done.result('20s')).toBe(50);
    const [again, over, overJson] = await Promise.all([cli('abort', 'wf-run'), cli('abort', 'wf-over'), cli('abort', 'wf-over', '--json')]);
    expect({ code: again.code, stdout: again.stdout.trim() }).toEqual({ code: 0, stdout: 'workflow wf-run had already ended (aborted); nothing to abort' });
    expect({ code: over.code, stdout: over.stdout.trim() }).toEqual({ code: 0, stdout: 'workflow wf-over had already ended (completed); nothing to abort' });
    expect(overJson.code).toBe(0);
    expect(parseJson(overJson)).toEqual({ id: 'wf-over', outcome: 'ended', state: 'completed', reason: '' });
    expect((await t.app.workflow('wf-over').status()).state).toBe('completed');
    expect((await t.app.workflow('wf-run').status()).reason).toBe('changed my mind');
  });

  it('abort --json says aborted; help shows the commands with examples', async () => {
    const { cli, flow } = setup('cliwfhelp');
    await flow(1).start({ id: 'wf-json' });
    const [abortJson, help, statusHelp, top] = await Promise.all([
      cli('abort', 'wf-json', '--json'),
      cli('--help'),
      cli('status', '--help'),
      runCli(['--help']),
    ]);
    expect(abortJson.code).toBe(0);
    expect(parseJson(abortJson)).toEqual({ id: 'wf-json', outcome: 'aborted', state: 'aborted', reason: 'aborted on request' });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ +status \[options\] <id> +print a workflow's state/m);
    expect(help.stdout).toMatch(/^ +abort \[options\] <id> +abort a workflow/m);
    expect(help.stdout).toContain("$ millrace workflow abort order-1 --reason 'customer cancelled'");
    expect(statusHelp.stdout).toContain('Usage: millrace workflow status [options] <id>');
    expect(statusHelp.stdout).toContain('$ millrace workflow status order-1 --json');
    expect(top.stdout).toMatch(/^ +workflow +workflows by id: status, abort$/m);
  });
});
