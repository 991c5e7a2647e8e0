// Option validation (definition and enqueue time), duration parsing and the backoff formula.

import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, Millrace, parseDuration, Registry } from '../src/index.js';
import { backoffDelay, type ResolvedBackoff } from '../src/options.js';
import { testApp, type TestApp } from './helpers.js';

/** Runs fn and checks it throws a ConfigError naming `option` and saying what is accepted. */
function configError(fn: () => unknown, option: string, accepts: string | RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.option).toContain(option);
  expect(err.message).toContain(option);
  if (typeof accepts === 'string') expect(err.message).toContain(accepts);
  else expect(err.message).toMatch(accepts);
  return err;
}

async function configErrorAsync(p: Promise<unknown>, option: string, accepts: string | RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  configError(() => {
    if (err) throw err;
  }, option, accepts);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loose = (o: Record<string, unknown>) => o as any;

describe('queue options at definition', () => {
  const reg = () => new Registry();

  it('rejects a bad concurrency', () => {
    configError(() => reg().queue('q', { concurrency: 0 }), 'concurrency', 'an integer >= 1');
    configError(() => reg().queue('q', { concurrency: 1.5 }), 'concurrency', 'an integer >= 1');
    configError(() => reg().queue('q', loose({ concurrency: '4' })), 'concurrency', 'an integer >= 1');
  });

  it('takes a global concurrency cap (no prefetch under it by default), and refuses a bad one or one over shards', () => {
    expect(reg().queue('q', { globalConcurrency: 3 }).options).toMatchObject({ globalConcurrency: 3, prefetch: 0 });
    expect(reg().queue('q', { globalConcurrency: 3, prefetch: 2 }).options.prefetch).toBe(2);
    expect(reg().queue('q', {}).options.globalConcurrency).toBe(0);
    configError(() => reg().queue('q', { globalConcurrency: 0 }), 'globalConcurrency', 'an integer >= 1');
    configError(() => reg().queue('q', loose({ globalConcurrency: '2' })), 'globalConcurrency', 'an integer >= 1');
    configError(() => reg().queue('q', { globalConcurrency: 2, shards: 3 }), 'globalConcurrency', 'on a queue of one shard');
  });

  it('takes a rate limit, and refuses a bad one or one over shards', () => {
    expect(reg().queue('q', { rateLimit: { max: 100, per: '1s' } }).options.rateLimit).toEqual({ max: 100, perMs: 1000 });
    expect(reg().queue('q', {}).options.rateLimit).toBeUndefined();
    configError(() => reg().queue('q', { rateLimit: { max: 0, per: '1s' } }), 'rateLimit', 'max: an integer >= 1');
    configError(() => reg().queue('q', loose({ rateLimit: { max: 5 } })), 'rateLimit', 'per: a duration');
    configError(() => reg().queue('q', { rateLimit: { max: 5, per: 'soon' } }), 'rateLimit.per', 'a duration');
    configError(() => reg().queue('q', { rateLimit: { max: 5, per: 0 } }), 'rateLimit.per', 'at least 1 ms');
    configError(() => reg().queue('q', { rateLimit: { max: 5, per: '1s' }, shards: 2 }), 'rateLimit', 'on a queue of one shard');
  });

  it('rejects an unknown option and lists the known ones', () => {
    const err = configError(() => reg().queue('q', loose({ concurency: 4 })), 'concurency', 'known options');
    expect(err.message).toContain('concurrency');
  });

  it('rejects bad durations, retention, priorities and idle timeout', () => {
    configError(() => reg().queue('q', { jobTimeout: '5 minutes' }), 'jobTimeout', "'30s'");
    configError(() => reg().queue('q', { jobTimeout: 0 }), 'jobTimeout', 'at least 1 ms');
    configError(() => reg().queue('q', { resultTtl: 'sometimes' }), 'resultTtl', 'duration');
    configError(() => reg().queue('q', { priorities: [] }), 'priorities', 'non-empty list');
    configError(() => reg().queue('q', { priorities: ['a', 'a'] }), 'priorities', 'distinct');
    configError(() => reg().queue('q', { priorities: ['lo', 'hi'], defaultPriority: 'mid' }), 'defaultPriority', 'one of lo, hi');
    configError(() => reg().queue('q', { idleTimeout: 500 }), 'idleTimeout', '1000 ms');
    configError(() => reg().queue('q', { prefetch: -1 }), 'prefetch', 'an integer >= 0');
    configError(() => reg().queue('q', loose({ backoff: { type: 'random' } })), 'backoff', "'fixed' | 'linear' | 'exponential'");
    configError(() => reg().queue('q', { backoff: { base: 'later' } }), 'backoff.base', 'duration');
    configError(() => reg().queue('q', { maxTries: 0 }), 'maxTries', 'an integer >= 1');
  });

  it('rejects invalid queue names', () => {
    configError(() => reg().queue(''), 'queue name', "letters, digits, '_', '.' or '-'");
    configError(() => reg().queue('has space'), 'queue name', 'letters, digits');
    configError(() => reg().queue('a{b}'), 'queue name', 'letters, digits');
    configError(() => reg().queue('x'.repeat(101)), 'queue name', '1-100');
  });

  it('rejects options given again for an existing queue', () => {
    const r = reg();
    const q = r.queue('q', { concurrency: 2 });
    expect(r.queue('q')).toBe(q);
    configError(() => r.queue('q', { concurrency: 3 }), "queue 'q'", 'options given once');
  });

  it('accepts good options and resolves them', () => {
    const q = reg().queue('q', {
      concurrency: 4, jobTimeout: '2s', resultTtl: '1m', priorities: ['lo', 'hi'], idleTimeout: '1s',
      backoff: { type: 'linear', base: '100ms', max: '1s', jitter: false },
    });
    expect(q.options).toMatchObject({
      concurrency: 4, prefetch: 4, jobTimeout: 2000, resultTtl: 60, priorities: ['lo', 'hi'], defaultPriority: 'lo',
      idleTimeout: 1000, backoff: { type: 'linear', base: 100, max: 1000, jitter: false },
    });
    expect(reg().queue('q', { resultTtl: 'forever' }).options.resultTtl).toBe(-1);
    expect(reg().queue('q', { resultTtl: 'none' }).options.resultTtl).toBe(0);
  });
});

describe('task options at definition', () => {
  const q = () => new Registry().queue('q');
  const noop = async () => 1;

  it('rejects an unknown option', () => {
    configError(() => q().task('t', noop, loose({ retries: 3 })), 'retries', 'known options');
  });

  it('rejects a bad priority name, tries, timeout, expiry and error classes', () => {
    configError(() => q().task('t', noop, { priority: 'urgent' }), 'priority', 'one of low, normal, high, critical');
    configError(() => q().task('t', noop, { maxTries: 0 }), 'maxTries', 'an integer >= 1');
    configError(() => q().task('t', noop, { timeout: 'soon' }), 'timeout', 'duration');
    configError(() => q().task('t', noop, { expires: 'tomorrow' }), 'expires', 'duration');
    configError(() => q().task('t', noop, loose({ retryOn: [123] })), 'retryOn', 'Error classes');
    configError(() => q().task('t', noop, loose({ atMostOnce: 'yes' })), 'atMostOnce', 'true or false');
  });

  it('rejects a duplicate task name, a bad task name and a non-function handler', () => {
    const queue = q();
    queue.task('t', noop);
    configError(() => queue.task('t', noop), "task 't'", "not already used in queue 'q'");
    configError(() => queue.task('bad name', noop), 'task name', 'letters, digits');
    configError(() => queue.task('t|x', noop), 'task name', 'letters, digits');
    configError(() => queue.task('h', loose({}) as never), 'handler', 'a function');
  });

  it('rejects a duplicate task name when a registry is included', async () => {
    const t = testApp({}, 'opts');
    try {
      t.app.queue('q').task('t', noop);
      const other = new Registry<Record<string, never>>();
      other.queue('q').task('t', noop);
      configError(() => t.app.include(other), "task 't'", "not already used in queue 'q'");
    } finally {
      await t.cleanup();
    }
  });

  it('inherits queue defaults', () => {
    const queue = new Registry().queue('q', { maxTries: 5, jobTimeout: '3s', resultTtl: '10s', defaultPriority: 'high' });
    const t = queue.task('t', noop, { backoff: { base: 50 } });
    expect(t.options).toMatchObject({ maxTries: 5, timeout: 3000, resultTtl: 10, priority: 'high', backoff: { base: 50, type: 'exponential' } });
  });
});

describe('enqueue options', () => {
  let t: TestApp<Record<string, never>>;
  afterEach(() => t.cleanup());

  function setup() {
    t = testApp({}, 'opts');
    return t.app.queue('q').task('add', async (_ctx, a: number, b: number) => a + b);
  }

  it('rejects unknown keys, bad durations, priorities and delay+runAt', async () => {
    const add = setup();
    await configErrorAsync(add.with(loose({ dealy: 10 })).enqueue(1, 2), 'dealy', 'known options');
    await configErrorAsync(add.with({ delay: '10 minutes' }).enqueue(1, 2), 'enqueue.delay', "'30s'");
    await configErrorAsync(add.with({ delay: -5 }).enqueue(1, 2), 'enqueue.delay', 'duration');
    await configErrorAsync(add.with({ priority: 'urgent' }).enqueue(1, 2), 'enqueue.priority', 'one of low, normal, high, critical');
    await configErrorAsync(add.with({ delay: 100, runAt: Date.now() + 100 }).enqueue(1, 2), 'enqueue.delay', 'either delay or runAt');
    await configErrorAsync(add.with({ timeout: 0 }).enqueue(1, 2), 'enqueue.timeout', 'at least 1 ms');
    await configErrorAsync(add.with({ maxTries: 0 }).enqueue(1, 2), 'enqueue.maxTries', 'an integer >= 1');
    await configErrorAsync(add.with(loose({ runAt: 'tomorrow' })).enqueue(1, 2), 'enqueue.runAt', 'a Date or epoch milliseconds');
  });

  it('rejects custom ids shaped like auto ids, with a bar, empty or too long', async () => {
    const add = setup();
    for (const id of ['123-0', '1700000000000-5', 'a|b', '', 'x'.repeat(201)]) {
      await configErrorAsync(add.with({ id }).enqueue(1, 2), 'enqueue.id', "without '|'");
    }
    // Near misses are fine.
    expect((await add.with({ id: '123-0a' }).enqueue(1, 2)).id).toBe('123-0a');
    expect((await add.with({ id: 'order:42' }).enqueue(1, 2)).id).toBe('order:42');
  });

  it('enqueues nothing when one item of a bulk call is invalid', async () => {
    const add = setup();
    await configErrorAsync(add.enqueueMany([[1, 2], { args: [3, 4], options: { priority: 'nope' } }]), 'enqueue.priority', 'one of');
    expect(await t.app.listJobs('q', 'waiting')).toEqual([]);
  });

  it('validates enqueueByName options and arguments', async () => {
    setup();
    await configErrorAsync(t.app.enqueueByName('missing', []), 'enqueueByName.queue', "task 'missing'");
    await configErrorAsync(t.app.enqueueByName('add', loose({}) as never), 'enqueueByName.args', 'an array');
    await configErrorAsync(t.app.enqueueByName('add', [1, 2], { delay: 'x' }), 'enqueue.delay', 'duration');
  });

  it('rejects a worker for a queue the app does not define', () => {
    setup();
    configError(() => t.app.worker({ queues: ['nope'], handleSignals: false }), 'worker.queues', 'names of queues the app defines (q)');
  });
});

describe('parseDuration', () => {
  it.each([
    [0, 0], [1500, 1500], ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['2h', 7_200_000], ['1d', 86_400_000],
    ['1.5s', 1500], [' 10 s ', 10_000], ['1500', 1500], ['0ms', 0],
  ] as const)('parses %j as %d ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], ['5 minutes'], [''], ['abc'], ['1w'], ['-5s'], ['s']] as const)(
    'rejects %s naming the option',
    (input) => {
      expect(() => parseDuration(input, 'my.option')).toThrow(/my\.option: .* is not a duration; use milliseconds/);
    },
  );
});

describe('backoffDelay', () => {
  const b = (o: Partial<ResolvedBackoff>): ResolvedBackoff => ({ type: 'exponential', base: 1000, max: 3_600_000, jitter: false, ...o });

  it('fixed: base every time', () => {
    expect([1, 2, 5].map((n) => backoffDelay(b({ type: 'fixed', base: 700 }), n))).toEqual([700, 700, 700]);
  });

  it('linear: base × attempt', () => {
    expect([1, 2, 3, 10].map((n) => backoffDelay(b({ type: 'linear', base: 100 }), n))).toEqual([100, 200, 300, 1000]);
  });

  it('exponential: base × 2^(attempt-1)', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(b({ type: 'exponential', base: 100 }), n))).toEqual([100, 200, 400, 800]);
  });

  it('caps at max', () => {
    expect(backoffDelay(b({ type: 'exponential', base: 1000, max: 5000 }), 10)).toBe(5000);
    expect(backoffDelay(b({ type: 'linear', base: 1000, max: 2500 }), 3)).toBe(2500);
    expect(backoffDelay(b({ type: 'fixed', base: 1000, max: 300 }), 1)).toBe(300);
    expect(backoffDelay(b({ type: 'exponential', base: 1000, max: 3_600_000 }), 200)).toBe(3_600_000);
  });

  it('jitter spreads the capped delay over [delay/2, delay]', () => {
    const j = b({ type: 'exponential', base: 1000, max: 3000, jitter: true });
    expect(backoffDelay(j, 2, () => 0)).toBe(1000);
    expect(backoffDelay(j, 2, () => 0.5)).toBe(1500);
    expect(backoffDelay(j, 2, () => 0.999999)).toBeCloseTo(2000, 1);
    expect(backoffDelay(j, 5, () => 0)).toBe(1500); // 16000 capped to 3000 first
    const samples = Array.from({ length: 500 }, () => backoffDelay(j, 3)); // 4000 capped to 3000
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(1500);
    expect(Math.max(...samples)).toBeLessThanOrEqual(3000);
    expect(new Set(samples).size).toBeGreaterThan(100);
  });
});

describe('durability from the environment', () => {
  afterEach(() => {
    delete process.env.MILLRACE_DURABILITY_REPLICAS;
    delete process.env.MILLRACE_DURABILITY_TIMEOUT;
  });
  const durabilityOf = (code?: ConstructorParameters<typeof Millrace>[0]) => new Millrace({ broker: 'memory', ...code }).durability;

  it('turns durable enqueue on, tunes the code\'s, or turns it off; the code alone otherwise', () => {
    process.env.MILLRACE_DURABILITY_REPLICAS = '1';
    expect(durabilityOf()).toMatchObject({ replicas: 1, timeoutMs: 1000, aof: false, outcomes: false });
    process.env.MILLRACE_DURABILITY_TIMEOUT = '0.25';
    expect(durabilityOf({ durability: { replicas: 2, outcomes: true } })).toMatchObject({ replicas: 1, timeoutMs: 250, outcomes: true });
    delete process.env.MILLRACE_DURABILITY_REPLICAS;
    expect(durabilityOf({ durability: { replicas: 2 } })).toMatchObject({ replicas: 2, timeoutMs: 250 });
    process.env.MILLRACE_DURABILITY_REPLICAS = '0';
    expect(durabilityOf({ durability: { replicas: 2 } })).toBeUndefined();
    delete process.env.MILLRACE_DURABILITY_REPLICAS;
    delete process.env.MILLRACE_DURABILITY_TIMEOUT;
    expect(durabilityOf({ durability: { replicas: 3, timeout: '2s' } })).toMatchObject({ replicas: 3, timeoutMs: 2000 });
  });

  it('names the variable when it is wrong, or a timeout has nothing to apply to', () => {
    process.env.MILLRACE_DURABILITY_REPLICAS = 'two';
    expect(() => durabilityOf()).toThrow(/'MILLRACE_DURABILITY_REPLICAS' \(got "two"\): expected an integer >= 0/);
    delete process.env.MILLRACE_DURABILITY_REPLICAS;
    process.env.MILLRACE_DURABILITY_TIMEOUT = '100ms';
    expect(() => durabilityOf()).toThrow(/'MILLRACE_DURABILITY_TIMEOUT' \(got "100ms"\): expected a timeout for durable enqueue that is on: set MILLRACE_DURABILITY_REPLICAS too/);
  });
});
