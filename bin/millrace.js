#!/usr/bin/env node
// The millrace command: runs the built CLI (dist) when there is one, else the TypeScript source
// through tsx, which also lets users' .ts task modules be loaded.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();

const built = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(fileURLToPath(built)) ? built : new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(entry.href);
// Exit explicitly: a user's module may keep handles (timers, sockets) open after a graceful stop.
process.exit(await main(process.argv));
