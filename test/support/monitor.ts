// Watching what a worker sends: MONITOR on the test Redis, keeping the times of the script calls
// (EVAL/EVALSHA, not the commands a script runs inside) whose arguments match; and the check
// that a limited worker waits without asking.

import { expect } from 'vitest';
import type { Job } from '../../src/index.js';
import { rawRedis } from '../helpers.js';

export interface ScriptWatch {
  /** Epoch ms of each matching call seen so far. */
  readonly calls: number[];
  stop(): void;
}

export async function watchScriptCalls(match: (args: string[]) => boolean): Promise<ScriptWatch> {
  const monitor = rawRedis();
  const calls: number[] = [];
  const watching = await monitor.monitor();
  watching.on('monitor', (_time: string, args: string[]) => {
    if (/^eval(sha)?$/i.test(String(args[0])) && match(args.map(String))) calls.push(Date.now());
  });
  return {
    calls,
    stop() {
      watching.disconnect();
      monitor.disconnect();
    },
  };
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
