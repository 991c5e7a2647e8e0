// Scenario 12: Redis full (maxmemory, noeviction): enqueue fails loudly with Redis' OOM error
// and adds nothing; a worker warns at startup when the eviction policy is not noeviction,
// and starts quietly where CONFIG is disabled.

import { PREFIX, Stage } from '../lib/stage.js';
import { RedisServer } from '../../support/redis-server.js';
import { Report, waitFor, type ScenarioResult, type Size } from '../lib/util.js';
import { captureLogger } from './partition.js';

export async function redisFull(size: Size): Promise<ScenarioResult> {
  const r = new Report('12 Redis full', size);
  const maxmemory = size === 'short' ? '4mb' : '32mb';
  const stage = await Stage.open('full', { maxmemory, maxmemoryPolicy: 'noeviction' });
  const others: RedisServer[] = [];
  const redis = stage.redis.client();
  try {
    // Fill Redis with batches of 4 KB jobs until five enqueues in a row are refused. Around
    // the limit some calls pass again (Redis frees client buffers), which is fine: each call
    // either stores its whole batch or fails with the OOM error, never half.
    const pad = 'x'.repeat(4000);
    let resolved = 0;
    const errors: string[] = [];
    let refusedInARow = 0;
    for (let i = 0; i < 100_000 && refusedInARow < 5; i++) {
      await stage.client.hold.enqueueMany(Array.from({ length: 20 }, (_, j) => [`${i}-${j}-${pad}`, 0] as [string, number])).then(
        () => void ((resolved += 20), (refusedInARow = 0)),
        (e: Error) => void (errors.push(`${e.name}: ${e.message}`), refusedInARow++),
      );
    }
    const xlen = await redis.xlen(`{${PREFIX}:work}:s:normal`);
    const mem = await redis.info('memory');
    r.set({
      maxmemory, enqueuedJobs: resolved, storedJobs: xlen, rejectedCalls: errors.length, error: errors[0] ?? 'none',
      usedMemory: /used_memory_human:(\S+)/.exec(mem)?.[1] ?? '?',
    });
    r.check(errors.length > 0 && errors.every((e) => /OOM command not allowed/.test(e)), `enqueue on a full Redis rejects with the OOM error (got ${errors.find((e) => !/OOM/.test(e)) ?? errors[0] ?? 'no error'})`);
    r.check(xlen === resolved, `every resolved enqueue is stored and no rejected one is (stored ${xlen}, resolved ${resolved})`);

    // Startup warning: an evicting Redis warns, a noeviction one does not, no CONFIG is tolerated.
    const warnsOn = async (server: RedisServer | undefined, tag: string) => {
      const lines: string[] = [];
      const { fixture, worker } = await stage.worker({ tag, redis: server?.url, logger: captureLogger(lines) });
      const ok = await fixture.hold.enqueue(`probe-${tag}`, 0).then((j) => j.result({ timeout: 5000 })).then(() => true, () => false);
      await worker.stop({ grace: 1000 });
      return { warned: lines.some((l) => l.includes('maxmemory-policy')), ok };
    };
    const lru = await RedisServer.start({ dirPrefix: 'millrace-chaos-redis-', maxmemoryPolicy: 'allkeys-lru' });
    others.push(lru);
    const noConfig = await RedisServer.start({ dirPrefix: 'millrace-chaos-redis-', maxmemoryPolicy: 'allkeys-lru', extraArgs: ['--rename-command', 'CONFIG', ''] });
    others.push(noConfig);
    await redis.flushall(); // the private, full server: make room for the probe
    const onLru = await warnsOn(lru, 'lru');
    const onNoEviction = await warnsOn(undefined, 'noeviction');
    const onNoConfig = await waitFor(() => warnsOn(noConfig, 'noconfig'), { timeout: 10_000 });
    r.set({ warnsOnAllkeysLru: String(onLru.warned), warnsOnNoeviction: String(onNoEviction.warned), warnsWithoutConfig: String(onNoConfig.warned), runsWithoutConfig: String(onNoConfig.ok) });
    r.check(onLru.warned && onLru.ok, 'a worker on an allkeys-lru Redis warns at startup (and runs)');
    r.check(!onNoEviction.warned, 'a worker on a noeviction Redis does not warn');
    r.check(!onNoConfig.warned && onNoConfig.ok, 'a worker where CONFIG is disabled starts without the warning and runs jobs');
  } catch (err) {
    r.fail(err);
  } finally {
    redis.disconnect();
    await stage.close(r.failures.length > 0);
    for (const s of others) await s.stop();
  }
  return r.result();
}
