// Screenshots of Overseer for the docs (docs/img/overseer-*.png: overview, queue, job, dead letters, workers, search): a demo app under a fresh key
// prefix with a worker running a steady trickle of jobs (some failing into the dead-letter
// queue), the dashboard served on a free port, pages shot with Debian's chromium; the prefix's
// keys are removed after. `npx tsx scripts/screenshots.ts` (Redis at REDIS_URL).

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { chromium } from 'playwright-core';
import { Millrace, Retry } from '../src/index.js';
import { overseer } from '../src/overseer/index.js';
import { removePrefix } from '../src/testing/prefix.js';
import { buildOverseer } from './build-overseer.js';

const out = fileURLToPath(new URL('../docs/img/', import.meta.url));
const prefix = `overseer-shots-${randomBytes(3).toString('hex')}`;
const app = new Millrace({ prefix, logLevel: 'silent' });
const emails = app.queue('emails', { concurrency: 4, maxTries: 2 });
const reports = app.queue('reports', { concurrency: 2 });
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const sendWelcome = emails.task('send_welcome', async (ctx, to: string, name: string) => {
  await ctx.progress(50);
  await ctx.addLog(`rendering the welcome mail for ${name}`);
  await sleep(50 + Math.random() * 150, ctx.signal);
  if (to.endsWith('@bounce.example')) throw new Error(`550 mailbox unavailable: ${to}`);
  await ctx.addLog('handed to the mail relay');
  await ctx.progress(100);
  return { sent: true, messageId: `<${randomBytes(6).toString('hex')}@mail.example>` };
});
const buildReport = reports.task('build_report', async (ctx, month: string) => {
  await sleep(300 + Math.random() * 600, ctx.signal);
  if (Math.random() < 0.1) throw new Retry('2s');
  return { month, rows: Math.floor(Math.random() * 10_000) };
});

async function main(): Promise<void> {
  await buildOverseer();
  await app.addSchedule('0 3 * * *', buildReport, { name: 'nightly-report', args: ['current'], tz: 'Europe/Berlin' });
  const worker = app.worker({ handleSignals: false, heartbeatInterval: 1000 });
  await worker.start();
  const handler = overseer(app, { interval: 1000 });
  const server = createServer(getRequestListener(handler));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const stop = new AbortController();
  // A steady trickle, so the chart and the counts have something to show.
  const trickle = (async () => {
    for (let i = 0; !stop.signal.aborted; i++) {
      await sendWelcome.enqueueMany(Array.from({ length: 8 }, (_, k) => [`user${i * 8 + k}@${(i * 8 + k) % 23 === 0 ? 'bounce' : 'mail'}.example`, `User ${i * 8 + k}`]));
      if (i % 3 === 0) await buildReport.enqueue(`2026-${String((i % 12) + 1).padStart(2, '0')}`);
      await sleep(400, stop.signal);
    }
  })();
  await sendWelcome.with({ delay: '2h', priority: 'high' }).enqueue('ada@mail.example', 'Ada');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(url);
    await sleep(40_000); // 40 s of history on the chart
    await page.reload(); // the 24 h chart as the heartbeats have counted it by now
    await page.locator('#queues td').first().waitFor();
    await sleep(1500);
    await page.screenshot({ path: `${out}overseer-overview.png` });
    await page.goto(`${url}#/queue/emails?status=completed`);
    await page.locator('td code').first().waitFor();
    await page.screenshot({ path: `${out}overseer-queue.png` });
    const id = await page.locator('td code').first().textContent();
    await page.goto(`${url}#/job/emails/${encodeURIComponent(id!)}`);
    await page.locator('#job-status').waitFor();
    await page.screenshot({ path: `${out}overseer-job.png`, fullPage: true });
    await page.goto(`${url}#/dlq/emails`);
    await page.locator('button.replay-one').first().waitFor();
    await page.locator('button.link').first().click();
    await page.screenshot({ path: `${out}overseer-dlq.png` });
    await page.goto(`${url}#/workers`);
    await page.locator('table tbody tr').first().waitFor();
    await page.screenshot({ path: `${out}overseer-workers.png` });
    await page.goto(`${url}#/search?text=bounce.example`);
    await page.locator('#search-ended:not(:text("searching…"))').waitFor();
    await page.screenshot({ path: `${out}overseer-search.png` });
  } finally {
    stop.abort();
    await trickle;
    await browser.close();
    await handler.close();
    server.closeAllConnections();
    server.close();
    await worker.stop({ grace: 2000 });
    await app.close();
    await removePrefix(app.redisSetup().settings, prefix);
  }
  process.stdout.write(`screenshots in ${out}\n`);
}

await main();
