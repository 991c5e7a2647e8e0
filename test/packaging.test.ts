// The package as a clone installs it: `npm ci` builds dist/ (the prepare script), so that code in
// the clone can `import 'millrace'`; the image installs without dev dependencies, so without it.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

/** Runs an ES module's lines in a fresh node in the repository (importing the package by name); its stdout. */
function runModule(lines: string[]): string {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  return execFileSync(process.execPath, ['--input-type=module', '-e', lines.join('\n')], { cwd, encoding: 'utf8', timeout: 20_000 }).trim();
}

describe('packaging', () => {
  it('builds dist/ when a clone is installed', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; exports: Record<string, { import: string }> };
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.exports['.']!.import).toBe('./dist/index.js');
  });

  it("exports the testing kit as 'millrace/testing', usable from the built package", () => {
    const pkg = JSON.parse(read('package.json')) as { exports: Record<string, { import: string; types: string }> };
    expect(pkg.exports['./testing']).toEqual({ types: './dist/testing/index.d.ts', import: './dist/testing/index.js' });
    // The package imports itself by name (as a user's project would), no Redis reachable.
    const out = runModule([
      "import { Millrace } from 'millrace';",
      "import { createTestApp } from 'millrace/testing';",
      "const app = new Millrace({ redis: 'redis://127.0.0.1:1', logLevel: 'silent' });",
      "const add = app.queue('q').task('add', async (_ctx, a, b) => a + b);",
      'const t = await createTestApp(app);',
      'console.log(await t.run(add, 2, 3));',
      'await t.close();',
    ]);
    expect(out).toBe('5');
  });

  it("exports the dashboard as 'millrace/overseer', serving its built front end from dist/", () => {
    const pkg = JSON.parse(read('package.json')) as { exports: Record<string, { import: string; types: string }> };
    expect(pkg.exports['./overseer']).toEqual({ types: './dist/overseer/index.d.ts', import: './dist/overseer/index.js' });
    const out = runModule([
      "import { Millrace } from 'millrace';",
      "import { overseer } from 'millrace/overseer';",
      "const app = new Millrace({ redis: 'redis://127.0.0.1:1', logLevel: 'silent' });",
      'const handler = overseer(app, { basePath: "/ops" });',
      "const page = await handler(new Request('http://localhost/ops/'));",
      "const js = await handler(new Request('http://localhost/ops/assets/app.js'));",
      "console.log(page.status, (await page.text()).includes('assets/app.js'), js.status, js.headers.get('content-type'));",
      'await handler.close();',
      'await app.close();',
    ]);
    expect(out).toBe('200 true 200 text/javascript; charset=utf-8');
  });

  it('installs the image without lifecycle scripts (tsc is a dev dependency; the image runs the source through tsx)', () => {
    const installs = read('Dockerfile').split('\n').filter((line) => /\bnpm ci\b/.test(line));
    expect(installs.length).toBeGreaterThan(0);
    for (const line of installs) expect(line).toMatch(/--omit=dev\b.*--ignore-scripts\b|--ignore-scripts\b.*--omit=dev\b/);
  });
});
