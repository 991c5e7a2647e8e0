// The job page's attempts timeline (GET /api/jobs/:queue/:id/timeline), read from the queue's
// event stream in the job's time window: a job that fails twice and then succeeds shows three
// attempts with their outcomes and errors; a read cut short by its bound says it is partial;
// an unknown job is a 404. On the real Redis under a prefix of its own.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { OverseerData, type OverseerApp } from '../src/overseer/data.js';
import { attemptsOf, jobTimeline, type TimelineView } from '../src/overseer/timeline.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovtime');
const { app } = t;
const flaky = app.queue('flaky', { maxTries: 3, backoff: { type: 'fixed', base: 20, jitter: false } });
const twiceThenOk = flaky.task('twice_then_ok', async (ctx, n: number) => {
  if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} of job ${n} failed`);
  return n * 2;
});
const noise = flaky.task('noise', async () => 'ok');

const tracker = workers({ heartbeatInterval: 200 });
let handler: OverseerHandler;
let served: Served;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  handler = overseer(app, { log: app.log });
  served = await serveHandler(handler);
  await tracker.start(app, { queues: ['flaky'] });
});

afterAll(async () => {
  await tracker.stopAll();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer attempts timeline', () => {
  let jobId: string;

  it('shows three attempts of a job that failed twice, then completed', async () => {
    const job = await twiceThenOk.enqueue(21);
    jobId = job.id;
    // Some other jobs' events in the same window: filtered out.
    await noise.enqueueMany([[], [], []]);
    await waitFor(async () => (await job.info()).status === 'completed', { what: 'the flaky job to complete' });
    // The worker writes its events a moment after the outcome.
    const view = await waitFor(async () => {
      const { body } = await get(`/api/jobs/flaky/${job.id}/timeline`);
      return (body as TimelineView).attempts?.at(-1)?.outcome === 'completed' ? (body as TimelineView) : undefined;
    }, { what: 'the completed attempt in the timeline' });
    expect(view).toMatchObject({ queue: 'flaky', id: job.id, status: 'completed', partial: false, reasons: [] });
    expect(view.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'retried'], [2, 'retried'], [3, 'completed']]);
    const [first, second, third] = view.attempts;
    expect(first!.error).toContain('attempt 1 of job 21 failed');
    expect(second!.error).toContain('attempt 2 of job 21 failed');
    expect(first!.retryDelayMs).toBe(20);
    expect(third!.error).toBeUndefined();
    const worker = tracker.last!.id;
    for (const a of view.attempts) {
      expect(a.worker).toBe(worker);
      expect(a.startedAt).toBeGreaterThanOrEqual(view.enqueuedAt!);
      expect(a.endedAt).toBeGreaterThanOrEqual(a.startedAt!);
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(second!.startedAt).toBeGreaterThanOrEqual(first!.endedAt!);
    // Only this job's events, the enqueue first.
    expect(view.events[0]!.type).toBe('job.enqueued');
    expect(view.enqueuedEventAt).toBeDefined();
    expect(view.events.map((e) => e.type).filter((x) => x !== 'job.enqueued')).toEqual([
      'job.started', 'job.failed', 'job.retried', 'job.started', 'job.failed', 'job.retried', 'job.started', 'job.completed',
    ]);
    expect(view.read.chunks).toBeLessThanOrEqual(10);
  });

  it('says partial when the bounded read stopped before the end of the window', async () => {
    const data = new OverseerData(app as unknown as OverseerApp, undefined, 15_000);
    const view = await jobTimeline(data, 'flaky', jobId, { chunk: 1, maxChunks: 2 });
    expect(view!.partial).toBe(true);
    expect(view!.reasons.join(' ')).toMatch(/stopped after 2 reads of 1 entries/);
    expect(view!.read.chunks).toBe(2);
    // What it read is still shown: the enqueue, perhaps the first start, no completed attempt.
    expect(view!.attempts.some((a) => a.outcome === 'completed')).toBe(false);
  });

  it('answers 404 for an unknown job and for an unknown queue', async () => {
    expect((await get('/api/jobs/flaky/no-such-job/timeline')).status).toBe(404);
    expect((await get(`/api/jobs/nope/${jobId}/timeline`)).status).toBe(404);
  });

  it('tells an attempt whose worker was lost (started again) as interrupted, and one without an outcome as unknown', () => {
    const ev = (type: string, at: number, fields: Record<string, unknown>) => ({ queue: 'q', cursor: `${at}-0:0`, event: { type, at, queue: 'q', id: 'j', task: 't', worker: 'w', ...fields } }) as never;
    const attempts = attemptsOf([
      ev('job.enqueued', 1, {}),
      ev('job.started', 2, { attempt: 1, worker: 'w1' }),
      ev('job.started', 5, { attempt: 1, worker: 'w2' }),
      ev('job.failed', 7, { attempt: 1, worker: 'w2', durationMs: 2, error: 'boom', willRetry: false }),
      ev('job.dead', 8, { attempt: 1, worker: 'w2', reason: 'max-tries', error: 'boom' }),
    ], { status: 'failed' });
    expect(attempts).toMatchObject([
      { attempt: 1, worker: 'w1', outcome: 'interrupted', startedAt: 2 },
      { attempt: 1, worker: 'w2', outcome: 'dead', deadReason: 'max-tries', error: 'boom', startedAt: 5, endedAt: 7, durationMs: 2 },
    ]);
    expect(attemptsOf([ev('job.started', 2, { attempt: 1 })], { status: 'completed' })[0]!.outcome).toBe('unknown');
    expect(attemptsOf([ev('job.started', 2, { attempt: 1 })], { status: 'active' })[0]!.outcome).toBe('running');
  });

  it('shares one event reader over its requests (no connection per request), closed with the handler', async () => {
    const made: { closed: boolean }[] = [];
    const real = app.broker.eventReader.bind(app.broker);
    const own = overseer(app, { log: app.log });
    app.broker.eventReader = () => {
      const reader = real();
      const mark = { closed: false };
      made.push(mark);
      const close = reader.close.bind(reader);
      reader.close = async () => {
        mark.closed = true;
        await close();
      };
      return reader;
    };
    try {
      const views = await Promise.all([1, 2, 3].map(() => own(new Request(`http://x/api/jobs/flaky/${jobId}/timeline`))));
      expect(views.map((r) => r.status)).toEqual([200, 200, 200]);
      expect((await own(new Request(`http://x/api/jobs/flaky/${jobId}/timeline`))).status).toBe(200);
      expect(made).toHaveLength(1);
      expect(made[0]!.closed).toBe(false);
    } finally {
      app.broker.eventReader = real;
      await own.close();
    }
    expect(made[0]!.closed).toBe(true);
  });
});
