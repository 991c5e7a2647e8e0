// The front end's files, built by `npm run build` into dist/overseer/public/: found beside
// this module when it runs from dist/, or in dist/ when it runs from src/ (tsx); read once.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ASSET_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The folder of the built front end (the first that holds an index.html). */
export function assetsDir(): string {
  const candidates = [new URL('./public/', import.meta.url), new URL('../../dist/overseer/public/', import.meta.url)].map((u) => fileURLToPath(u));
  return candidates.find((dir) => existsSync(`${dir}index.html`)) ?? candidates[candidates.length - 1]!;
}

export class Assets {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly dir: string = assetsDir()) {}

  /** A file's bytes and type, or undefined for a name that is not one of the front end's. */
  get(name: string): { body: Buffer; type: string } | undefined {
    const type = ASSET_TYPES[name];
    if (type === undefined) return undefined;
    let body = this.cache.get(name);
    if (!body) {
      try {
        body = readFileSync(`${this.dir}${name}`);
      } catch {
        throw new Error(`the dashboard's front end is not built (no ${this.dir}${name}): run 'npm run build'`);
      }
      this.cache.set(name, body);
    }
    return { body, type };
  }
}
