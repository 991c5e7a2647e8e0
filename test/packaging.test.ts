// The package as a clone installs it: `npm ci` builds dist/ (the prepare script), so that code in
// the clone can `import 'millrace'`; the image installs without dev dependencies, so without it.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

describe('packaging', () => {
  it('builds dist/ when a clone is installed', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; exports: Record<string, { import: string }> };
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.exports['.']!.import).toBe('./dist/index.js');
  });

  it('installs the image without lifecycle scripts (tsc is a dev dependency; the image runs the source through tsx)', () => {
    const installs = read('Dockerfile').split('\n').filter((line) => /\bnpm ci\b/.test(line));
    expect(installs.length).toBeGreaterThan(0);
    for (const line of installs) expect(line).toMatch(/--omit=dev\b.*--ignore-scripts\b|--ignore-scripts\b.*--omit=dev\b/);
  });
});
