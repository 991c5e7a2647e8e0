// The dead-letter page's bulk operations in a real browser (Debian's chromium driven by
// playwright-core): "Replay all" confirmed, its progress followed to done and the count down to
// 0; "Delete matching" a filter, confirmed by the queue's name (the filter shown as text);
// Cancel of a running operation; nothing of it drawn read-only. Skipped only where chromium is
// absent and CI is unset.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, noBrowser, type TestBrowser } from './support/browser.js';
import type { DeadLetterQueue } from '../src/client.js';
import { overseer, type OverseerHandler } from '../src/overseer/index.js';
import { testApp, waitFor, workers } from './helpers.js';
import { serveHandler, type Served } from './support/overseer.js';

/** Generous: the suite runs on loaded 2-core machines. */
const WAIT = { timeout: 15_000 };
const HTML = '<img src=x onerror="window.__pwned = 1">';

const t = testApp({ logLevel: 'silent' }, 'ovbulkweb');
const { app } = t;
const QUEUES = ['crypt', 'vault', 'slowq'] as const;
const tasks = Object.fromEntries(QUEUES.map((name) => {
  const q = app.queue(name, { maxTries: 1, concurrency: 100 });
  const fail = (n: number) => {
    throw new Error(`boom ${n}`);
  };
  return [name, { explode: q.task('explode', async (_ctx, n: number) => fail(n)), fizzle: q.task('fizzle', async (_ctx, n: number) => fail(n)) }];
}));

/** Holds each DLQ replay of queue 'slowq' until released (a Cancel has a running operation to stop). */
const gates: (() => void)[] = [];
function gated(target: typeof app): typeof app {
  const bind = <T extends object>(obj: T, prop: string | symbol) => {
    const v = Reflect.get(obj, prop, obj) as unknown;
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(obj) : v;
  };
  return new Proxy(target, {
    get(obj, prop) {
      if (prop !== 'deadLetters') return bind(obj, prop);
      return (queue: string) => {
        const dlq = obj.deadLetters(queue);
        if (queue !== 'slowq') return dlq;
        return new Proxy(dlq, {
          get: (d, p) => (p !== 'replay' ? bind(d, p) : async (...args: Parameters<DeadLetterQueue['replay']>) => {
            await new Promise<void>((resolve) => gates.push(resolve));
            return d.replay(...args);
          }),
        });
      };
    },
  });
}

const tracker = workers({ heartbeatInterval: 200 });
const handlers: { handler: OverseerHandler; served: Served }[] = [];
let url: string;
let slowUrl: string;
let readOnlyUrl: string;
let tb: TestBrowser;

async function serve(target: typeof app, readOnly = false): Promise<string> {
  const handler = overseer(target, { readOnly, interval: 500 });
  const served = await serveHandler(handler);
  handlers.push({ handler, served });
  return served.url;
}

const open = (address: string): Promise<Page> => tb.open(address);

const count = (queue: string) => app.deadLetters(queue).count();

describe.skipIf(noBrowser)('overseer bulk operations in a browser', () => {
  beforeAll(async () => {
    const numbers = (k: number) => Array.from({ length: k }, (_, i) => [i] as [number]);
    await tasks.crypt!.explode.enqueueMany(numbers(1200));
    await tasks.vault!.explode.enqueueMany(numbers(300));
    await tasks.vault!.fizzle.enqueueMany(numbers(200));
    await tasks.slowq!.explode.enqueueMany(numbers(1200));
    const worker = await tracker.start(app, { queues: [...QUEUES] });
    await waitFor(async () => (await count('crypt')) === 1200 && (await count('vault')) === 500 && (await count('slowq')) === 1200, { timeout: 30_000, what: 'the dead letters' });
    // From here no worker runs them: replayed jobs stay waiting, and the count goes to 0.
    await worker.stop({ grace: 1000 });
    url = await serve(app);
    slowUrl = await serve(gated(app));
    readOnlyUrl = await serve(app, true);
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    for (const open of gates.splice(0)) open();
    await tb?.close();
    await tracker.stopAll();
    for (const { handler, served } of handlers) {
      await handler.close();
      await served.close();
    }
    await t.cleanup();
  });

  it('replays all after a confirmation, the progress reaching done and the count 0', async () => {
    const page = await open(`${url}/#/dlq/crypt`);
    const replayAll = page.locator('#replay-all', { hasText: 'Replay all (1,200)' });
    await replayAll.waitFor(WAIT);
    await replayAll.click();
    await page.locator('#bulk-confirm', { hasText: 'Replay all 1,200 dead letter(s) of crypt?' }).waitFor(WAIT);
    await page.click('#bulk-confirm-go');
    await page.locator('#bulk-status[data-state="done"]').waitFor(WAIT);
    expect(await page.locator('#bulk-status').innerText()).toContain('1,200 of 1,200 replayed');
    expect(await page.locator('#bulk-bar').getAttribute('value')).toBe('1200');
    await page.locator('.pager', { hasText: '0 dead letter(s)' }).waitFor(WAIT);
    await page.locator('td.empty', { hasText: 'no dead letters' }).waitFor(WAIT);
    expect(await page.locator('#replay-all').isDisabled()).toBe(true);
    expect(await count('crypt')).toBe(0);
    expect((await app.inspector.listJobs(app.queues.get('crypt')!, 'waiting', 5000)).length).toBe(1200);
    await page.close();
  });

  it('deletes the dead letters matching a filter once the queue name is typed; the filter is shown as text', async () => {
    const page = await open(`${url}/#/dlq/vault`);
    await page.locator('#replay-all', { hasText: 'Replay all (500)' }).waitFor(WAIT);
    expect(await page.locator('#delete-matching').isDisabled()).toBe(true);
    // Markup typed into the filter is shown as it is, and runs nothing.
    await page.fill('#bulk-text', HTML);
    await page.click('#replay-matching');
    await page.locator('#bulk-confirm', { hasText: `text "${HTML}"` }).waitFor(WAIT);
    expect(await page.locator('#bulk-confirm img').count()).toBe(0);
    await page.click('#bulk-confirm-cancel');
    await page.fill('#bulk-text', '');
    await page.fill('#bulk-task', 'fizzle');
    await page.click('#delete-matching');
    await page.locator('#bulk-confirm', { hasText: 'Delete the dead letters with task fizzle of vault?' }).waitFor(WAIT);
    expect(await page.locator('#bulk-confirm-go').isDisabled()).toBe(true);
    await page.fill('#bulk-confirm-name', 'vault');
    await page.click('#bulk-confirm-go');
    await page.locator('#bulk-status[data-state="done"]').waitFor(WAIT);
    expect(await page.locator('#bulk-status').innerText()).toContain('200 of 500 deleted · read 500 · matched 200');
    await page.locator('.pager', { hasText: '300 dead letter(s)' }).waitFor(WAIT);
    expect(await count('vault')).toBe(300);
    expect((await app.deadLetters('vault').list({ limit: 1000 })).every((e) => e.task === 'explode')).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await page.close();
  });

  it('cancels a running operation from its progress bar', async () => {
    const page = await open(`${slowUrl}/#/dlq/slowq`);
    await page.locator('#replay-all', { hasText: 'Replay all (1,200)' }).waitFor(WAIT);
    await page.click('#replay-all');
    await page.click('#bulk-confirm-go');
    // The first batch is held: the page shows the operation running, read 250 (one chunk).
    await waitFor(() => gates.length === 1, { ...WAIT, what: 'the first batch' });
    await page.locator('#bulk-status[data-state="running"]', { hasText: 'read 250' }).waitFor(WAIT);
    expect(await page.locator('#replay-all').isDisabled()).toBe(true);
    gates.shift()!();
    await waitFor(() => gates.length === 1, { ...WAIT, what: 'the second batch' });
    await page.locator('#bulk-status', { hasText: '100 of 1,200 replayed' }).waitFor(WAIT);
    await page.click('#bulk-cancel');
    // Once the server has the cancel, the batch in flight ends it.
    await waitFor(async () => ((await (await fetch(`${slowUrl}/api/operations`)).json()) as { operations: { cancelledBy?: string }[] }).operations[0]?.cancelledBy,
      { ...WAIT, what: 'the cancel' });
    gates.shift()!();
    await page.locator('#bulk-status[data-state="cancelled"]').waitFor(WAIT);
    expect(await page.locator('#bulk-status').innerText()).toContain('200 of 1,200 replayed');
    expect(await page.locator('#bulk-cancel').count()).toBe(0);
    await page.locator('.pager', { hasText: '1000 dead letter(s)' }).waitFor(WAIT);
    expect(await count('slowq')).toBe(1000);
    await page.close();
  });

  it('read-only: draws no bulk action', async () => {
    const page = await open(`${readOnlyUrl}/#/dlq/vault`);
    await page.locator('.pager', { hasText: '300 dead letter(s)' }).waitFor(WAIT);
    expect(await page.locator('#replay-all, #delete-all, #replay-matching, #delete-matching, #bulk-task, #bulk-cancel, #purge').count()).toBe(0);
    await page.close();
  });
});
