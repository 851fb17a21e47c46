/**
 * The numbering of update streams (`node.<id>.paths` path updates, `node.<id>.dataplane.state`
 * device-state updates): a sender numbers its updates `seq` 1, 2, 3… within an `epoch` (its start,
 * ms since the epoch), and serves the whole thing, stamped with the `seq` it includes, on request.
 * A consumer holds the whole thing and applies updates on top; these say where a message stands.
 */
export interface Sequenced {
  epoch?: number;
  seq?: number;
  /** When it was sent (ms since the epoch): orders messages of senders that do not number them. */
  at: number;
}

/** A whole report or state just read is older than the one held (then it is not taken). */
export function olderThanHeld(held: Sequenced, whole: Sequenced): boolean {
  if (whole.epoch === undefined || held.epoch === undefined) return whole.at < held.at;
  return whole.epoch < held.epoch || (whole.epoch === held.epoch && (whole.seq ?? 0) < (held.seq ?? 0));
}

/**
 * Where an update stands against what is held: the next one ('next': apply it), included already
 * ('stale'), or after a gap ('gap': one was missed, the sender restarted, or nothing is held yet:
 * read the whole thing again).
 */
export function updateStanding(held: Sequenced | undefined, u: { epoch: number; seq: number }): 'next' | 'stale' | 'gap' {
  if (!held || held.epoch === undefined || held.seq === undefined) return 'gap';
  if (u.epoch !== held.epoch) return u.epoch > held.epoch ? 'gap' : 'stale';
  if (u.seq <= held.seq) return 'stale';
  return u.seq === held.seq + 1 ? 'next' : 'gap';
}

/** A numbered update of one sender's keyed items (paths: decisions by peer; device state: peers). */
export interface KeyedUpdate<I> {
  node: string;
  publicKey: string;
  epoch: number;
  seq: number;
  at: number;
  changed: readonly I[];
  removed: readonly string[];
}

/**
 * What a consumer of an update stream holds: the whole thing (read with a paged get), updates
 * applied on top. `update` says what to do with an update: 'applied', 'stale' (included already)
 * or 'gap' (one was missed, the sender restarted, or nothing is held yet: read the whole thing
 * again and hand it to `full`). An update costs O(what it names): the item list is built again
 * only when the whole thing is read.
 */
export abstract class KeyedView<W extends Sequenced & { node: string; publicKey: string }, I, U extends KeyedUpdate<I>> {
  private held: W | undefined;
  protected byKey = new Map<string, I>();
  /** Items changed by updates since the held list was built. */
  private dirty = false;

  protected abstract keyOf(item: I): string;
  protected abstract itemsOf(whole: W): readonly I[];
  /** The whole thing with these items. */
  protected abstract withItems(whole: W, items: I[]): W;
  /** What an update says about the whole thing beyond its items (its header), on top of the held one. */
  protected abstract header(held: W, u: U): W;
  /** A whole thing as taken (a page's `next` dropped). */
  protected abstract taken(whole: W): W;

  /** The whole thing held (undefined before the first `full`). */
  protected current(): W | undefined {
    if (this.held && this.dirty) {
      this.held = this.withItems(this.held, [...this.byKey.values()]);
      this.dirty = false;
    }
    return this.held;
  }

  /** A whole one (read with the paged get): taken unless older than the one held. True when taken. */
  full(whole: W): boolean {
    const h = this.held;
    if (h && h.publicKey === whole.publicKey && olderThanHeld(h, whole)) return false;
    this.held = this.taken(whole);
    this.byKey = new Map(this.itemsOf(whole).map((i) => [this.keyOf(i), i]));
    this.dirty = false;
    return true;
  }

  update(u: U): 'applied' | 'stale' | 'gap' {
    const h = this.held;
    if (!h || h.publicKey !== u.publicKey || h.node !== u.node) return 'gap';
    const standing = updateStanding(h, u);
    if (standing !== 'next') return standing;
    for (const k of u.removed) this.byKey.delete(k);
    for (const i of u.changed) this.byKey.set(this.keyOf(i), i);
    this.held = { ...this.header(h, u), at: Math.max(h.at, u.at), epoch: u.epoch, seq: u.seq };
    this.dirty = this.dirty || u.changed.length > 0 || u.removed.length > 0;
    return 'applied';
  }

  /** Forgets it (the sender left). */
  clear(): void {
    this.held = undefined;
    this.byKey.clear();
    this.dirty = false;
  }
}
