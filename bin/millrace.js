#!/usr/bin/env node
// The millrace command: runs the built CLI (dist) when there is one, else the TypeScript source
// through tsx, which also lets users' .ts task modules be loaded. MILLRACE_FROM_SOURCE=1 runs
// the source even when dist/ exists (the test suite sets it: it tests the code as edited, and
// `npm ci` builds dist/ once, which goes stale as the source changes).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();

const built = new URL('../dist/cli/main.js', import.meta.url);
const fromSource = process.env.MILLRACE_FROM_SOURCE === '1' || !existsSync(fileURLToPath(built));
const entry = fromSource ? new URL('../src/cli/main.ts', import.meta.url) : built;
const { main } = await import(entry.href);
// Exit explicitly: a user's module may keep handles (timers, sockets) open after a graceful stop.
process.exit(await main(process.argv));
