// The operation commands of `millrace` run as real processes: queues, workers, cleanup, dlq
// and health, against an in-test app's prefix; their errors and exit codes.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueReport } from '../src/cli/commands/queues.js';
import { rawRedis, waitFor } from './helpers.js';
import { killChildren } from './fixtures/children.js';
import { cliSetup, parseJson, type CliSetup } from './fixtures/cli-setup.js';

/** A row of `millrace queues --json`. */
type QueueRow = QueueReport;

describe('millrace operation commands', { timeout: 60_000 }, () => {
  let s: CliSetup;
  beforeEach(() => {
    s = cliSetup('cliops');
  });
  afterEach(async () => {
    killChildren();
    await s.cleanup();
  });

  it('queues and workers show depths, priorities, throughput and live workers', async () => {
    const worker = await s.startWorker();
    const jobs = await s.tasks.echo.enqueueMany([['a'], ['b'], ['c']]);
    for (const job of jobs) await job.result({ timeout: 5000 });
    await waitFor(async () => (await s.t.app.readEvents({ queues: ['q'] })).events.filter((e) => e.event.type === 'job.completed').length === 3, {
      what: 'the job.completed events in the stream',
    });
    await s.tasks.idle.with({ priority: 'high' }).enqueue();
    await s.tasks.idle.with({ priority: 'low' }).enqueue();
    await s.tasks.idle.with({ delay: '1h' }).enqueue();

    const [queuesJson, queuesText, workersJson, workersText, oneQueue] = await Promise.all([
      s.cli(['queues', '--json']),
      s.cli(['queues']),
      s.cli(['workers', '--json']),
      s.cli(['workers']),
      s.cli(['queues', '--queue', 'nope']),
    ]);
    const rows = parseJson<QueueRow[]>(queuesJson);
    expect(rows.map((r) => r.name)).toEqual(['other', 'q']);
    expect(rows[0]).toEqual({
      name: 'other', ready: { critical: 0, high: 1, normal: 0, low: 1 }, grouped: 0, readyTotal: 2, delayed: 1, inFlight: 0, dlq: 0,
      consumers: 0, workers: 0, lastMinute: { completed: 0, failed: 0 }, paused: false,
    });
    expect(rows[1]).toMatchObject({ name: 'q', readyTotal: 0, workers: 1, consumers: 1, lastMinute: { completed: 3, failed: 0 } });
    const lines = queuesText.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^QUEUE\s+READY\s+BY PRIORITY\s+DELAYED\s+IN FLIGHT\s+DLQ\s+CONSUMERS\s+WORKERS\s+DONE\/1M\s+FAILED\/1M$/);
    expect(lines[1]).toMatch(/^other\s+2\s+high=1 low=1\s+1\s+0\s+0\s+0\s+0\s+0\s+0$/);
    expect(lines[2]).toMatch(/^q\s+0\s+-\s+0\s+0\s+0\s+1\s+1\s+3\s+0$/);

    const entries = parseJson<{ id: string; pid: number; queues: string[]; processed: number; heartbeatAgeMs: number }[]>(workersJson);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ id: worker.id, pid: process.pid, queues: ['q'] });
    expect(entries[0]!.heartbeatAgeMs).toBeLessThan(3000);
    expect(workersText.stdout).toMatch(/^ID\s+HOST\s+PID\s+QUEUES\s+CONCURRENCY\s+RUNNING\s+PROCESSED\s+FAILED\s+UPTIME\s+HEARTBEAT$/m);
    expect(workersText.stdout).toContain(worker.id);
    expect(oneQueue.code).toBe(1);
    expect(oneQueue.stderr).toContain("unknown queue 'nope'");
  });

  it('cleanup forgets a silent consumer and hands its job back', async () => {
    const job = await s.tasks.echo.enqueue('orphan');
    // A consumer that took the job and died: it never heartbeats, its delivery goes idle.
    const redis = rawRedis();
    try {
      const stream = `{${s.t.prefix}:q}:s:normal`;
      await redis.xgroup('CREATE', stream, 'millrace', '0', 'MKSTREAM').catch(() => undefined);
      await redis.xreadgroup('GROUP', 'millrace', 'ghost', 'COUNT', 1, 'STREAMS', stream, '>');
      expect(await job.status()).toBe('active');
      // Stale once idle longer than --stale-seconds 1.
      await waitFor(async () => {
        const consumers = (await redis.xinfo('CONSUMERS', stream, 'millrace')) as unknown[][];
        return consumers.some((c) => c[1] === 'ghost' && Number(c[c.indexOf('idle') + 1]) > 1100);
      }, { what: 'the ghost consumer to be idle for over a second' });
    } finally {
      redis.disconnect();
    }

    const [none, cleaned, bad] = await Promise.all([
      s.cli(['cleanup', '--stale-seconds', '600']),
      s.cli(['cleanup', '--stale-seconds', '1', '--json']),
      s.cli(['cleanup', '--stale-seconds', '0']),
    ]);
    expect({ code: none.code, stdout: none.stdout.trim() }).toEqual({ code: 0, stdout: 'no worker silent for more than 600s' });
    expect(parseJson(cleaned)).toEqual({ workers: ['ghost'], jobs: 1, interrupted: [] });
    expect(await job.status()).toBe('waiting');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--stale-seconds expects an integer >= 1');
  });

  it('dlq list, show, replay, delete and purge', async () => {
    const worker = await s.startWorker();
    const dead = await Promise.all(['one', 'two', 'three'].map((why) => s.tasks.boom.enqueue(why)));
    for (const job of dead) await expect(job.result({ timeout: 5000 })).rejects.toThrow(/kaboom/);
    await worker.stop({ grace: 500 });
    const dlq = s.t.app.deadLetters('q');
    const ids = (await dlq.list()).map((e) => e.dlqId);
    expect(ids).toHaveLength(3);

    const [listJson, listText, show, showMissing] = await Promise.all([
      s.cli(['dlq', 'list', '--queue', 'q', '--json']),
      s.cli(['dlq', 'list', '--queue', 'q', '--limit', '2']),
      s.cli(['dlq', 'show', ids[0]!, '--queue', 'q']),
      s.cli(['dlq', 'show', '1-0', '--queue', 'q']),
    ]);
    const listed = parseJson<{ dlqId: string; id: string; task: string; reason: string; args: unknown; error: string }[]>(listJson);
    expect(listed.map((e) => e.dlqId)).toEqual(ids);
    expect(listed[0]).toMatchObject({ id: dead[0]!.id, task: 'boom', reason: 'max-tries', args: ['one'], error: 'Error: kaboom: one' });
    expect(listText.stdout).toMatch(/^DLQ ID\s+JOB ID\s+TASK\s+REASON\s+ATTEMPTS\s+FAILED AT\s+ERROR$/m);
    expect(listText.stdout).toContain('(2 of 3 shown; use --limit)');
    expect(show.stdout).toMatch(/^task: +boom$/m);
    expect(show.stdout).toMatch(/^args: +\["one"\]$/m);
    expect(show.stdout).toContain('Error: kaboom: one\n    at ');
    expect(showMissing.code).toBe(1);
    expect(showMissing.stderr).toContain("no dead letter '1-0' in queue 'q'");

    const [replay, replayMissing, del, purgeRefused] = await Promise.all([
      s.cli(['dlq', 'replay', ids[0]!, '--queue', 'q', '--reset-attempts', '--json']),
      // ids[2] stays until the purge; ids[1] is being deleted meanwhile.
      s.cli(['dlq', 'replay', ids[2]!, '9-9', '--queue', 'q']),
      s.cli(['dlq', 'delete', ids[1]!, '--queue', 'q']),
      // Children get no terminal on stdin: purge must refuse without --yes.
      s.cli(['dlq', 'purge', '--queue', 'q']),
    ]);
    expect(parseJson(replay)).toEqual({ queue: 'q', replayed: [dead[0]!.id] });
    expect(await dead[0]!.status()).toBe('waiting');
    expect(replayMissing.code).toBe(1);
    expect(replayMissing.stderr).toContain("not in the dead-letter queue of 'q': 9-9 (nothing was changed)");
    expect(del.stdout.trim()).toBe("deleted 1 dead letter(s) from queue 'q'");
    expect(purgeRefused.code).toBe(2);
    expect(purgeRefused.stderr).toContain('stdin is not a terminal; add --yes');
    expect((await dlq.list()).map((e) => e.dlqId)).toEqual([ids[2]]);

    const purged = await s.cli(['dlq', 'purge', '--queue', 'q', '--yes', '--json']);
    expect(parseJson(purged)).toEqual({ queue: 'q', purged: 1 });
    expect(await dlq.count()).toBe(0);
  });

  it('health status and probe: healthy with a live worker, unhealthy without, or without Redis', async () => {
    await s.tasks.idle.enqueue();
    const noWorker = await s.cli(['health', 'probe']);
    expect({ code: noWorker.code, stdout: noWorker.stdout.trim() }).toEqual({ code: 1, stdout: `unhealthy: no live worker under prefix '${s.t.prefix}'` });

    await s.startWorker();
    const [status, detailed, probe, probeOther] = await Promise.all([
      s.cli(['health', 'status', '--json']),
      s.cli(['health', 'status', '--detailed']),
      s.cli(['health', 'probe', '--queue', 'q', '--json']),
      s.cli(['health', 'probe', '--queue', 'other']),
    ]);
    const h = parseJson<{ status: string; warnings: string[]; redis: { ok: boolean; pingMs: number; maxmemoryPolicy: string }; workers: { alive: number }; queues: { count: number; ready: number } }>(status);
    expect(h.redis).toMatchObject({ ok: true, maxmemoryPolicy: expect.any(String) });
    expect(h.redis.pingMs).toBeGreaterThanOrEqual(0);
    expect(h.workers.alive).toBe(1);
    expect(h.queues).toMatchObject({ count: 2, ready: 1 });
    // 'other' has a job and no worker: degraded, not unhealthy.
    expect(h.status).toBe('degraded');
    expect(h.warnings).toContain("queue 'other' has 1 job(s) waiting and no live worker serving it");
    expect(detailed.code).toBe(0);
    expect(detailed.stdout).toMatch(/^status: +degraded$/m);
    expect(detailed.stdout).toMatch(/^workers: +1 alive/m);
    expect(detailed.stdout).toContain('\nWorkers\nID ');
    expect(detailed.stdout).toContain('\nQueues\nQUEUE ');
    expect(probe.code).toBe(0);
    expect(parseJson(probe)).toMatchObject({ healthy: true, workers: 1, reason: expect.stringContaining("healthy: 1 live worker(s) serving queue 'q'") });
    expect(probeOther.code).toBe(1);
    expect(probeOther.stdout.trim()).toBe("unhealthy: no live worker serves queue 'other' (live workers serve: q)");

    // Nothing listens on port 1: the probe says so at once, other commands fail clearly.
    const down = { REDIS_URL: 'redis://127.0.0.1:1' };
    const started = Date.now();
    const [downProbe, downQueues] = await Promise.all([
      s.cli(['health', 'probe', '--timeout', '2'], down),
      s.cli(['queues'], down),
    ]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(downProbe.code).toBe(1);
    expect(downProbe.stdout.trim()).toBe('unhealthy: Redis does not answer: connect ECONNREFUSED 127.0.0.1:1');
    expect(downQueues.code).toBe(1);
    expect(downQueues.stderr).toContain('cannot reach Redis (redis://127.0.0.1:1): connect ECONNREFUSED 127.0.0.1:1.');
  });

  it('help shows examples for each command group', async () => {
    const [dlq, health] = await Promise.all([s.cli(['dlq', '--help']), s.cli(['health', 'probe', '--help'])]);
    expect(dlq.stdout).toContain('$ millrace dlq replay --all --queue emails --reset-attempts');
    expect(health.stdout).toContain('$ millrace health probe --queue emails');
    expect([dlq.code, health.code]).toEqual([0, 0]);
  });
});
