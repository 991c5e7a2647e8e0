// Overseer in a real browser (Debian's chromium driven by playwright-core): the page shows the
// queues and their counts change live as a real worker runs jobs; replay from the DLQ, abort
// of a running job, pause and resume of a queue by button; read-only mode hides the actions; a job whose arguments hold HTML
// and script renders inert, as text; search by id. Skipped only where chromium is absent and
// CI is unset (CI installs it: .ci/run).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, noBrowser, type TestBrowser } from './support/browser.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

/** Generous: the suite runs on loaded 2-core machines. */
const WAIT = { timeout: 15_000 };

const t = testApp({ logLevel: 'silent' }, 'ovweb');
const { app } = t;
const shop = app.queue('shop', { maxTries: 1, concurrency: 4 });
const charge = shop.task('charge', async (_ctx, cents: number) => ({ charged: cents }));
let explodeRuns = 0;
const explode = shop.task('explode', async () => {
  explodeRuns++;
  throw new Error('card declined');
});
const aborted: string[] = [];
const hang = shop.task('hang', (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
  aborted.push(ctx.id);
  reject(ctx.signal.reason as Error);
}, { once: true })));
const show = shop.task('show', async (_ctx, ..._args: string[]) => null);
const delivered: number[] = [];
const deliver = app.queue('parcels', { concurrency: 2 }).task('deliver', async (_ctx, n: number) => {
  delivered.push(n);
  return n;
});

// Fair groups, served by no worker: its jobs wait in their groups.
const tenants = app.queue('tenants', { groups: { key: (args) => args[0] as string } }).task('report', async (_ctx, _tenant: string) => null);

const tracker = workers({ heartbeatInterval: 500 });
const servers: { handler: OverseerHandler; served: Served }[] = [];
let tb: TestBrowser;
const cspViolations: string[] = [];

async function serve(readOnly: boolean): Promise<string> {
  const handler = overseer(app, { readOnly, interval: 500 });
  const served = await serveHandler(handler);
  servers.push({ handler, served });
  return `${served.url}/`;
}

let url: string;
let readOnlyUrl: string;

const open = (address: string): Promise<Page> => tb.open(address);


describe.skipIf(noBrowser)('overseer in a browser', () => {
  beforeAll(async () => {
    url = await serve(false);
    readOnlyUrl = await serve(true);
    tb = await launchBrowser((page) =>
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await tracker.stopAll();
    for (const { handler, served } of servers) {
      await handler.close();
      await served.close();
    }
    await t.cleanup();
  });

  it('shows the real queues, and their counts change live as jobs are enqueued and a worker runs them', async () => {
    const page = await open(url);
    const ready = page.locator('[data-q="shop"][data-field="ready"]');
    await ready.getByText('0', { exact: true }).waitFor(WAIT);
    await page.locator('#live', { hasText: 'live' }).waitFor(WAIT);
    await charge.enqueueMany([[100], [200], [300]]);
    await ready.getByText('3', { exact: true }).waitFor(WAIT);
    await tracker.start(app, { queues: ['shop'] });
    await ready.getByText('0', { exact: true }).waitFor(WAIT);
    await page.locator('[data-q="shop"][data-field="completed"]').getByText('3', { exact: true }).waitFor(WAIT);
    // The feed shows the completions, and the workers page the live worker.
    await page.locator('.tag', { hasText: 'job.completed' }).first().waitFor(WAIT);
    await page.click('a[data-nav="workers"]');
    await page.locator('td', { hasText: String(process.pid) }).first().waitFor(WAIT);
    await page.close();
  });

  it("counts a queue's jobs waiting in fair groups as ready, and lists, pauses and resumes its groups", async () => {
    await tenants.enqueueMany([['acme'], ['acme'], ['globex']]);
    const page = await open(url);
    await page.locator('[data-q="tenants"][data-field="ready"]').getByText('3', { exact: true }).waitFor(WAIT);
    await page.locator('tr', { hasText: 'tenants' }).getByText('groups=3').waitFor(WAIT);
    // The queue's page lists its groups; a group is paused and resumed by its button.
    await page.click('a[href$="/queue/tenants"]');
    await page.locator('[data-group="acme"][data-field="waiting"]').getByText('2', { exact: true }).waitFor(WAIT);
    await page.click('button[data-group="acme"]');
    await page.locator('.tag.paused[data-group="acme"]').waitFor(WAIT);
    expect((await app.groups('tenants')).find((g) => g.key === 'acme')?.paused).toBe(true);
    await page.locator('button[data-group="acme"]', { hasText: 'Resume' }).click();
    await page.locator('.tag.paused[data-group="acme"]').waitFor({ ...WAIT, state: 'detached' });
    expect((await app.groups('tenants')).find((g) => g.key === 'acme')?.paused).toBe(false);
    await page.close();
  });

  it('replays a dead letter by button', async () => {
    const job = await explode.enqueue();
    await waitFor(async () => (await app.deadLetters('shop').count()) === 1, { ...WAIT, what: 'the dead letter' });
    const page = await open(`${url}#/dlq/shop`);
    await page.locator('td', { hasText: 'card declined' }).waitFor(WAIT);
    await page.locator('td code', { hasText: job.id }).waitFor(WAIT);
    await page.click('button.replay-one');
    await page.locator('.notice.ok', { hasText: `replayed ${job.id}` }).waitFor(WAIT);
    // The replayed job ran again (and failed again: maxTries 1).
    await waitFor(() => explodeRuns === 2, { ...WAIT, what: 'the replayed job run' });
    await page.close();
  });

  it("aborts a running job from its page: the handler's signal fires", async () => {
    const job = await hang.enqueue();
    await waitFor(async () => (await job.status()) === 'active', { ...WAIT, what: 'the job running' });
    const page = await open(`${url}#/job/shop/${encodeURIComponent(job.id)}`);
    await page.locator('#job-status', { hasText: 'active' }).waitFor(WAIT);
    await page.click('#abort');
    await page.click('#abort-confirm');
    await waitFor(() => aborted.includes(job.id), { ...WAIT, what: "the handler's signal" });
    await page.locator('#job-status', { hasText: 'aborted' }).waitFor(WAIT);
    await page.close();
  });

  it('pauses a queue by button: its running worker fetches none of its jobs until Resume is clicked', async () => {
    const worker = await tracker.start(app, { queues: ['parcels'] });
    // The worker runs the queue's jobs before the pause.
    await (await deliver.enqueue(0)).result({ timeout: '15s' });
    const page = await open(`${url}#/queue/parcels`);
    const badge = page.locator('#queue-paused');
    await page.locator('#pause').waitFor(WAIT);
    expect(await badge.isVisible()).toBe(false);
    await page.click('#pause');
    await page.locator('#queue-paused', { hasText: 'paused' }).waitFor({ state: 'visible', ...WAIT });
    await page.locator('#resume').waitFor(WAIT);
    expect(await app.isPaused('parcels')).toBe(true);

    const jobs = await deliver.enqueueMany([[1], [2], [3]]);
    await page.locator('.summary', { hasText: /^3 ready/ }).waitFor(WAIT);
    // The one fixed wait: the worker runs on, and the jobs stay waiting.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(worker.status).toBe('running');
    expect(await Promise.all(jobs.map((j) => j.status()))).toEqual(['waiting', 'waiting', 'waiting']);
    expect(delivered).toEqual([0]);
    // The overview shows the state too, with the button to resume.
    await page.goto(`${url}#/`);
    await page.locator('[data-q="parcels"][data-field="paused"]', { hasText: 'paused' }).waitFor(WAIT);
    await page.locator('button.pause-toggle[data-q="parcels"][data-action="resume"]').waitFor(WAIT);
    expect(await page.locator('[data-q="shop"][data-field="paused"]').count()).toBe(0);

    await page.goto(`${url}#/queue/parcels`);
    await page.click('#resume');
    expect(await Promise.all(jobs.map((j) => j.result({ timeout: '15s' })))).toEqual([1, 2, 3]);
    await badge.waitFor({ state: 'hidden', ...WAIT });
    await page.locator('#pause').waitFor(WAIT);
    expect(await app.isPaused('parcels')).toBe(false);
    await page.close();
  });

  it('renders a job whose arguments hold <script> and <img onerror> as inert text', async () => {
    const script = '<script>window.__pwned = 1; alert("script")</script>';
    const img = '<img src=x onerror="window.__pwned = 2; alert(\'img\')">';
    const job = await show.with({ delay: '1h' }).enqueue(script, img);
    const page = await open(`${url}#/job/shop/${encodeURIComponent(job.id)}`);
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const args = page.locator('pre.json').first();
    await args.waitFor(WAIT);
    const text = await args.textContent();
    expect(text).toContain(JSON.stringify(script).slice(1, -1));
    expect(text).toContain(JSON.stringify(img).slice(1, -1));
    expect(await page.locator('#page img').count()).toBe(0);
    expect(await page.locator('#page script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // The waiting list shows it too, as text.
    await page.goto(`${url}#/queue/shop?status=delayed`);
    await page.locator('td code', { hasText: job.id }).waitFor(WAIT);
    expect(await page.locator('#page img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('finds a job by its id from the search box', async () => {
    const job = await charge.with({ id: 'order-4711', delay: '1h' }).enqueue(4711);
    const page = await open(url);
    await page.fill('#search-id', job.id);
    await page.press('#search-id', 'Enter');
    await page.locator('h1', { hasText: 'order-4711' }).waitFor(WAIT);
    expect(page.url()).toContain('#/job/shop/order-4711');
    await page.locator('dd', { hasText: 'charge' }).waitFor(WAIT);
    await page.fill('#search-id', 'no-such-order');
    await page.press('#search-id', 'Enter');
    await page.locator('.notice.error', { hasText: "no job 'no-such-order'" }).waitFor(WAIT);
    await page.close();
  });

  it('read-only: hides the actions, and the server refuses a forged POST', async () => {
    const job = await hang.with({ delay: '1h' }).enqueue();
    await explode.enqueue();
    await waitFor(async () => (await app.deadLetters('shop').count()) >= 1, { ...WAIT, what: 'a dead letter' });
    const page = await open(`${readOnlyUrl}#/dlq/shop`);
    await page.locator('td', { hasText: 'card declined' }).first().waitFor(WAIT);
    expect(await page.locator('#replay-all, #replay-selected, #delete-selected, #purge, button.replay-one, input[type=checkbox]').count()).toBe(0);
    await page.goto(`${readOnlyUrl}#/job/shop/${encodeURIComponent(job.id)}`);
    await page.locator('#job-status', { hasText: 'delayed' }).waitFor(WAIT);
    expect(await page.locator('#abort').count()).toBe(0);
    await page.locator('#meta', { hasText: 'read-only' }).waitFor(WAIT);
    await page.goto(`${readOnlyUrl}#/queue/shop`);
    await page.locator('.summary', { hasText: 'ready' }).waitFor(WAIT);
    expect(await page.locator('#pause, #resume, button.pause-toggle').count()).toBe(0);
    await page.goto(readOnlyUrl);
    await page.locator('[data-q="shop"][data-field="ready"]').waitFor(WAIT);
    expect(await page.locator('button.pause-toggle').count()).toBe(0);
    const status = await page.evaluate(async (path) => (await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status, `api/jobs/shop/${encodeURIComponent(job.id)}/abort`);
    expect(status).toBe(403);
    expect(await job.status()).toBe('delayed');
    await page.close();
  });

  it('met its Content-Security-Policy everywhere (no violation reported)', () => {
    expect(cspViolations).toEqual([]);
  });
});
