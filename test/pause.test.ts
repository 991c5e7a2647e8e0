// Pausing a queue from another process: the worker stops fetching within a second (its blocked
// read ends on the notice), the job it runs finishes, jobs enqueued meanwhile wait; the pause
// outlives the worker (a new one starts paused) and ends with resume; a sharded queue pauses
// every shard; the CLI's pause, resume and queues.
import { afterEach, describe, expect, it } from 'vitest';
import { testApps, waitFor } from './helpers.js';
import { runCli } from './fixtures/children.js';
import type { QueueReport } from '../src/cli/commands/queues.js';

describe('pause and resume', { timeout: 60_000 }, () => {
  const apps = testApps();
  const tracker = apps.tracker;
  afterEach(() => apps.cleanup());

  function setup(shards = 1) {
    const t = apps.app('pause');
    const started: number[] = [];
    let release: (() => void) | undefined;
    const q = t.app.queue('q', { concurrency: 2, shards });
    const work = q.task('work', async (_ctx, n: number) => {
      started.push(n);
      if (n === 0) await new Promise<void>((resolve) => (release = resolve));
      return n;
    });
    const other = apps.outsider(t.prefix);
    return { t, app: t.app, work, started, other, finishFirst: () => release?.() };
  }

  for (const shards of [1, 4]) {
    it(`stops fetching within a second, lets the running job finish, and outlives the worker (${shards === 1 ? 'a queue' : '4 shards'})`, async () => {
      const { app, work, started, other, finishFirst } = setup(shards);
      await tracker.start(app, { queues: ['q'], blockTime: 5000 });
      const first = await work.enqueue(0);
      await waitFor(() => started.includes(0), { what: 'the first job running' });
      // The worker is blocked on an empty queue for up to 5 s: the pause notice ends that at once.
      await other.pause('q');
      expect(await other.isPaused('q')).toBe(true);
      const t0 = Date.now();
      const later = await Promise.all([1, 2, 3, 4].map((n) => work.enqueue(n)));
      finishFirst();
      expect(await first.result({ timeout: 10_000 })).toBe(0);
      await new Promise((r) => setTimeout(r, 1500));
      expect(started).toEqual([0]);
      expect(await later[0]!.status()).toBe('waiting');
      expect(await app.inspector.counts(app.queues.get('q')!)).toMatchObject({ paused: true, waiting: { normal: 4 } });
      // A new worker starts paused: the state is in Redis, not in the worker.
      await tracker.stopAll();
      await tracker.start(app, { queues: ['q'] });
      await new Promise((r) => setTimeout(r, 500));
      expect(started).toEqual([0]);
      await other.resume('q');
      expect((await Promise.all(later.map((j) => j.result({ timeout: 10_000 })))).sort()).toEqual([1, 2, 3, 4]);
      // Resumed at once: well within the worker's 1 s look at a paused queue, or its notice.
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(await other.isPaused('q')).toBe(false);
    });
  }

  it('pause, resume and queues on the command line', async () => {
    const { t, work } = setup();
    await work.enqueue(1);
    const cli = (args: string[]) => runCli(args, { MILLRACE_PREFIX: t.prefix });
    const paused = await cli(['pause', 'q']);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/queue 'q' paused/);
    expect(await t.app.isPaused('q')).toBe(true);
    const [json, text] = await Promise.all([cli(['queues', '--json']), cli(['queues'])]);
    expect((JSON.parse(json.stdout) as QueueReport[]).find((r) => r.name === 'q')).toMatchObject({ paused: true, readyTotal: 1 });
    expect(text.stdout).toMatch(/q \[paused\]/);
    expect((await cli(['resume', 'q', '--json'])).stdout).toMatch(/"paused": ?false/);
    expect(await t.app.isPaused('q')).toBe(false);
    const unknown = await cli(['pause', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown queue 'nope'/);
  });
});
