// Bad input: undecodable data, bad or missing signatures, unknown tasks and malformed
// entries go to the DLQ with their reason, are never executed, and the worker keeps going.

import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Millrace, type DeadLetterEntry, type Worker } from '../src/index.js';
import { encodeHeader } from '../src/envelope.js';
import { rawRedis, REDIS_URL, testApp, waitFor, type TestApp } from './helpers.js';

const SECRET = 's3cret';

describe('bad input', () => {
  let t: TestApp<Record<string, never>>;
  let worker: Worker | undefined;
  let redis: Redis | undefined;
  const others: Millrace[] = [];

  afterEach(async () => {
    await worker?.stop({ grace: 1000 });
    worker = undefined;
    redis?.disconnect();
    redis = undefined;
    for (const o of others.splice(0)) await o.close();
    await t.cleanup();
  });

  /** An app (optionally signing) whose `known_task` records every run, with a running worker. */
  async function setup(signingSecret?: string) {
    t = testApp({ signingSecret }, 'badinput');
    const q = t.app.queue('q', { idleTimeout: 2000 });
    const runs: unknown[][] = [];
    const known = q.task('known_task', async (_ctx, ...args: unknown[]) => {
      runs.push(args);
      return 'ran';
    });
    worker = t.app.worker({ handleSignals: false, blockTime: 1000 });
    await worker.start();
    redis = rawRedis();
    const stream = `{${t.prefix}:q}:s:normal`;
    const xadd = async (...fields: string[]) => (await redis!.xadd(stream, '*', ...fields))!;
    const dlq = t.app.deadLetters('q');
    /** Waits for the dead letter matching `pick`. */
    const deadLetter = (pick: (e: DeadLetterEntry) => boolean) =>
      waitFor(async () => (await dlq.list()).find(pick), { timeout: 5000, what: 'the dead letter' });
    /** A good job still completes: the worker is alive. */
    const stillWorks = async () => {
      const job = await known.enqueue('good');
      expect(await job.result({ timeout: 5000 })).toBe('ran');
      expect(runs).toEqual([['good']]);
    };
    return { known, runs, xadd, dlq, deadLetter, stillWorks };
  }

  /** Another app on the same prefix (a different process's view), closed after the test. */
  function otherApp(signingSecret?: string): Millrace {
    const app = new Millrace({ redis: REDIS_URL, prefix: t.prefix, signingSecret, logLevel: 'silent' });
    app.queue('q').task('known_task', async () => 'never');
    others.push(app);
    return app;
  }

  it('dead-letters an undecodable payload as undecodable', async () => {
    const { xadd, deadLetter, runs, stillWorks } = await setup();
    const entry = await xadd('h', '|known_task|||', 'd', 'not json{');
    const dead = await deadLetter((e) => e.id === entry);
    expect(dead).toMatchObject({ task: 'known_task', queue: 'q', reason: 'undecodable', attempts: 0, data: 'not json{' });
    expect(dead.error).toContain('undecodable');
    expect(runs).toEqual([]);
    expect(await t.app.job('q', entry).status()).toBe('failed');
    await stillWorks();
  });

  it('dead-letters arguments that decode to something other than a list as undecodable', async () => {
    const { xadd, deadLetter, runs, stillWorks } = await setup();
    const entry = await xadd('h', '|known_task|||', 'd', '{"a":1}');
    expect(await deadLetter((e) => e.id === entry)).toMatchObject({ reason: 'undecodable' });
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('dead-letters an entry whose signed data was tampered with as bad-signature', async () => {
    const { xadd, deadLetter, runs } = await setup(SECRET);
    const signed = encodeHeader('', 'known_task', undefined, '["pay",10]', SECRET);
    const entry = await xadd('h', signed, 'd', '["pay",10000]');
    const dead = await deadLetter((e) => e.id === entry);
    expect(dead).toMatchObject({ task: 'known_task', reason: 'bad-signature' });
    expect(dead.data).toBe('["pay",10000]');
    expect(runs).toEqual([]);
    // The untampered entry, by contrast, runs.
    const fine = await xadd('h', signed, 'd', '["pay",10]');
    expect(await t.app.job('q', fine).result({ timeout: 5000 })).toBe('ran');
    expect(runs).toEqual([['pay', 10]]);
  });

  it('dead-letters a job signed with another secret as bad-signature', async () => {
    const { deadLetter, runs, stillWorks } = await setup(SECRET);
    const job = await otherApp('other-secret').enqueueByName('known_task', ['x']);
    expect(await deadLetter((e) => e.id === job.id)).toMatchObject({ reason: 'bad-signature' });
    expect(await job.status()).toBe('failed');
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('dead-letters an unsigned job when the worker has a secret as bad-signature', async () => {
    const { deadLetter, runs, stillWorks } = await setup(SECRET);
    const job = await otherApp(undefined).enqueueByName('known_task', ['x']);
    const dead = await deadLetter((e) => e.id === job.id);
    expect(dead).toMatchObject({ reason: 'bad-signature' });
    expect(dead.error).toContain('not signed');
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('dead-letters an unknown task name as unknown-task', async () => {
    const { deadLetter, runs, stillWorks } = await setup();
    const job = await t.app.enqueueByName('no_such_task', [1], { queue: 'q' });
    const dead = await deadLetter((e) => e.id === job.id);
    expect(dead).toMatchObject({ task: 'no_such_task', reason: 'unknown-task' });
    expect(dead.error).toContain('no_such_task');
    const err = await job.result({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'JobFailedError' });
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('dead-letters a malformed header as malformed', async () => {
    const { xadd, deadLetter, runs, stillWorks } = await setup();
    const entry = await xadd('h', 'garbage', 'd', '[]');
    const dead = await deadLetter((e) => e.header === 'garbage');
    expect(dead).toMatchObject({ reason: 'malformed', queue: 'q' });
    expect(await t.app.job('q', entry).status()).toBe('failed');
    // A header with a bad attempt count is malformed too.
    const badCount = await xadd('h', '|known_task|x||', 'd', '[]');
    expect(await deadLetter((e) => e.header === `${badCount}|known_task|x||`)).toMatchObject({ reason: 'malformed' });
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('dead-letters an entry without a data field as malformed', async () => {
    const { xadd, deadLetter, runs, stillWorks } = await setup();
    const entry = await xadd('h', '|known_task|||');
    const dead = await deadLetter((e) => e.id === entry);
    expect(dead).toMatchObject({ task: 'known_task', reason: 'malformed' });
    expect(dead.error).toContain('no data');
    expect(runs).toEqual([]);
    await stillWorks();
  });

  it('keeps running through a burst of mixed bad entries', async () => {
    const { xadd, dlq, runs, stillWorks } = await setup();
    for (let i = 0; i < 5; i++) {
      await xadd('h', 'garbage', 'd', '[]');
      await xadd('h', '|known_task|||', 'd', '{{');
      await xadd('h', '|ghost|||', 'd', '[]');
    }
    await waitFor(async () => (await dlq.count()) === 15, { timeout: 5000, what: '15 dead letters' });
    // The worker counts a dead letter once Redis answered its write.
    await waitFor(() => worker!.stats().queues.q!.deadLettered === 15, { timeout: 5000, what: '15 dead letters counted' });
    expect(runs).toEqual([]);
    await stillWorks();
    expect(worker!.status).toBe('running');
  });
});
