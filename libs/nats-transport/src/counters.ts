/**
 * What happened to one inbound message, for metrics. Every server and bus of the process reports
 * to the counters added here (a Prometheus counter, a test's tally), besides its own `stats()`.
 *
 * - `received`: delivered to a subscription.
 * - `rejected`: refused as bad input before (or by) the handler: `reason` says why.
 * - `errors`: a handler failed on a valid message, or a reply could not be sent.
 */
export type InboundOutcome = 'received' | 'rejected' | 'errors';

/**
 * Why a message was rejected: `too_large` (over the contracts' size bound), `invalid_json`,
 * `invalid_message` (valid JSON the pattern's contract refuses: wrong type, unknown field, bad key,
 * CIDR or endpoint, …), `no_reply_subject` (a request that cannot be answered), `invalid_chunk`
 * (a chunk of a message larger than NATS's max_payload that cannot be put together: see chunks.ts).
 */
export type RejectReason = 'too_large' | 'invalid_json' | 'invalid_message' | 'no_reply_subject' | 'invalid_chunk';

export interface InboundCount {
  mesh: string;
  /** The logical pattern (`peers.events`, `node.{node}.dataplane.apply`). */
  pattern: string;
  outcome: InboundOutcome;
  /** Set when `outcome` is `rejected`. */
  reason?: RejectReason;
}

/** A sink for inbound message counts. Must not throw (a throwing counter is ignored). */
export interface InboundCounter {
  count(event: InboundCount): void;
}

const counters = new Set<InboundCounter>();

/** Adds a process-wide counter; returns the function that removes it. */
export function addInboundCounter(counter: InboundCounter): () => void {
  counters.add(counter);
  return () => void counters.delete(counter);
}

/** Reports one event to every counter added. */
export function countInbound(event: InboundCount): void {
  for (const c of counters) {
    try {
      c.count(event);
    } catch {
      // A metrics sink must never break message handling.
    }
  }
}
