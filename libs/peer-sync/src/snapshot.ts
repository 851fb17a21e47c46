import { PeerRecord, PeerSnapshot, SNAPSHOT_PAGE_MAX, SnapshotRequest } from '@wgmesh/contracts';
import type { PeerTable } from './mirror';

/** Asks the registry for one page of `peers.snapshot` (over NATS, validated). */
export type RequestSnapshotPage = (request: SnapshotRequest) => Promise<PeerSnapshot>;

export const SNAPSHOT_ATTEMPTS = 5;

/**
 * A PeerMirror's `load` from the registry's `peers.snapshot`: the whole table read page by page,
 * logged once loaded (why, revision, size). The one snapshot loading of the members' services.
 */
export function snapshotLoader(request: () => Promise<RequestSnapshotPage>, log?: { info(msg: string, fields?: Record<string, unknown>): void }): (reason: string) => Promise<PeerTable> {
  return async (reason) => {
    const table = await readPagedSnapshot(await request());
    log?.info('peer table loaded', { reason, revision: table.revision, peers: table.peers.length });
    return table;
  };
}

/**
 * Reads the registry's whole peer table page by page. The pages are consistent only if they all
 * carry the same revision; when the table changes in between, the read starts over (up to
 * `attempts` times).
 */
export async function readPagedSnapshot(request: RequestSnapshotPage, attempts = SNAPSHOT_ATTEMPTS): Promise<PeerTable> {
  for (let attempt = 1; ; attempt++) {
    const peers: PeerRecord[] = [];
    let cursor: number | null = 0;
    let revision: number | null = null;
    let consistent = true;
    while (cursor !== null) {
      const page: PeerSnapshot = await request({ cursor, limit: SNAPSHOT_PAGE_MAX });
      if (revision !== null && page.revision !== revision) {
        consistent = false;
        break;
      }
      revision = page.revision;
      peers.push(...page.peers);
      cursor = page.nextCursor;
    }
    if (consistent) return { revision: revision ?? 0, peers };
    if (attempt >= attempts) throw new Error(`the peer table kept changing during ${attempts} paged snapshot reads`);
  }
}
