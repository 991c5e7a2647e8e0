// A string-keyed table for hot paths where entries come and go all the time (a worker's held
// jobs: one in and one out per job).
//
// Why not a Map: when V8 grows or rehashes a Map, the old backing table keeps its entries and a
// link to the new table (for live iterators). Once the Map lives in the old generation, every
// retired table there keeps the next one alive from outside the young generation, so each
// table since the last full GC and every value it held (whole jobs) survive the young
// collections and are promoted, to die in old space. Measured in a worker draining no-op jobs:
// 1.2-1.7 MB promoted per young collection (12 % of what it allocated), so the old space swung
// between 15 and 60 MB and the worker's RSS with it (docs/PERFORMANCE.md). A dictionary-mode
// object rehashes into a fresh table without such a link.

export class Dict<V> {
  private table: Record<string, V> = Object.create(null) as Record<string, V>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.table[key];
  }

  set(key: string, value: V): void {
    if (!(key in this.table)) this.count++;
    this.table[key] = value;
  }

  delete(key: string): boolean {
    if (!(key in this.table)) return false;
    delete this.table[key];
    this.count--;
    // An emptied table starts afresh, so it never keeps the space of a past burst.
    if (this.count === 0) this.table = Object.create(null) as Record<string, V>;
    return true;
  }

  *values(): IterableIterator<V> {
    for (const key in this.table) yield this.table[key]!;
  }
}
