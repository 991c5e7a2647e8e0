// Compile-time tests: enqueue arguments, results and ctx.deps are typed from handlers and the lifespan.

import { describe, expectTypeOf, it } from 'vitest';
import { Millrace, Registry, type Job, type JobContext } from '../src/index.js';
import { createTestApp, type TestApp } from '../src/testing/index.js';

interface Deps {
  db: { query(sql: string): Promise<number[]> };
  name: string;
}

const app = new Millrace<Deps>({
  prefix: 'types-only',
  lifespan: async function* () {
    yield { db: { query: async () => [1] }, name: 'x' };
  },
});
const q = app.queue('default');

const add = q.task('add', async (_ctx, a: number, b: number) => a + b);
const greet = q.task('greet', (_ctx, name: string, punct?: string) => `hi ${name}${punct ?? ''}`);
// An unannotated default (`times = 2`) is typed unknown under contextual inference (a TS limit), so annotate it.
const withDefault = q.task('withDefault', (_ctx, n: number, times: number = 2) => ({ total: n * times }));
const noArgs = q.task('noArgs', async () => undefined);
const nested = q.task('nested', async (_ctx, user: { id: string; tags: string[] }) => Promise.resolve(user.tags.length));

describe('enqueue arguments come from the handler signature', () => {
  it('accepts the right arguments', () => {
    expectTypeOf(add.enqueue).parameters.toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(add.enqueue(1, 2)).toEqualTypeOf<Promise<Job<number>>>();
    expectTypeOf(nested.enqueue).parameters.toEqualTypeOf<[user: { id: string; tags: string[] }]>();
    expectTypeOf(noArgs.enqueue).parameters.toEqualTypeOf<[]>();
  });

  it('rejects a wrong type, a missing argument and an extra argument', () => {
    // @ts-expect-error a string is not a number
    void add.enqueue(1, '2');
    // @ts-expect-error b is missing
    void add.enqueue(1);
    // @ts-expect-error one argument too many
    void add.enqueue(1, 2, 3);
    // @ts-expect-error the task takes no arguments
    void noArgs.enqueue(1);
    // @ts-expect-error tags must be string[]
    void nested.enqueue({ id: 'u', tags: [1] });
  });

  it('makes optional and defaulted parameters optional', () => {
    void greet.enqueue('ann');
    void greet.enqueue('ann', '!');
    void withDefault.enqueue(3);
    void withDefault.enqueue(3, 4);
    // @ts-expect-error times is a number
    void withDefault.enqueue(3, 'four');
    // @ts-expect-error name is still required
    void greet.enqueue();
  });
});

describe('results come from the handler return type', () => {
  it('unwraps promises and keeps plain values', async () => {
    const j1 = await add.enqueue(1, 2);
    expectTypeOf(j1.result()).toEqualTypeOf<Promise<number>>();
    const j2 = await greet.enqueue('x');
    expectTypeOf(j2.result()).resolves.toEqualTypeOf<string>();
    const j3 = await withDefault.enqueue(1);
    expectTypeOf(j3.result()).resolves.toEqualTypeOf<{ total: number }>();
    const j4 = await nested.enqueue({ id: 'a', tags: [] });
    expectTypeOf(j4.result()).resolves.toEqualTypeOf<number>();
    const j5 = await noArgs.enqueue();
    expectTypeOf(j5.result()).resolves.toEqualTypeOf<undefined>();
    // @ts-expect-error the result is a number, not a string
    const s: string = await j1.result();
    void s;
  });
});

describe('with() and enqueueMany keep the types', () => {
  it('types with({...}).enqueue', async () => {
    const call = add.with({ delay: '1s', priority: 'high', id: 'x' });
    expectTypeOf(call.enqueue).parameters.toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(await call.enqueue(1, 2)).toEqualTypeOf<Job<number>>();
    // @ts-expect-error wrong argument type through with()
    void call.enqueue('1', 2);
    // @ts-expect-error unknown enqueue option
    void add.with({ dealy: 10 });
    // @ts-expect-error delay is a duration, not a boolean
    void add.with({ delay: true });
  });

  it('types enqueueMany items and results', async () => {
    const jobs = await add.enqueueMany([[1, 2], [3, 4], { args: [5, 6], options: { priority: 'low' } }]);
    expectTypeOf(jobs).toEqualTypeOf<Job<number>[]>();
    // @ts-expect-error an item with a wrong argument type
    void add.enqueueMany([[1, 2], [3, 'x']]);
    // @ts-expect-error an item missing an argument
    void add.enqueueMany([[1]]);
    // @ts-expect-error args of the wrong type in the object form
    void add.enqueueMany([{ args: ['a', 'b'] }]);
  });

  it('leaves enqueueByName untyped unless a result type is given', async () => {
    expectTypeOf(await app.enqueueByName('add', [1, 2])).toEqualTypeOf<Job<unknown>>();
    expectTypeOf(await app.enqueueByName<number>('add', [1, 2], { queue: 'default' })).toEqualTypeOf<Job<number>>();
  });
});

describe('ctx.deps comes from the lifespan', () => {
  it('types the context of app tasks', () => {
    q.task('usesDeps', async (ctx) => {
      expectTypeOf(ctx).toEqualTypeOf<JobContext<Deps>>();
      expectTypeOf(ctx.deps.name).toEqualTypeOf<string>();
      expectTypeOf(ctx.deps.db.query).returns.resolves.toEqualTypeOf<number[]>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      // @ts-expect-error no such dependency
      void ctx.deps.cache;
      return ctx.deps.name;
    });
  });

  it('infers D from the lifespan when it is not given', () => {
    const inferred = new Millrace({
      prefix: 'types-only',
      lifespan: async function* () {
        yield { counter: 1 };
      },
    });
    expectTypeOf(inferred).toEqualTypeOf<Millrace<{ counter: number }>>();
    inferred.queue('q').task('t', (ctx) => {
      expectTypeOf(ctx.deps.counter).toEqualTypeOf<number>();
      // @ts-expect-error not a dependency
      void ctx.deps.other;
    });
  });

  it('rejects a lifespan yielding the wrong shape', () => {
    void new Millrace<Deps>({
      // @ts-expect-error name must be a string
      lifespan: async function* () {
        yield { db: { query: async () => [1] }, name: 1 };
      },
    });
  });
});

describe('registries included in an app', () => {
  it('types tasks of a Registry<Deps> and accepts it in app.include', async () => {
    const reg = new Registry<Deps>();
    const mail = reg.queue('mail').task('send', async (ctx, to: string, retries: number) => {
      expectTypeOf(ctx.deps).toEqualTypeOf<Deps>();
      return { to, ok: true as boolean, retries };
    });
    expectTypeOf(app.include(reg)).toEqualTypeOf<typeof app>();
    expectTypeOf(mail.enqueue).parameters.toEqualTypeOf<[to: string, retries: number]>();
    expectTypeOf(await (await mail.enqueue('a@b', 1)).result()).toEqualTypeOf<{ to: string; ok: boolean; retries: number }>();
    // @ts-expect-error retries is a number
    void mail.enqueue('a@b', '1');
  });

  it('rejects a registry whose deps the app does not provide', () => {
    const other = new Registry<{ redis: string }>();
    // @ts-expect-error the app's deps have no `redis`
    app.include(other);
  });
});

describe('millrace/testing is typed by the tasks it is given', () => {
  it('types recorded arguments, run() arguments and results, for an app of any deps', async () => {
    const t = await createTestApp(app);
    expectTypeOf(t).toEqualTypeOf<TestApp>();
    expectTypeOf(t.enqueued(add)[0]!.args).toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(t.enqueued(nested)[0]!.job).toEqualTypeOf<Job<number>>();
    expectTypeOf(t.run(add, 1, 2)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(t.run(greet, 'x')).toEqualTypeOf<Promise<string>>();
    // @ts-expect-error b is a number
    void t.run(add, 1, '2');
    // @ts-expect-error greet needs a name
    void t.run(greet);
    expectTypeOf(t.waitFor(await add.enqueue(1, 2), 'completed')).toEqualTypeOf<Promise<Job<number>>>();
    // @ts-expect-error not an outcome
    void t.waitFor(await add.enqueue(1, 2), 'finished');
  });
});
