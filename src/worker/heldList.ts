// The jobs a processor holds, as a list threaded through the jobs themselves (insertion order).
//
// Why not a Map keyed by entry id (as before): a worker takes in and lets go of a job per job,
// and when V8 rehashes a Map the retired table keeps its entries and a link to the next table
// (for live iterators). With the Map in the old generation, every retired table there held the
// next one, and their jobs, alive through the young collections until the next full GC: 930 B
// of every drained job were promoted to die in old space. A null-prototype object instead made
// V8 internalize each fresh entry-id string to look it up (4-5 % of a drain's profile). Adding,
// removing and counting here touch no hash table at all; finding a job by entry or id walks the
// list, which only the rare paths do (a cancel, a lost lease, a job this worker reclaimed from
// itself). A job leaves with its links cleared, so a dead job never keeps a live one's
// neighbours reachable.

export interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
  listed: boolean;
}

export class HeldList<T extends Linked<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(item: T): void {
    item.prev = this.tail;
    item.next = undefined;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    item.listed = true;
    this.count++;
  }

  /** Removes the item; false when it was not in the list. */
  remove(item: T): boolean {
    if (!item.listed) return false;
    if (item.prev) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.prev = item.prev;
    else this.tail = item.prev;
    item.prev = undefined;
    item.next = undefined;
    item.listed = false;
    this.count--;
    return true;
  }

  /** The items, oldest first (an item removed during the walk is skipped safely). */
  *values(): IterableIterator<T> {
    for (let item = this.head; item; ) {
      const next = item.next;
      yield item;
      item = next;
    }
  }

  /** The newest item that matches. */
  findLast(match: (item: T) => boolean): T | undefined {
    for (let item = this.tail; item; item = item.prev) if (match(item)) return item;
    return undefined;
  }
}
