// Overseer's throughput history route against a real Redis: GET /api/history per minute, one
// queue or every queue summed, filled by workers' heartbeats and kept over a dashboard's and a
// worker's restart; bad parameters answer 400, an unknown queue 404.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

const t = testApp({ logLevel: 'silent' }, 'ovhist');
const { app } = t;
const mails = app.queue('mails', { maxTries: 1 });
const send = mails.task('send', async () => 'sent');
const broken = mails.task('broken', async () => {
  throw new Error('broken');
});
const reports = app.queue('reports').task('build', async () => 'built');

const tracker = workers({ heartbeatInterval: 200, heartbeatTtl: 1000 });
let handler: OverseerHandler;
let served: Served;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, body: await res.json() };
}

const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

beforeAll(async () => {
  handler = overseer(app);
  served = await serveHandler(handler);
});

afterAll(async () => {
  await tracker.stopAll();
  await handler.close();
  await served.close();
  await t.cleanup();
});

describe('overseer history', () => {
  it('is empty per minute over the last 24 hours before any job ended', async () => {
    const before = Date.now();
    const { status, body } = await get('/api/history');
    expect(status).toBe(200);
    expect(body).toMatchObject({ queue: null, hours: 24, stepMs: 60_000 });
    expect(body.completed).toHaveLength(24 * 60 + 1);
    expect(body.failed).toHaveLength(24 * 60 + 1);
    expect(body.start).toBe(Math.floor((before - 24 * 3_600_000) / 60_000) * 60_000);
    expect(total(body.completed) + total(body.failed)).toBe(0);
  });

  it("counts the workers' completed and failed jobs per queue and summed, over restarts of the worker and the dashboard", async () => {
    let w = await tracker.start(app);
    const jobs = [...(await send.enqueueMany([[], [], []])), await broken.enqueue(), await reports.enqueue()];
    await Promise.all(jobs.map((j) => j.result().catch(() => undefined)));
    const mailsOf = async () => (await get('/api/history?queue=mails&hours=1')).body;
    await waitFor(async () => total((await mailsOf()).completed) === 3 && total((await mailsOf()).failed) === 1, { what: 'the heartbeat to bring the jobs' });
    const one = await mailsOf();
    expect(one).toMatchObject({ queue: 'mails', hours: 1 });
    expect(one.completed).toHaveLength(61);
    await waitFor(async () => total((await get('/api/history')).body.completed) === 4, { what: 'every queue summed' });

    // The worker restarts: its next process adds to the history; the dashboard restarts too.
    await w.stop({ grace: 1000 });
    w = await tracker.start(app);
    await (await send.enqueue()).result();
    await w.stop({ grace: 1000 });
    await handler.close();
    await served.close();
    handler = overseer(app);
    served = await serveHandler(handler);
    const after = await mailsOf();
    expect([total(after.completed), total(after.failed)]).toEqual([4, 1]);
    const week = await get('/api/history?hours=168');
    expect(week.status).toBe(200);
    expect(week.body.completed).toHaveLength(168 * 60 + 1);
    expect(total(week.body.completed)).toBe(5);
  });

  it('refuses bad parameters with a 400 naming them, and an unknown queue with a 404', async () => {
    for (const hours of ['0', '169', '1.5', 'abc', '-1']) {
      const { status, body } = await get(`/api/history?hours=${hours}`);
      expect(status).toBe(400);
      expect(body.error).toContain("'hours'");
    }
    const unknown = await get('/api/history?queue=nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain("unknown queue 'nope'");
  });
});
