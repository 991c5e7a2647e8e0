// A real browser for the dashboard's tests: Debian's chromium driven by playwright-core, with the
// flags this machine needs (no sandbox as root, no background networking on a closed network).
// The tests are skipped only where chromium is absent and CI is unset (CI installs it).

import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export const noBrowser = !existsSync(CHROMIUM) && !process.env.CI;

export interface TestBrowser {
  browser: Browser;
  context: BrowserContext;
  /** A new page at `address`, `onPage` (e.g. a console listener) set before it loads. */
  open(address: string): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(onPage?: (page: Page) => void): Promise<TestBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return {
    browser,
    context,
    async open(address) {
      const page = await context.newPage();
      onPage?.(page);
      await page.goto(address);
      return page;
    },
    async close() {
      await context.close();
      await browser.close();
    },
  };
}
