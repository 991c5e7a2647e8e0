// The dashboard's search page in a real browser (Debian's chromium driven by playwright-core):
// a marker in the arguments of one waiting job among 3000 and of one delayed job is found, both
// drawn while the answer streams, with how much was read; the header's box lands on the search
// page for a text that is no job's id; Cancel and leaving the page abort the request (the server
// sees it go); HTML in the arguments shows in a snippet as text. The cancel and streaming cases
// hold the answer on the server after a chosen line (a gate in front of the handler), so no
// timing decides them. Skipped only where chromium is absent and CI is unset.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, noBrowser, type TestBrowser } from './support/browser.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import type { SearchMessage } from '../src/overseer/types.js';
import { testApp, waitFor } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

/** Generous: the suite runs on loaded 2-core machines. */
const WAIT = { timeout: 15_000 };

const t = testApp({ logLevel: 'silent' }, 'ovsearchweb');
const { app } = t;
// No worker serves these queues: every job stays waiting (or delayed).
const idle = app.queue('idle');
const order = idle.task('order', async (_ctx, customer: string, n: number) => `${customer}${n}`);
const remind = idle.task('remind', async (_ctx, note: string) => note);
const BULK = 3000;
const MARKER = 'zebra-marker-7c1e';
const XSS = '<img src=x onerror=window.__xss=1>';

/**
 * A hold on the next search answer: lines pass until one `after` accepts has gone, then the
 * rest waits until release() (or the client goes, which `cancelled` tells).
 */
interface Gate {
  after: (m: SearchMessage) => boolean;
  release(): void;
  readonly released: Promise<void>;
  cancelled: boolean;
}

let gate: Gate | undefined;

function hold(after: (m: SearchMessage) => boolean): Gate {
  let release = () => undefined as void;
  const released = new Promise<void>((resolve) => (release = resolve));
  gate = { after, release, released, cancelled: false };
  return gate;
}

/** The search answer held by the gate: passed on line by line, up to and including the gate's line. */
function gated(res: Response, g: Gate): Response {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = '';
  let open = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const nl = buffer.indexOf('\n');
        if (nl >= 0) {
          const line = buffer.slice(0, nl + 1);
          buffer = buffer.slice(nl + 1);
          controller.enqueue(encoder.encode(line));
          if (!open && g.after(JSON.parse(line) as SearchMessage)) {
            open = true;
            await g.released;
          }
          return;
        }
        const { value, done } = await reader.read();
        if (done) {
          if (buffer) controller.enqueue(encoder.encode(buffer));
          return controller.close();
        }
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel(reason) {
      g.cancelled = true;
      g.release();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

let handler: OverseerHandler;
let served: Served;
let tb: TestBrowser;

const open = (address: string): Promise<Page> => tb.open(address);

/** The numbers of the status line: "scanned N of ~M + kept results · matched K · X ms". */
async function progress(page: Page): Promise<{ scanned: number; total: number; matched: number }> {
  const text = await page.locator('#search-progress').innerText();
  const m = /scanned (\d+) of ~(\d+) \+ kept results · matched (\d+) · \d+ ms/.exec(text);
  if (!m) throw new Error(`unexpected status line: ${text}`);
  return { scanned: Number(m[1]), total: Number(m[2]), matched: Number(m[3]) };
}

const ended = (page: Page, text: string) => page.locator('#search-ended', { hasText: text }).waitFor(WAIT);


describe.skipIf(noBrowser)('overseer search page in a browser', () => {
  beforeAll(async () => {
    handler = overseer(app, { interval: 500 });
    served = await serveHandler(async (req) => {
      const res = await handler(req);
      const g = gate;
      if (!g || !new URL(req.url).pathname.endsWith('/api/search') || res.status !== 200) return res;
      gate = undefined;
      return gated(res, g);
    });
    await order.enqueueMany(Array.from({ length: BULK }, (_, i) => (i === 1717 ? [`customer ${MARKER}`, i] : [`customer-${i}`, i]) as [string, number]));
    await remind.with({ delay: '1h' }).enqueue(`call back ${MARKER}`);
    await remind.with({ delay: '2h' }).enqueue(`xss-probe ${XSS}`);
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    gate?.release();
    await handler?.close();
    await served?.close();
    await t.cleanup();
  });

  it('finds the marker in a waiting job among 3000 and in a delayed one, with how much it read', async () => {
    const page = await open(`${served.url}/`);
    await page.click('a[data-nav="search"]');
    await page.locator('#search-form').waitFor(WAIT);
    expect(await page.locator('a.current[data-nav="search"]').count()).toBe(1);
    // The queue list comes from the overview.
    await page.locator('#search-queue option[value="idle"]').waitFor({ state: 'attached', ...WAIT });
    await page.fill('#search-text', MARKER);
    await page.click('#search-run');
    await ended(page, 'complete');
    const rows = page.locator('#search-results tbody tr');
    expect(await rows.count()).toBe(2);
    const states = await page.locator('#search-results tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-state')).sort());
    expect(states).toEqual(['delayed', 'waiting']);
    const waiting = page.locator('#search-results tbody tr[data-state="waiting"]');
    expect(await waiting.innerText()).toContain(`customer ${MARKER}`);
    expect(await waiting.locator('mark').innerText()).toBe(MARKER);
    const href = await waiting.locator('a[href^="#/job/"]').getAttribute('href');
    expect(href).toMatch(/^#\/job\/idle\/.+/);
    const { scanned, total, matched } = await progress(page);
    expect(scanned).toBeGreaterThanOrEqual(BULK);
    expect(total).toBeGreaterThanOrEqual(BULK + 2);
    expect(matched).toBe(2);
    // The route holds the search: opened again, it runs again.
    expect(new URL(page.url()).hash).toBe(`#/search?text=${MARKER}`);
    await page.reload();
    await ended(page, 'complete');
    expect(await page.inputValue('#search-text')).toBe(MARKER);
    expect(await rows.count()).toBe(2);
    // The job's link leads to its page.
    await page.locator('#search-results tbody tr[data-state="waiting"] a[href^="#/job/"]').click();
    await page.locator('#job-status', { hasText: 'waiting' }).waitFor(WAIT);
    await page.close();
  });

  it('draws each match as it arrives, before the search has ended', async () => {
    const g = hold((m) => m.type === 'match');
    const page = await open(`${served.url}/#/search?text=${MARKER}&queue=idle`);
    await page.locator('#search-results tbody tr[data-state]').first().waitFor(WAIT);
    expect(await page.locator('#search-ended').innerText()).toBe('searching…');
    expect(await page.isEnabled('#search-cancel')).toBe(true);
    expect(await page.inputValue('#search-queue')).toBe('idle');
    g.release();
    await ended(page, 'complete');
    expect(await page.locator('#search-results tbody tr[data-state]').count()).toBe(2);
    expect(await page.isEnabled('#search-cancel')).toBe(false);
    await page.close();
  });

  it('lands on the search page from the header box when no job has that id', async () => {
    const page = await open(`${served.url}/`);
    await page.fill('#search-id', MARKER);
    await page.press('#search-id', 'Enter');
    await page.locator('#search-form').waitFor(WAIT);
    await page.locator('.notice.error', { hasText: `no job '${MARKER}'` }).waitFor(WAIT);
    await ended(page, 'complete');
    expect(await page.inputValue('#search-text')).toBe(MARKER);
    expect(await page.locator('#search-results tbody tr[data-state]').count()).toBe(2);
    expect(new URL(page.url()).hash).toBe(`#/search?text=${MARKER}`);
    // An exact id still goes to the job's page.
    const job = await remind.with({ id: 'exact-id-4242', delay: '1h' }).enqueue('by id');
    await page.fill('#search-id', job.id);
    await page.press('#search-id', 'Enter');
    await page.locator('h1', { hasText: job.id }).waitFor(WAIT);
    expect(page.url()).toContain(`#/job/idle/${job.id}`);
    await page.close();
  });

  it('cancels a search: the page says so and the server sees the request go', async () => {
    // Held after its first line: the search cannot end before Cancel is clicked.
    const g = hold((m) => m.type === 'start');
    const page = await open(`${served.url}/#/search`);
    await page.fill('#search-text', 'nothing-has-this-text');
    await page.click('#search-run');
    const cancel = page.locator('#search-cancel:not([disabled])');
    await cancel.waitFor(WAIT);
    await page.locator('#search-progress', { hasText: `of ~` }).waitFor(WAIT);
    await cancel.click();
    await ended(page, 'cancelled');
    expect(await page.isEnabled('#search-cancel')).toBe(false);
    await waitFor(() => g.cancelled, { ...WAIT, what: 'the server to see the search cancelled' });
    // The same search, not held, runs to its end.
    await page.click('#search-run');
    await ended(page, 'complete');
    expect((await progress(page)).scanned).toBeGreaterThanOrEqual(BULK);
    expect(await page.locator('#search-results td.empty', { hasText: 'no match' }).count()).toBe(1);
    await page.close();
  });

  it('leaving the page aborts its search', async () => {
    const g = hold((m) => m.type === 'start');
    const page = await open(`${served.url}/#/search?text=nothing-has-this-text`);
    await page.locator('#search-cancel:not([disabled])').waitFor(WAIT);
    await page.click('a[data-nav="workers"]');
    await page.locator('h1', { hasText: 'Workers' }).waitFor(WAIT);
    await waitFor(() => g.cancelled, { ...WAIT, what: 'the server to see the search go' });
    await page.close();
  });

  it('shows HTML in the arguments as text in a snippet', async () => {
    const page = await open(`${served.url}/#/search?text=xss-probe`);
    await ended(page, 'complete');
    const snippet = page.locator('#search-results code.snippet');
    await snippet.waitFor(WAIT);
    expect(await snippet.innerText()).toContain(XSS);
    expect(await page.locator('#search-results img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.close();
  });

  it('says why a search could not run', async () => {
    const page = await open(`${served.url}/#/search?text=x&from=${Date.now()}&to=${Date.now() - 60_000}`);
    await ended(page, 'error');
    expect(await page.locator('.notice.error').innerText()).toContain("'from' must not be after 'to'");
    await page.close();
  });
});
