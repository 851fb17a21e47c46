/**
 * One due time per key (a deadline, a retry, a handshake going stale), kept in a binary min-heap:
 * setting a key's time is O(log n), the next wake-up O(1) (amortised), taking the keys due by now
 * O(k log n) for k due; nothing scans all the keys.
 *
 * A key's time is changed by pushing a new entry; the old one stays in the heap until it comes to
 * the top and is dropped there (an entry counts only while it is the key's current time). The
 * heap is rebuilt from the current times when dropped entries outnumber them.
 */
export class DueTimes {
  private readonly at = new Map<string, number>();
  private heap: Array<{ at: number; key: string }> = [];

  get size(): number {
    return this.at.size;
  }

  /** The key is due at `at` (null: at no time). */
  set(key: string, at: number | null): void {
    if (at === null) {
      this.at.delete(key);
      return;
    }
    if (this.at.get(key) === at) return;
    this.at.set(key, at);
    this.push({ at, key });
    if (this.heap.length > 2 * this.at.size + 1024) this.rebuild();
  }

  delete(key: string): void {
    this.at.delete(key);
  }

  /** The earliest due time (null: none). */
  next(): number | null {
    this.dropStale();
    return this.heap.length > 0 ? this.heap[0].at : null;
  }

  /** Takes the keys due at or before `now` (they are no longer due: set them again when deciding them). */
  takeDue(now: number): string[] {
    const out: string[] = [];
    for (;;) {
      this.dropStale();
      if (this.heap.length === 0 || this.heap[0].at > now) return out;
      const { key } = this.pop();
      this.at.delete(key);
      out.push(key);
    }
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.at.get(this.heap[0].key) !== this.heap[0].at) this.pop();
  }

  private rebuild(): void {
    this.heap = [];
    for (const [key, at] of this.at) this.push({ at, key });
  }

  private push(e: { at: number; key: string }): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].at <= e.at) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = e;
  }

  private pop(): { at: number; key: string } {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r].at < h[l].at ? r : l;
        if (h[c].at >= last.at) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
