import { DataplaneState, DataplaneStateUpdate, DataplaneStateView, parseDataplaneState, Patterns, readDataplaneState } from '@wgmesh/contracts';
import type { MeshBus } from '@wgmesh/nats-transport';
import type { Subscription } from 'nats';

/** What a FollowedState saw. */
export interface FollowedState {
  /** The whole state as held after each applied update and each fetch, in order. */
  states: DataplaneState[];
  /** Every update received. */
  updates: DataplaneStateUpdate[];
  /** Whole states fetched (`dataplane.state.get`, paged), fetches that failed, and what each update came to. */
  counts: { fetched: number; failed: number; applied: number; stale: number; gaps: number };
  /** Updates with these seqs are dropped on arrival (a lost message). */
  drop: Set<number>;
  sub: Subscription;
  /** Fetches the whole state now (what a consumer does once subscribed). */
  fetch(): Promise<void>;
}

/**
 * Follows a node's device state as a consumer does (tests): its updates applied to a
 * DataplaneStateView, the whole state fetched at start (`fetch()`) and on a gap.
 */
export function followState(bus: MeshBus, node: string): FollowedState {
  const view = new DataplaneStateView();
  let fetching: Promise<void> | null = null;
  let again = false;
  const f: FollowedState = {
    states: [],
    updates: [],
    counts: { fetched: 0, failed: 0, applied: 0, stale: 0, gaps: 0 },
    drop: new Set(),
    sub: bus.subscribe(
      Patterns.dataplaneState,
      (u) => {
        if (f.drop.has(u.seq)) return;
        f.updates.push(u);
        const outcome = view.update(u);
        if (outcome === 'applied') {
          f.counts.applied++;
          f.states.push(view.state!);
        } else if (outcome === 'stale') f.counts.stale++;
        else {
          f.counts.gaps++;
          // (Not answered yet: the programmer's next update shows a gap again.)
          f.fetch().catch(() => f.counts.failed++);
        }
      },
      { node },
    ),
    fetch() {
      if (fetching) {
        again = true;
        return fetching;
      }
      fetching = (async () => {
        for (;;) {
          again = false;
          try {
            const state = await readDataplaneState((req) => bus.request(Patterns.dataplaneStateGet, req, parseDataplaneState, { node, timeoutMs: 3000 }));
            f.counts.fetched++;
            if (view.full(state)) f.states.push(view.state!);
          } catch (err) {
            if (!again) throw err; // (asked again meanwhile: an update came, so it is served again)
            continue;
          }
          if (!again) break;
        }
      })().finally(() => (fetching = null));
      return fetching;
    },
  };
  return f;
}
