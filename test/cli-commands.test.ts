// The job commands of `millrace` run as real processes: enqueue (with --wait), status, info,
// result, abort and jobs, against an in-test app's prefix; their errors and exit codes.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.js';
import { killChildren } from './fixtures/children.js';
import { cliSetup, parseJson, type CliSetup } from './fixtures/cli-setup.js';

const FIXTURE = 'test/fixtures/cli-app.mts';

describe('millrace job commands', { timeout: 60_000 }, () => {
  let s: CliSetup;
  beforeEach(() => {
    s = cliSetup('clijobs');
  });
  afterEach(async () => {
    killChildren();
    await s.cleanup();
  });

  it('enqueue: --wait prints the result, a failed job exits 1, options reach the job', async () => {
    await s.startWorker();
    const [ok, failed, delayed] = await Promise.all([
      s.cli(['enqueue', 'echo', '["hi"]', '--queue', 'q', '--wait', '--timeout', '10']),
      s.cli(['enqueue', 'boom', '["why not"]', '--queue', 'q', '--wait', '--json']),
      // --app: the fixture app (same prefix) defines 'echo' in queue 'q', so no --queue.
      s.cli(['enqueue', 'echo', '["later"]', '--app', FIXTURE, '--delay', '1h', '--priority', 'high', '--id', 'later-1', '--json']),
    ]);

    expect({ code: ok.code, stdout: JSON.parse(ok.stdout) as unknown }).toEqual({ code: 0, stdout: { text: 'hi' } });
    expect(ok.stderr).toMatch(/enqueued job \S+ \(task echo, queue q\)/);

    expect(failed.code).toBe(1);
    expect(parseJson(failed)).toMatchObject({ queue: 'q', created: true, status: 'failed', error: { name: 'Error', message: 'kaboom: why not', attempts: 1 } });
    expect(failed.stderr).toContain('kaboom: why not');

    expect(delayed.code).toBe(0);
    expect(parseJson(delayed)).toEqual({ id: 'later-1', queue: 'q', task: 'echo', created: true });
    const info = await s.t.app.job('q', 'later-1').info();
    expect(info).toMatchObject({ status: 'delayed', priority: 'high', args: ['later'] });
    expect(info.dueAt! - Date.now()).toBeGreaterThan(3_500_000);

    // The same id again: not enqueued twice.
    const again = await s.cli(['enqueue', 'echo', '["x"]', '--queue', 'q', '--id', 'later-1']);
    expect({ code: again.code, stdout: again.stdout.trim() }).toEqual({ code: 0, stdout: 'job later-1 already exists in queue q; not enqueued again' });
  });

  it('enqueue: bad arguments and options are exit 2 with what is accepted', async () => {
    const runs = await Promise.all([
      s.cli(['enqueue', 'echo', '{"a":1}', '--queue', 'q']),
      s.cli(['enqueue', 'echo', '["unclosed"', '--queue', 'q']),
      s.cli(['enqueue', 'echo', '["x"]']),
      s.cli(['enqueue', 'echo', '["x"]', '--queue', 'q', '--priority', 'urgent']),
      s.cli(['enqueue', 'echo', '["x"]', '--queue', 'q', '--at', 'tomorrow']),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    const [notArray, badJson, noQueue, badPriority, badAt] = runs.map((r) => r.stderr);
    expect(notArray).toContain("args-json must be a JSON array of the task's arguments (got object)");
    expect(badJson).toContain('args-json is not valid JSON');
    expect(noQueue).toContain("--queue is needed: this process does not define task 'echo'");
    expect(badPriority).toContain("--priority 'urgent' is not a priority of queue 'q': use one of low, normal, high, critical");
    expect(badAt).toContain("--at expects an ISO 8601 time like '2030-01-01T09:00:00Z' (got 'tomorrow')");
    expect(await s.t.app.listJobs('q', 'waiting')).toEqual([]);
  });

  it('status, info and result find a job by id in any queue, or in --queue', async () => {
    await s.startWorker();
    const done = await s.tasks.echo.enqueue('there');
    await done.result({ timeout: 5000 });
    const waiting = await s.tasks.idle.with({ id: 'idle-1' }).enqueue();

    const [status, info, result, waitingStatus, noResult, text] = await Promise.all([
      s.cli(['status', done.id]),
      s.cli(['info', done.id, '--queue', 'q', '--json']),
      s.cli(['result', done.id, '--json']),
      s.cli(['status', waiting.id, '--json']),
      s.cli(['result', waiting.id, '--timeout', '0.3']),
      s.cli(['info', 'idle-1']),
    ]);
    expect({ code: status.code, stdout: status.stdout.trim() }).toEqual({ code: 0, stdout: 'completed' });
    expect(info.code).toBe(0);
    expect(parseJson(info)).toMatchObject({ id: done.id, queue: 'q', status: 'completed', task: 'echo', result: { text: 'there' }, attempts: 1 });
    expect(parseJson(result)).toEqual({ id: done.id, queue: 'q', status: 'completed', result: { text: 'there' } });
    expect(parseJson(waitingStatus)).toEqual({ id: 'idle-1', queue: 'other', status: 'waiting' });
    expect(noResult.code).toBe(1);
    expect(noResult.stderr).toContain("no result for job 'idle-1' (queue 'other') within 300ms");

    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^status: +waiting$/m);
    expect(text.stdout).toMatch(/^task: +idle$/m);
    expect(text.stdout).toMatch(/^priority: +normal$/m);
  });

  it('abort removes a waiting job and aborts a running one; unknown jobs and queues exit 1', async () => {
    await s.startWorker();
    const waiting = await s.tasks.idle.enqueue();
    const running = await s.tasks.slow.enqueue();
    await waitFor(async () => (await running.status()) === 'active', { what: 'the slow job to start' });

    const [abortWaiting, abortRunning, missing, missingInQueue, unknownQueue] = await Promise.all([
      s.cli(['abort', waiting.id, '--json']),
      s.cli(['abort', running.id, '--queue', 'q']),
      s.cli(['status', 'no-such-job']),
      s.cli(['info', 'no-such-job', '--queue', 'q']),
      s.cli(['result', 'no-such-job', '--queue', 'nope']),
    ]);
    expect(parseJson(abortWaiting)).toEqual({ id: waiting.id, queue: 'other', outcome: 'aborted' });
    expect(await waiting.status()).toBe('aborted');
    expect(abortRunning.code).toBe(0);
    expect(abortRunning.stdout).toContain('is running: abort requested');
    await expect(running.result({ timeout: 5000 })).rejects.toThrow(/aborted/);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("job 'no-such-job' not found in any queue under prefix");
    expect(missing.stderr).toContain('(searched: other, q)');
    expect(missingInQueue.code).toBe(1);
    expect(missingInQueue.stderr).toContain("job 'no-such-job' not found in queue 'q'");
    expect(unknownQueue.code).toBe(1);
    expect(unknownQueue.stderr).toContain("unknown queue 'nope' under prefix");
    expect(unknownQueue.stderr).toContain('known queues are other, q');
  });

  it('promote runs a delayed job now; a job that is not delayed exits 1 saying where it is', async () => {
    await s.startWorker();
    const later = await s.tasks.echo.with({ delay: '1h' }).enqueue('later');
    const done = await s.tasks.echo.enqueue('now');
    await done.result({ timeout: 5000 });
    const [promoted, notDelayed] = await Promise.all([s.cli(['promote', later.id, '--json']), s.cli(['promote', done.id, '--queue', 'q'])]);
    expect(parseJson(promoted)).toEqual({ id: later.id, queue: 'q', promoted: true });
    expect(await later.result({ timeout: 10_000 })).toEqual({ text: 'later' });
    expect(notDelayed.code).toBe(1);
    expect(notDelayed.stderr).toContain(`job '${done.id}' (queue q) is not delayed: it is completed`);
  });

  it('jobs lists jobs by state, in one queue or all', async () => {
    await s.startWorker();
    const done = await s.tasks.echo.enqueue('a');
    await done.result({ timeout: 5000 });
    const failed = await s.tasks.boom.enqueue('b');
    await expect(failed.result({ timeout: 5000 })).rejects.toThrow(/kaboom/);
    await s.tasks.idle.with({ priority: 'high' }).enqueue();
    await s.tasks.echo.with({ delay: '1h', id: 'delayed-1' }).enqueue('later');

    const [waiting, delayed, completed, failedList, bad] = await Promise.all([
      s.cli(['jobs', '--status', 'waiting', '--json']),
      s.cli(['jobs', '--status', 'delayed', '--queue', 'q']),
      s.cli(['jobs', '-s', 'completed', '--queue', 'q', '--json']),
      s.cli(['jobs', '--status', 'failed', '--limit', '5']),
      s.cli(['jobs', '--status', 'lost']),
    ]);
    expect(parseJson(waiting)).toEqual([expect.objectContaining({ queue: 'other', state: 'waiting', task: 'idle', priority: 'high', attempt: 1 })]);
    expect(delayed.code).toBe(0);
    const [header, row] = delayed.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+QUEUE\s+TASK\s+STATE\s+PRIORITY\s+ATTEMPT\s+DETAIL$/);
    expect(row).toMatch(/^delayed-1\s+q\s+echo\s+delayed\s+normal\s+1\s+due in 59m/);
    expect(parseJson(completed)).toEqual([expect.objectContaining({ id: done.id, state: 'completed', task: 'echo', attempt: 1 })]);
    expect(failedList.stdout).toContain(failed.id);
    expect(failedList.stdout).toContain('Error: kaboom: b');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Allowed choices are waiting, active, delayed, completed, failed, aborted, expired');
  });
});
