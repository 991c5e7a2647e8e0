// Phase 4, once, at the end (it changes the data set): replay of every dead letter (DLQ of them,
// 100,000 by default) as the DLQ page's "Replay all" starts it (POST /api/dlq/main/replay
// {all: true}, then GET /api/operations/:id until it ends): entries replayed per second, the
// slowest single Redis command meanwhile (SLOWLOG at 0 µs: a script is one entry, however many
// commands it runs), Redis commands per 1,000 entries; then the same again, which must find
// nothing left to replay (idempotent), and the waiting count must have grown by exactly what
// was replayed (none twice).

import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { OverseerHandler } from '../../src/overseer/index.js';
import type { Operation } from '../../src/overseer/bulk.js';
import { BASE, round, sleep } from './config.js';
import { commandsProcessed, resetSlowlog, shape, slowest, slowlog } from './redis.js';

export interface BulkResult {
  total: number;
  done: number;
  ms: number;
  perS: number;
  state: string;
  commandsPer1000: number;
  slowestUs: number;
  slowest: string;
  over5ms: number;
  /** The second replay-all: what it found to do (0 when nothing is replayed twice). */
  againDone: number;
  /** Waiting jobs added by the replay (must equal `done`). */
  waitingAdded: number;
}

const HEADERS = { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-origin' };

async function replayAll(handler: OverseerHandler): Promise<Operation> {
  const res = await handler(new Request(`${BASE}/api/dlq/main/replay`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ all: true }) }));
  if (res.status !== 202) throw new Error(`replay all: ${res.status} ${await res.text()}`);
  let op = ((await res.json()) as { operation: Operation }).operation;
  while (op.state === 'running') {
    await sleep(200);
    op = ((await (await handler(new Request(`${BASE}/api/operations/${op.id}`))).json()) as { operation: Operation }).operation;
  }
  return op;
}

async function waiting(admin: Redis): Promise<number> {
  const lens = await Promise.all(['critical', 'high', 'normal', 'low'].map((l) => admin.xlen(`{ovb:main}:s:${l}`)));
  return lens.reduce((a, b) => a + b, 0);
}

export async function measureBulk(handler: OverseerHandler, admin: Redis): Promise<BulkResult> {
  const waitingBefore = await waiting(admin);
  await resetSlowlog(admin);
  const before = await commandsProcessed(admin);
  const t0 = performance.now();
  const op = await replayAll(handler);
  const ms = performance.now() - t0;
  const commands = (await commandsProcessed(admin)) - before - 1;
  const slow = await slowlog(admin);
  const top = slowest(slow);
  const waitingAdded = (await waiting(admin)) - waitingBefore;
  const again = await replayAll(handler);
  return {
    total: op.total, done: op.done, ms: round(ms, 0), perS: Math.round(op.done / (ms / 1000)), state: op.state,
    commandsPer1000: round((commands * 1000) / Math.max(1, op.done), 1),
    slowestUs: top?.us ?? 0, slowest: top ? shape(top.args) : '', over5ms: slow.filter((e) => e.us > 5000).length,
    againDone: again.done, waitingAdded,
  };
}
