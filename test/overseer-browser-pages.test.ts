// The load-test reports page and the job page's attempts section in a real browser (Debian's
// chromium driven by playwright-core): a run's row links to its report with ratings, findings
// and recommendations; a job that failed once then completed lists both attempts, its error
// (which holds HTML) shown as text. Skipped only where chromium is absent and CI is unset.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, noBrowser, type TestBrowser } from './support/browser.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { runLoadTest, type LoadTestReport } from '../src/cli/loadTest.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

/** Generous: the suite runs on loaded 2-core machines. */
const WAIT = { timeout: 15_000 };

const t = testApp({ logLevel: 'silent' }, 'ovpages');
const { app } = t;
app.queue('load_test', { concurrency: 10 }).task('io_simulation_task', async (_ctx, ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20)));
  return ms;
});
const HTML_ERROR = '<img src=x onerror="window.__pwned = 1">';
const onceThenOk = app.queue('flaky', { maxTries: 2, backoff: { type: 'fixed', base: 10, jitter: false } }).task('once_then_ok', async (ctx) => {
  if (ctx.attempt === 1) throw new Error(HTML_ERROR);
  return 'ok';
});

const tracker = workers({ heartbeatInterval: 200 });
let handler: OverseerHandler;
let served: Served;
let tb: TestBrowser;
let report: LoadTestReport;

const open = (address: string): Promise<Page> => tb.open(address);


describe.skipIf(noBrowser)('overseer pages in a browser: load tests, attempts', () => {
  beforeAll(async () => {
    handler = overseer(app, { interval: 500 });
    served = await serveHandler(handler);
    await tracker.start(app, { queues: ['load_test', 'flaky'] });
    await waitFor(async () => (await app.workers()).length > 0, { ...WAIT, what: 'the worker' });
    report = await runLoadTest(app, { n: 6, type: 'io', batchSize: 3, delayMs: 0, queue: 'load_test', wait: true, timeoutMs: 15_000 });
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await tracker.stopAll();
    await handler?.close();
    await served?.close();
    await t.cleanup();
  });

  it('lists the load tests and shows a report with its ratings, findings and recommendations', async () => {
    const page = await open(`${served.url}/`);
    await page.click('a[data-nav="load-tests"]');
    const row = page.locator('a', { hasText: report.id });
    await row.waitFor(WAIT);
    await row.click();
    await page.locator('#report-facts').waitFor(WAIT);
    expect(await page.locator('#report-facts').innerText()).toContain('6 io jobs in batches of 3');
    await page.locator('#report-findings li').first().waitFor(WAIT);
    expect(await page.locator('#report-findings li').count()).toBe(report.analysis.findings.length);
    expect(await page.locator('#report-recommendations li').count()).toBe(report.analysis.recommendations.length);
    expect(await page.locator('.tag', { hasText: report.analysis.overall }).count()).toBeGreaterThan(0);
    await page.close();
  });

  it("lists a job's attempts with their outcomes, its error as text", async () => {
    const job = await onceThenOk.enqueue();
    await waitFor(async () => (await job.info()).status === 'completed', { ...WAIT, what: 'the job to complete' });
    const page = await open(`${served.url}/#/job/flaky/${encodeURIComponent(job.id)}`);
    const rows = page.locator('#job-attempts tbody tr');
    await page.locator('#job-attempts .tag', { hasText: 'completed' }).waitFor(WAIT);
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).innerText()).toContain('retried');
    expect(await rows.nth(0).innerText()).toContain(HTML_ERROR);
    expect(await page.locator('#job-attempts img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#attempts-partial').count()).toBe(0);
    await page.close();
  });
});
