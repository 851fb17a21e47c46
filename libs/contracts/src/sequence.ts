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
