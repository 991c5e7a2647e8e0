// millrace for the bench and probes: the compiled package, as applications run it (`npm run
// bench` builds it first); the TypeScript sources through tsx only when there is no build.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as Api from '../../src/index.js';

const dist = new URL('../../dist/index.js', import.meta.url);
const lib = (await import(existsSync(fileURLToPath(dist)) ? dist.href : '../../src/index.js')) as typeof Api;

export const { Millrace } = lib;
export type { Worker } from '../../src/index.js';
