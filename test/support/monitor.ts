// Watching what a worker sends: MONITOR on the test Redis, keeping the times of the script calls
// (EVAL/EVALSHA, not the commands a script runs inside) whose arguments match; and the check
// that a limited worker waits without asking.

import { connect } from 'node:net';
import { expect } from 'vitest';
import type { Job } from '../../src/index.js';
import { REDIS_URL } from '../helpers.js';

export interface ScriptWatch {
  /** Epoch ms of each matching call seen so far. */
  readonly calls: number[];
  stop(): void;
}

/**
 * The arguments of one MONITOR line: `+<time> [<db> <client>] "arg" "arg" ...`, each argument
 * quoted with `\"`, `\\` and `\xHH` escapes (as Redis writes them).
 */
export function monitorArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out.push(m[1]!.replace(/\\x([0-9a-f]{2})|\\(.)/gi, (_, hex: string | undefined, c: string | undefined) => (hex ? String.fromCharCode(parseInt(hex, 16)) : c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c!)));
  }
  return out;
}

/**
 * MONITOR on a plain socket of its own (ioredis' monitor() can throw an uncaught "Command queue
 * state error" when MONITOR lines race its connection's setup): the lines are read as text.
 */
export async function watchScriptCalls(match: (args: string[]) => boolean): Promise<ScriptWatch> {
  const { hostname, port } = new URL(REDIS_URL);
  const socket = connect(Number(port || 6379), hostname || '127.0.0.1');
  const calls: number[] = [];
  let buffered = '';
  socket.on('error', () => undefined); // stop() ends it; a test that needs it fails on what it did not see
  socket.setEncoding('latin1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write('MONITOR\r\n'));
    socket.once('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\r\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (line === '+OK') resolve();
        else if (line.startsWith('+')) {
          const args = monitorArgs(line);
          if (/^eval(sha)?$/i.test(args[0] ?? '') && match(args)) calls.push(Date.now());
        }
        nl = buffered.indexOf('\r\n');
      }
    });
  });
  return { calls, stop: () => void socket.destroy() };
}

/**
 * A worker whose second job must wait some 3 s after its first (a rate limit of one per 3 s, of
 * the queue or a group) sends no fetch meanwhile. Watched from before the worker starts (`start`):
 * on a loaded machine the first job's result may reach the test late, so the window is read
 * from the jobs' own times afterwards. The fetches that took both are seen (the watch works);
 * between the first's end and the second's start, one that found no token and was told how
 * long to wait, and the one that took the second (a loaded machine may start it a while after).
 */
export async function expectQuietWait(start: () => Promise<unknown>, jobs: readonly Job<unknown>[], isFetch: (args: string[]) => boolean): Promise<void> {
  const watch = await watchScriptCalls(isFetch);
  try {
    await start();
    await jobs[1]!.result({ timeout: 15_000 });
    const first = (await jobs[0]!.info()).finishedAt!;
    const second = (await jobs[1]!.info()).startedAt!;
    expect(second - first).toBeGreaterThan(2000);
    expect(watch.calls.length).toBeGreaterThanOrEqual(2);
    expect(watch.calls.filter((at) => at > first && at < second).length).toBeLessThanOrEqual(2);
  } finally {
    watch.stop();
  }
}
