import { describe, expect, it } from 'vitest';
import { HeldList, type Linked } from '../src/worker/heldList.js';

interface Item extends Linked<Item> {
  n: number;
}
const item = (n: number): Item => ({ n, prev: undefined, next: undefined, listed: false });
const ns = (l: HeldList<Item>) => [...l.values()].map((i) => i.n);

describe('HeldList (a processor\'s held jobs)', () => {
  it('keeps insertion order and a count through removals at the head, middle and tail', () => {
    const l = new HeldList<Item>();
    const [a, b, c, d] = [item(1), item(2), item(3), item(4)];
    for (const i of [a, b, c, d]) l.add(i);
    expect(l.size).toBe(4);
    expect(l.remove(b)).toBe(true);
    expect(ns(l)).toEqual([1, 3, 4]);
    expect(l.remove(a)).toBe(true);
    expect(l.remove(d)).toBe(true);
    expect(ns(l)).toEqual([3]);
    expect(l.size).toBe(1);
    l.add(a);
    expect(ns(l)).toEqual([3, 1]);
  });

  it('removes an item once, and clears the links of what it removed', () => {
    const l = new HeldList<Item>();
    const [a, b, c] = [item(1), item(2), item(3)];
    for (const i of [a, b, c]) l.add(i);
    expect(l.remove(b)).toBe(true);
    expect(l.remove(b)).toBe(false);
    expect(l.size).toBe(2);
    expect([b.prev, b.next, b.listed]).toEqual([undefined, undefined, false]);
    expect(a.next).toBe(c);
    expect(c.prev).toBe(a);
  });

  it('finds the newest match, and lets a walk remove the item it is on', () => {
    const l = new HeldList<Item>();
    const items = [item(1), item(2), item(1), item(3)];
    for (const i of items) l.add(i);
    expect(l.findLast((i) => i.n === 1)).toBe(items[2]);
    expect(l.findLast((i) => i.n === 9)).toBeUndefined();
    for (const i of l.values()) if (i.n !== 3) l.remove(i);
    expect(ns(l)).toEqual([3]);
  });

  it('holds a steady count through churn like a worker\'s (one in, one out per job)', () => {
    const l = new HeldList<Item>();
    const live: Item[] = [];
    for (let n = 0; n < 10_000; n++) {
      const i = item(n);
      l.add(i);
      live.push(i);
      if (live.length > 40) l.remove(live.shift()!);
    }
    expect(l.size).toBe(40);
    expect(ns(l)).toEqual(Array.from({ length: 40 }, (_, j) => 9_960 + j));
  });
});
