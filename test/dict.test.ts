import { describe, expect, it } from 'vitest';
import { Dict } from '../src/dict.js';

describe('Dict (the held-jobs table)', () => {
  it('counts distinct keys, overwrites in place and deletes only what it has', () => {
    const d = new Dict<number>();
    d.set('1700000000000-0', 1);
    d.set('1700000000000-1', 2);
    d.set('1700000000000-0', 3);
    expect(d.size).toBe(2);
    expect(d.get('1700000000000-0')).toBe(3);
    expect(d.delete('missing')).toBe(false);
    expect(d.delete('1700000000000-1')).toBe(true);
    expect(d.delete('1700000000000-1')).toBe(false);
    expect(d.size).toBe(1);
    expect([...d.values()]).toEqual([3]);
  });

  it('takes keys that are names of Object.prototype members and starts afresh when emptied', () => {
    const d = new Dict<string>();
    for (const k of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) d.set(k, k.toUpperCase());
    expect(d.size).toBe(4);
    expect(d.get('__proto__')).toBe('__PROTO__');
    expect(d.get('valueOf')).toBeUndefined();
    for (const k of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) d.delete(k);
    expect(d.size).toBe(0);
    expect([...d.values()]).toEqual([]);
    d.set('a', 'x');
    expect([...d.values()]).toEqual(['x']);
  });

  it('keeps a steady count through churn like a worker\'s (one in, one out per job)', () => {
    const d = new Dict<{ n: number }>();
    for (let i = 0; i < 10_000; i++) {
      d.set(`k${i}`, { n: i });
      if (i >= 40) d.delete(`k${i - 40}`);
    }
    expect(d.size).toBe(40);
    expect([...d.values()].map((v) => v.n)).toEqual(Array.from({ length: 40 }, (_, j) => 9_960 + j));
  });
});
