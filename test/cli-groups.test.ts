// `millrace groups <queue>` and `millrace group pause|resume <queue> <key>` run as real
// processes against an in-test app's prefix: the groups with jobs waiting and paused, in text
// and JSON, and in the queue's row of `millrace queues`; a pause and a resume seen by the app;
// a group's own limits set, shown and cleared; bad flags, keys and unknown queues refused.

import { afterEach, describe, expect, it } from 'vitest';
import { testApps } from './helpers.js';
import { killChildren, runCli } from './fixtures/children.js';
import { parseJson } from './fixtures/cli-setup.js';

describe('millrace groups commands', { timeout: 60_000 }, () => {
  const apps = testApps();
  afterEach(async () => {
    killChildren();
    await apps.cleanup();
  });

  it('lists the groups, pauses and resumes one, and refuses what is wrong by name', async () => {
    const t = apps.app('cligroups');
    const q = t.app.queue('reports', { groups: { key: (args) => args[0] as string } });
    const report = q.task('report', async (_ctx, tenant: string) => tenant);
    await report.enqueueMany([['acme'], ['acme'], ['globex']]);
    const cli = (...args: string[]) => runCli(args, { MILLRACE_PREFIX: t.prefix });

    const [text, asJson] = await Promise.all([cli('groups', 'reports'), cli('groups', 'reports', '--json')]);
    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: '' });
    expect(text.stdout).toMatch(/^GROUP +WAITING +OWN LIMITS$/im);
    expect(text.stdout).toMatch(/^acme +2 +-$/m);
    expect(parseJson(asJson)).toEqual([{ key: 'acme', waiting: 2, paused: false }, { key: 'globex', waiting: 1, paused: false }]);

    // The queue's row counts them as ready, and says they wait in groups.
    const queues = await cli('queues', '--queue', 'reports');
    expect(queues.stdout).toMatch(/^reports +3 +groups=3 /m);
    expect(parseJson<{ grouped: number; readyTotal: number }[]>(await cli('queues', '--queue', 'reports', '--json'))[0]).toMatchObject({ grouped: 3, readyTotal: 3 });

    const paused = await cli('group', 'pause', 'reports', 'acme');
    expect({ code: paused.code, stderr: paused.stderr }).toEqual({ code: 0, stderr: '' });
    expect(paused.stdout).toContain("group 'acme' of queue 'reports' paused");
    expect(await t.app.groups('reports')).toEqual([{ key: 'acme', waiting: 2, paused: true }, { key: 'globex', waiting: 1, paused: false }]);
    expect((await cli('groups', 'reports')).stdout).toMatch(/^acme \[paused\] +2 +-$/m);
    expect((await cli('group', 'resume', 'reports', 'acme')).code).toBe(0);
    expect((await t.app.groups('reports'))[0]).toEqual({ key: 'acme', waiting: 2, paused: false });

    // Limits of its own, shown in the listing; --clear takes them away.
    expect((await cli('group', 'limit', 'reports', 'acme', '--concurrency', '10', '--rate', '5/1s')).code).toBe(0);
    expect((await t.app.groups('reports'))[0]).toEqual({ key: 'acme', waiting: 2, paused: false, limits: { concurrency: 10, rateLimit: { max: 5, perMs: 1000 } } });
    expect((await cli('groups', 'reports')).stdout).toMatch(/^acme +2 +concurrency 10, 5 per 1000 ms$/m);
    expect((await cli('group', 'limit', 'reports', 'acme', '--concurrency', 'none', '--weight', '3')).code).toBe(0);
    expect((await t.app.groups('reports'))[0]!.limits).toEqual({ concurrency: null, weight: 3 });
    expect((await cli('groups', 'reports')).stdout).toMatch(/^acme +2 +no cap, weight 3$/m);
    expect((await cli('group', 'limit', 'reports', 'acme', '--clear')).code).toBe(0);
    expect((await t.app.groups('reports'))[0]!.limits).toBeUndefined();
    const bad = await Promise.all([
      cli('group', 'limit', 'reports', 'acme'),
      cli('group', 'limit', 'reports', 'acme', '--concurrency', '0'),
      cli('group', 'limit', 'reports', 'acme', '--rate', 'fast'),
      cli('group', 'limit', 'reports', 'acme', '--clear', '--concurrency', '2'),
      cli('group', 'limit', 'reports', 'acme', '--weight', '0'),
    ]);
    expect(bad.map((b) => b.code)).toEqual([2, 2, 2, 2, 2]);
    expect(bad.map((b) => b.stderr.trim().split('\n').length)).toEqual([1, 1, 1, 1, 1]);
    expect(bad[2]!.stderr).toMatch(/--rate: <max>\/<duration> such as 100\/1s/);

    const tooLong = await cli('group', 'pause', 'reports', 'x'.repeat(201));
    expect({ code: tooLong.code, err: tooLong.stderr.trim() }).toEqual({ code: 2, err: expect.stringMatching(/not a group key: 'x+' \(group keys are 1-200 characters\)/) });
    const unknown = await cli('groups', 'nosuch');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nosuch/);
  });
});
