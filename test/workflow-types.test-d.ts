// Compile-time tests: a chain's stages must each take what the one before gives.

import { describe, expectTypeOf, it } from 'vitest';
import { Millrace, after, chain, chord, group, type Flow, type GroupResults, type Job, type Settled } from '../src/index.js';

const app = new Millrace({ prefix: 'types-only' });
const q = app.queue('default');
const resize = q.task('resize', async (_ctx, path: string, width?: number) => ({ path: `${path}@${width ?? 100}`, bytes: 1 }));
const upload = q.task('upload', async (_ctx, image: { path: string; bytes: number }, bucket?: string) => `s3://${bucket ?? 'b'}/${image.path}`);
const notify = q.task('notify', async (_ctx, url: string, who: string) => `${who}: ${url}`);
const count = q.task('count', async (_ctx, page: number) => page * 2);
const sum = q.task('sum', async (_ctx, counts: number[]) => counts.reduce((a, b) => a + b, 0));
const sumSettled = q.task('sumSettled', async (_ctx, counts: Settled<number>[]) => counts.length);
const anyList = q.task('anyList', async (_ctx, xs: unknown[]) => xs.length);
const sumPaged = q.task('sumPaged', async (_ctx, ref: GroupResults<number>) => ref.size);

describe('chains', () => {
  it('passes each step its predecessor\'s result, and gives the last one\'s', () => {
    expectTypeOf(chain(resize.s('a.png'), upload.s(), notify.s('ops'))).toEqualTypeOf<Flow<string>>();
    expectTypeOf(chain(resize.s('a.png', 200), upload.s('bucket'))).toEqualTypeOf<Flow<string>>();
    expectTypeOf(chain(count.s(1))).toEqualTypeOf<Flow<number>>();
  });

  it('rejects a step that cannot take what the one before gives, and a first step missing arguments', () => {
    // @ts-expect-error notify takes a string first, resize gives an object
    chain(resize.s('a.png'), notify.s('ops'));
    // @ts-expect-error upload needs its image: it cannot come first
    chain(upload.s(), notify.s('ops'));
    // @ts-expect-error a bound argument of the wrong type
    chain(resize.s('a.png'), upload.s(3));
  });
});

describe('groups and chords', () => {
  it('gives the members\' results in order to the callback', () => {
    expectTypeOf(chord(group([1, 2, 3].map((p) => count.s(p))), sum.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(group(count.s(1), count.s(2)), sum.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(group([count.s(1)]).onFailure('continue'), sumSettled.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(group([count.s(1)]).onFailure('ignore'), sum.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(group([count.s(1)]).paged(), sumPaged.s())).toEqualTypeOf<Flow<number>>();
  });

  it('rejects a callback that does not take the group\'s results', () => {
    // @ts-expect-error sum takes number[], not a string
    chord(group([resize.s('a')]), sum.s());
    // @ts-expect-error a paged group gives a GroupResults, not the values
    chain(group([count.s(1)]).paged(), sum.s());
    // @ts-expect-error continue gives Settled values
    chain(group([count.s(1)]).onFailure('continue'), sum.s());
  });
});

describe('after(...)', () => {
  it('gives the jobs\' results, typed from their handles, to the next stage', () => {
    const a = {} as Job<number>;
    const b = {} as Job<number>;
    expectTypeOf(chain(after(a, b), sum.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(after([a, b]), sum.s())).toEqualTypeOf<Flow<number>>();
    expectTypeOf(chain(after({ queue: 'q', id: 'x' }), anyList.s())).toEqualTypeOf<Flow<number>>();
    // @ts-expect-error after(...) gives a list, not one value
    chain(after(a), count.s());
    // @ts-expect-error a string job's result is not a number[] element
    chain(after({} as Job<string>), sum.s());
  });
});
