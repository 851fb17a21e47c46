import { ContractError, NatType, parsePeerEndpoint, PeerRecord, PeerState } from '@wgmesh/contracts';
import { canonicalCidr } from '@wgmesh/netaddr';

/**
 * The registry watcher's logic, pure: from successive reads of the hub device (its peers as
 * `PeerState`), the peer-table changes to publish.
 *
 * What is published, and when:
 * - a new peer, a removed peer, or a change of endpoint, allowed IPs, keepalive or name: at once.
 *   These are what members and the resolver act on (endpoint + allowed IPs).
 * - the latest handshake going from 0 to a time (the member came up) or back to 0 (the hub
 *   restarted): at once.
 * - any other change of the latest handshake (WireGuard re-handshakes every 2 minutes while
 *   traffic flows): at most once per `handshakeRefreshMs` per peer. It only keeps `wgmesh peers`
 *   showing a recent "last seen"; publishing every re-handshake would send one event per member
 *   every 2 minutes to every member for nothing.
 * Byte counters are never published (they change on every read; `wgmesh status` reads them from
 * the node's own device).
 */
export type HubChange = { type: 'upsert'; peer: PeerRecord; reason: ChangeReason } | { type: 'remove'; publicKey: string };

export type ChangeReason = 'new' | 'endpoint' | 'allowed-ips' | 'keepalive' | 'name' | 'nat' | 'came-up' | 'handshake-reset' | 'handshake-refresh';

export const DEFAULT_HANDSHAKE_REFRESH_MS = 300_000;

export interface HubWatcherOptions {
  /** Least time between two publications of a peer that only re-handshook. */
  handshakeRefreshMs?: number;
}

/** What the registry knows of a member beyond its device entry: enrolment name, NAT (nat-probe). */
export interface MemberInfo {
  name?: string;
  nat?: NatType;
}

/** The member info for a public key, if any. */
export type InfoOf = (publicKey: string) => MemberInfo | undefined;

interface Published {
  peer: PeerRecord;
  /** When it was last published (ms); -Infinity for a record seeded from the store. */
  at: number;
}

/** A device peer as last read (what its record is made from), when its record was in line with it. */
interface Seen {
  endpoint: string | null;
  allowedIps: readonly string[];
  persistentKeepalive: number;
  latestHandshake: number;
  name: string | undefined;
  nat: NatType | undefined;
}

export class HubWatcher {
  private readonly published = new Map<string, Published>();
  /**
   * Per peer, the device's fields (and member info) its published record was last found in line
   * with: a peer read again with the same fields is not rebuilt nor compared (at 10,000 unchanged
   * peers, every read). A peer whose re-handshake waits for its refresh is not here (it is
   * compared on every read until published).
   */
  private readonly inLine = new Map<string, Seen>();
  private readonly refreshMs: number;

  constructor(options: HubWatcherOptions = {}) {
    this.refreshMs = options.handshakeRefreshMs ?? DEFAULT_HANDSHAKE_REFRESH_MS;
  }

  /**
   * Starts from what the peer store holds, so the first `update` publishes only what differs
   * from it (and removes stored peers the device no longer has: the device is the truth).
   */
  seed(peers: readonly PeerRecord[]): void {
    this.published.clear();
    this.inLine.clear();
    for (const peer of peers) this.published.set(peer.publicKey, { peer, at: -Infinity });
  }

  /** The changes that bring the published table in line with the device as read at `now` (ms). */
  update(devicePeers: readonly PeerState[], infoOf: InfoOf, now: number): HubChange[] {
    const changes: HubChange[] = [];
    for (const state of devicePeers) {
      const info = infoOf(state.publicKey);
      const last = this.inLine.get(state.publicKey);
      if (last && sameAsSeen(last, state, info)) continue; // its record is as published
      const next = peerRecordFromState(state, info);
      const prev = this.published.get(state.publicKey);
      const reason = changeReason(prev?.peer, next, prev ? now - prev.at : Infinity, this.refreshMs);
      if (reason) {
        this.published.set(next.publicKey, { peer: next, at: now });
        changes.push({ type: 'upsert', peer: next, reason });
      }
      // In line unless a re-handshake waits for its refresh (then compared again on every read).
      if (reason || (prev?.peer.latestHandshake ?? 0) === next.latestHandshake) this.inLine.set(state.publicKey, seenOf(state, info));
      else this.inLine.delete(state.publicKey);
    }
    // Every peer read is published now (a device lists a key once): any more published left the device.
    if (this.published.size !== devicePeers.length) {
      const seen = new Set(devicePeers.map((p) => p.publicKey));
      for (const key of [...this.published.keys()]) {
        if (!seen.has(key)) {
          this.published.delete(key);
          this.inLine.delete(key);
          changes.push({ type: 'remove', publicKey: key });
        }
      }
    }
    return changes;
  }

  /** The table as last published. */
  table(): PeerRecord[] {
    return [...this.published.values()].map((p) => p.peer);
  }
}

/**
 * Why `next` must be published over `prev`, or null when it need not be. `sincePublished` is
 * the time since `prev` was published.
 */
export function changeReason(prev: PeerRecord | undefined, next: PeerRecord, sincePublished: number, refreshMs: number): ChangeReason | null {
  if (!prev) return 'new';
  if (prev.endpoint !== next.endpoint) return 'endpoint';
  if (!sameList(prev.allowedIps, next.allowedIps)) return 'allowed-ips';
  if ((prev.persistentKeepalive ?? 0) !== (next.persistentKeepalive ?? 0)) return 'keepalive';
  if (prev.name !== next.name) return 'name';
  if (prev.nat !== next.nat) return 'nat';
  const before = prev.latestHandshake ?? 0;
  const after = next.latestHandshake ?? 0;
  if (before === after) return null;
  if (before === 0) return 'came-up';
  if (after === 0) return 'handshake-reset';
  return sincePublished >= refreshMs ? 'handshake-refresh' : null;
}

/**
 * The peer record for a device peer: allowed IPs canonical and sorted (a device may list them in
 * any order), an endpoint only when it is a real one (not loopback, link-local…; those become
 * null), keepalive and handshake when set, and the enrolment name and NAT when known.
 */
export function peerRecordFromState(state: PeerState, info?: MemberInfo): PeerRecord {
  const peer: PeerRecord = {
    publicKey: state.publicKey,
    allowedIps: state.allowedIps.map((c) => canonicalCidr(c)).sort(),
    endpoint: usableEndpoint(state.endpoint),
  };
  if (info?.name !== undefined) peer.name = info.name;
  if (state.persistentKeepalive > 0) peer.persistentKeepalive = state.persistentKeepalive;
  peer.latestHandshake = state.latestHandshake;
  if (info?.nat !== undefined) peer.nat = info.nat;
  return peer;
}

function usableEndpoint(endpoint: string | null): string | null {
  if (endpoint === null || endpoint === '' || endpoint === '(none)') return null;
  try {
    return parsePeerEndpoint(endpoint, 'endpoint');
  } catch (err) {
    if (!(err instanceof ContractError)) throw err;
    return null; // not reachable from elsewhere (loopback, link-local…): nothing to publish
  }
}

function seenOf(state: PeerState, info: MemberInfo | undefined): Seen {
  return {
    endpoint: state.endpoint,
    allowedIps: [...state.allowedIps],
    persistentKeepalive: state.persistentKeepalive,
    latestHandshake: state.latestHandshake,
    name: info?.name,
    nat: info?.nat,
  };
}

function sameAsSeen(seen: Seen, state: PeerState, info: MemberInfo | undefined): boolean {
  return (
    seen.endpoint === state.endpoint &&
    seen.latestHandshake === state.latestHandshake &&
    seen.persistentKeepalive === state.persistentKeepalive &&
    seen.name === info?.name &&
    seen.nat === info?.nat &&
    sameList(seen.allowedIps, state.allowedIps)
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
