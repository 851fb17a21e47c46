import type { PeerRecord } from '@wgmesh/contracts';
import { Cidr, cidrContains, IpAddress } from '@wgmesh/netaddr';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import { addressKey, changesStructure, createPeerEntry, isHostPrefix, PeerEntry, sameDnsView } from './peer-entry';

/** The peer owning an address, and how specific the prefix that matched is. */
export interface AddressMatch {
  entry: PeerEntry;
  prefixLength: number;
}

interface PrefixRoute {
  cidr: Cidr;
  entry: PeerEntry;
}

interface Stored {
  record: PeerRecord;
  entry: PeerEntry;
}

/**
 * The peers DNS-SD serves, in memory. Keyed by lowercase base32 key name; tunnel addresses map to
 * their peer (host routes in a Map, wider prefixes in a short list scanned most specific first).
 *
 * Two counters tell caches what moved. `version` changes whenever anything DNS serves changes (an
 * upsert touching only fields DNS does not serve, such as name or handshake time, keeps it).
 * `structureVersion` changes only when answers about other names can change: a peer added or
 * removed, allowed IPs changed, an endpoint appearing or disappearing. A new endpoint or NAT type
 * for a known peer only retires that peer's old entry (`PeerEntry.retired`).
 */
export class PeerIndex {
  private readonly byB32 = new Map<string, Stored>();
  /** Host address → claimants, newest last (the newest owns it, as in WireGuard). */
  private readonly hosts = new Map<string, PeerEntry[]>();
  /** Non-host prefixes, most specific first, newest first among equals. */
  private prefixes: PrefixRoute[] = [];
  private seq = 0;
  private _version = 0;
  private _structureVersion = 0;

  get version(): number {
    return this._version;
  }

  get structureVersion(): number {
    return this._structureVersion;
  }

  get size(): number {
    return this.byB32.size;
  }

  /** Adds or replaces a peer. Throws (KeyError, AddressError) on a malformed record, changing nothing. */
  upsert(peer: PeerRecord): void {
    const b32 = keyToBase32(keyFromBase64(peer.publicKey));
    const old = this.byB32.get(b32);
    if (old && sameDnsView(old.record, peer)) {
      old.record = peer;
      return;
    }
    if (old && !changesStructure(old.record, peer)) {
      const entry = createPeerEntry(peer, old.entry.seq);
      this.repoint(old.entry, entry);
      old.entry.retired = true;
      this.byB32.set(b32, { record: peer, entry });
      this._version++;
      return;
    }
    const entry = createPeerEntry(peer, ++this.seq);
    if (old) this.retire(old.entry);
    this.byB32.set(b32, { record: peer, entry });
    this.route(entry, true);
    this._version++;
    this._structureVersion++;
  }

  remove(publicKey: string): boolean {
    const b32 = keyToBase32(keyFromBase64(publicKey));
    const old = this.byB32.get(b32);
    if (!old) return false;
    this.byB32.delete(b32);
    this.retire(old.entry);
    this._version++;
    this._structureVersion++;
    return true;
  }

  /** Replaces every peer at once. Validates all records first: on a bad one, nothing changes. */
  replaceAll(peers: PeerRecord[]): void {
    const built = peers.map((record) => ({ record, entry: createPeerEntry(record, ++this.seq) }));
    for (const s of this.byB32.values()) s.entry.retired = true;
    this.byB32.clear();
    this.hosts.clear();
    this.prefixes = [];
    for (const stored of built) {
      const old = this.byB32.get(stored.entry.b32);
      if (old) this.retire(old.entry);
      this.byB32.set(stored.entry.b32, stored);
      this.route(stored.entry, false);
    }
    this.sortPrefixes();
    this._version++;
    this._structureVersion++;
  }

  get(publicKey: string): PeerRecord | undefined {
    return this.byB32.get(keyToBase32(keyFromBase64(publicKey)))?.record;
  }

  all(): PeerRecord[] {
    return Array.from(this.byB32.values(), (s) => s.record);
  }

  /** The prepared peer whose instance label is `b32` (lowercase). */
  byBase32(b32: string): PeerEntry | undefined {
    return this.byB32.get(b32)?.entry;
  }

  /** Prepared peers in insertion order (an update keeps a peer's place). */
  *entries(): IterableIterator<PeerEntry> {
    for (const s of this.byB32.values()) yield s.entry;
  }

  /** The peer whose allowed IPs hold `ip`, by most specific prefix. */
  lookupAddress(ip: IpAddress): AddressMatch | undefined {
    const claimants = this.hosts.get(addressKey(ip.bytes));
    if (claimants) return { entry: claimants[claimants.length - 1], prefixLength: ip.family === 4 ? 32 : 128 };
    for (const route of this.prefixes) {
      if (cidrContains(route.cidr, ip)) return { entry: route.entry, prefixLength: route.cidr.prefixLength };
    }
    return undefined;
  }

  private retire(entry: PeerEntry): void {
    entry.retired = true;
    this.unroute(entry);
  }

  private route(entry: PeerEntry, sort: boolean): void {
    let wide = false;
    for (const cidr of entry.prefixes) {
      if (!isHostPrefix(cidr)) {
        this.prefixes.push({ cidr, entry });
        wide = true;
        continue;
      }
      const key = addressKey(cidr.address.bytes);
      const claimants = this.hosts.get(key);
      if (claimants) claimants.push(entry);
      else this.hosts.set(key, [entry]);
    }
    if (wide && sort) this.sortPrefixes();
  }

  private unroute(entry: PeerEntry): void {
    let wide = false;
    for (const cidr of entry.prefixes) {
      if (!isHostPrefix(cidr)) {
        wide = true;
        continue;
      }
      const key = addressKey(cidr.address.bytes);
      const claimants = this.hosts.get(key);
      if (!claimants) continue;
      const rest = claimants.filter((e) => e !== entry);
      if (rest.length === 0) this.hosts.delete(key);
      else this.hosts.set(key, rest);
    }
    if (wide) this.prefixes = this.prefixes.filter((r) => r.entry !== entry);
  }

  /** Puts `next` where `prev` is in the routing tables (same prefixes, same precedence). */
  private repoint(prev: PeerEntry, next: PeerEntry): void {
    for (const cidr of prev.prefixes) {
      const claimants = isHostPrefix(cidr) ? this.hosts.get(addressKey(cidr.address.bytes)) : undefined;
      if (claimants) for (let i = 0; i < claimants.length; i++) if (claimants[i] === prev) claimants[i] = next;
    }
    for (const route of this.prefixes) if (route.entry === prev) route.entry = next;
  }

  private sortPrefixes(): void {
    this.prefixes.sort((a, b) => b.cidr.prefixLength - a.cidr.prefixLength || b.entry.seq - a.entry.seq);
  }
}
