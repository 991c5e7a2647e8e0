// Cron schedules: time zones, one job per tick over many workers, drift, runtime changes.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, type Worker } from '../src/index.js';
import { testApp, uniquePrefix, waitFor, type TestApp } from './helpers.js';
import { defineSchedule, latestTick, nextTick } from '../src/cron.js';

describe('cron ticks', () => {
  it('counts a tick at exactly now as the latest, and none after now, at minute and second patterns', () => {
    const minutely = defineSchedule('* * * * *', 't', 'q', {}, 'code');
    const secondly = defineSchedule('* * * * * *', 't', 'q', {}, 'code');
    const tick = Date.UTC(2030, 0, 1, 0, 1, 0);
    expect(latestTick(minutely, tick)).toBe(tick);
    expect(latestTick(minutely, tick - 1)).toBe(tick - 60_000);
    expect(latestTick(minutely, tick + 59_999)).toBe(tick);
    expect(nextTick(minutely, tick)).toBe(tick + 60_000);
    expect(latestTick(secondly, tick + 500)).toBe(tick);
    expect(latestTick(secondly, tick + 1000)).toBe(tick + 1000);
  });
});

describe('cron', () => {
  const apps: TestApp<Record<string, never>>[] = [];
  const workers: Worker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    for (const a of apps.splice(0)) await a.cleanup();
  });

  /** One "process": its own app on the shared prefix, with the task and the runs it saw. */
  function node(prefix: string, runs: string[]) {
    const t = testApp({ prefix });
    apps.push(t);
    const task = t.app.queue('q').task('tick', async (ctx) => {
      runs.push(ctx.id);
    });
    return { t, task };
  }

  it('enqueues each tick once while three workers run the schedule', async () => {
    const prefix = uniquePrefix('cron3');
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { t, task } = node(prefix, runs);
      t.app.cron('* * * * * *', task, { name: 'every-second', maxDrift: '5s' });
      const w = t.app.worker({ handleSignals: false, healthFile: false });
      workers.push(w);
      await w.start();
    }
    await waitFor(() => runs.length >= 3, { timeout: 8000, what: '3 ticks' });
    for (const w of workers.splice(0)) await w.stop();
    expect(new Set(runs).size).toBe(runs.length);
    const ticks = runs.map((id) => Number(/^cron:every-second:(\d+)$/.exec(id)![1])).sort((a, b) => a - b);
    for (const tick of ticks) expect(tick % 1000).toBe(0);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(1000);
  });

  it('reads patterns in the schedule time zone', async () => {
    const { t, task } = node(uniquePrefix('crontz'), []);
    t.app.cron('0 0 * * *', task, { name: 'midnight-kolkata', tz: 'Asia/Kolkata' });
    const [s] = await t.app.listSchedules();
    const next = new Date(s!.nextRunAt!);
    // Midnight in Kolkata (UTC+05:30) is 18:30 UTC.
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([18, 30]);
    expect(s).toMatchObject({ name: 'midnight-kolkata', task: 'tick', queue: 'q', source: 'code' });
  });

  it('skips a missed tick older than the maximum drift and runs one within it', async () => {
    const prefix = uniquePrefix('crondrift');
    const runs: string[] = [];
    const { t, task } = node(prefix, runs);
    // The last hourly tick is up to an hour old: outside a 1 s drift, inside a 2 h one.
    t.app.cron('0 * * * *', task, { name: 'strict', maxDrift: '1s' });
    t.app.cron('0 * * * *', task, { name: 'lenient', maxDrift: '2h' });
    const w = t.app.worker({ handleSignals: false, healthFile: false });
    workers.push(w);
    await w.start();
    await waitFor(() => runs.some((id) => id.startsWith('cron:lenient:')), { what: 'lenient tick' });
    await new Promise((r) => setTimeout(r, 300));
    const now = Date.now();
    if (now % 3_600_000 > 2000) expect(runs.filter((id) => id.startsWith('cron:strict:'))).toEqual([]);
    expect(runs.filter((id) => id.startsWith('cron:lenient:'))).toHaveLength(1);
  });

  it('adds, lists and removes schedules at runtime from another process', async () => {
    const prefix = uniquePrefix('cronrt');
    const runs: string[] = [];
    const { t } = node(prefix, runs);
    const w = t.app.worker({ handleSignals: false, healthFile: false });
    workers.push(w);
    await w.start();
    const admin = testApp({ prefix });
    apps.push(admin);
    await admin.app.addSchedule('* * * * * *', 'tick', { queue: 'q', name: 'runtime', runAtStartup: false });
    expect((await admin.app.listSchedules()).map((s) => [s.name, s.source])).toEqual([['runtime', 'runtime']]);
    await waitFor(() => runs.length >= 1, { timeout: 5000, what: 'a runtime tick' });
    expect(await admin.app.removeSchedule('runtime')).toBe(true);
    expect(await admin.app.removeSchedule('runtime')).toBe(false);
    await new Promise((r) => setTimeout(r, 1200)); // a check may be in flight when it is removed
    const after = runs.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(runs.length).toBe(after);
    expect(await admin.app.listSchedules()).toEqual([]);
  });

  it('runs at startup when asked', async () => {
    const runs: string[] = [];
    const { t, task } = node(uniquePrefix('cronstart'), runs);
    t.app.cron('0 0 1 1 *', task, { name: 'yearly', runAtStartup: true });
    const w = t.app.worker({ handleSignals: false, healthFile: false });
    workers.push(w);
    await w.start();
    await waitFor(() => runs.length === 1, { what: 'startup run' });
    expect(runs[0]).toBe(`cron:yearly:startup:${w.id}`);
  });

  it('rejects a bad pattern, time zone or duplicate name', () => {
    const { t, task } = node(uniquePrefix('cronbad'), []);
    expect(() => t.app.cron('61 * * * *', task)).toThrow(ConfigError);
    expect(() => t.app.cron('not a pattern', task)).toThrow(/cron pattern/);
    expect(() => t.app.cron('0 * * * *', task, { tz: 'Mars/Olympus' })).toThrow(ConfigError);
    t.app.cron('0 * * * *', task, { name: 'once' });
    expect(() => t.app.cron('5 * * * *', task, { name: 'once' })).toThrow(/already used/);
  });
});
