import type { DesiredPeer, PeerRecord } from '@wgmesh/contracts';
import { cidrContains, formatIp, parseCidr, parseIp } from '@wgmesh/netaddr';
import { desiredPeer, DesiredOptions } from './desired';
import { GuardContext, refusedPeers } from './guard';
import { PeerTarget } from './targets';

/** What a member has to send to its dataplane since its last apply: only the peers that changed. */
export interface DesiredDelta {
  /** Peers to add or change, as they are wanted now. */
  upsert: DesiredPeer[];
  /** Keys to take off the device (no longer wanted, and not left as the device has them). */
  remove: string[];
  /** Upserted peers whose endpoint moved since the last apply (poked at once: see the member service). */
  moved: string[];
  /** The set's version it was taken at (`commit` keeps what changed after it). */
  at: number;
}

/** A peer's allowed IPs as the guard sees them on their own (before any overlap with others). */
interface OwnCheck {
  /** Why it is refused whatever the others claim (outside the mesh, covers a protected address). */
  reason?: string;
  /** Host addresses (/32, /128) it claims. */
  hosts: string[];
  /** It claims a prefix wider than a host inside the mesh. */
  wide: boolean;
}

/**
 * A member's desired direct peers, kept up to date one peer-table change at a time: the same
 * result as `refusedPeers` + `desiredPeers` over the whole table (the spec compares them after
 * every step), but an upsert or a removal costs O(that peer's allowed IPs), not O(peers), and
 * `delta()` hands out only the peers that changed since the last `commit()`.
 *
 * - The guard is indexed: who claims each host address, so that a peer's refusal (and that of the
 *   peers it overlaps) is decided from its own addresses. While any peer claims a prefix wider
 *   than a host inside the mesh (rare: routed subnets), every change re-runs `refusedPeers`
 *   over the table instead (O(peers)).
 * - Options (path decisions, on-demand targets) change everything: `setOptions` recomputes every
 *   entry (O(peers)); the caller then sends the whole set.
 */
export class DesiredSet {
  private readonly peers = new Map<string, PeerRecord>();
  private readonly own = new Map<string, OwnCheck>();
  private readonly claims = new Map<string, Set<string>>();
  private wideClaims = 0;
  /** A wide prefix was claimed before the change being settled (its removal re-decides everyone). */
  private hadWide = false;
  private readonly refusedNow = new Map<string, string>();
  private readonly wanted = new Map<string, DesiredPeer>();
  /** What the dataplane was last sent, per key (null: nothing yet, the next apply is whole). */
  private applied: Map<string, DesiredPeer> | null = null;
  /** Keys the last whole apply left on the device as they were (`keep`): possibly there, unmanaged. */
  private leftAlone = new Set<string>();
  /** Keys changed since the last apply → the version of their last change. */
  private readonly dirty = new Map<string, number>();
  private seq = 0;
  private targets: PeerTarget[] | null = null;
  private readonly mesh;
  private readonly protectedAddresses;
  /** Refusals new since the caller last took them (to log each once). */
  private newlyRefused: Array<[string, string]> = [];

  /**
   * `registries`: every registry's key of the mesh (bootstrap peers of their own, never wanted
   * as members; the guard still counts their claims, as it does over the whole table).
   */
  constructor(
    private readonly guard: GuardContext,
    private opts: DesiredOptions,
    private readonly registries: ReadonlySet<string> = new Set(),
  ) {
    this.mesh = parseCidr(guard.meshCidr);
    this.protectedAddresses = [
      ["the registry's address", parseIp(guard.registryAddress)],
      ["this node's address", parseIp(guard.selfAddress.replace(/\/\d+$/, ''))],
    ] as const;
    this.targets = opts.connect ? [...opts.connect].map((t) => new PeerTarget(t)) : null;
  }

  /** The peer table as held (the mirror's replica). */
  get table(): ReadonlyMap<string, PeerRecord> {
    return this.peers;
  }

  /** Peers of the table refused by the guard: public key → why. */
  get refused(): ReadonlyMap<string, string> {
    return this.refusedNow;
  }

  /** Refusals that appeared since the last call (key, reason). */
  takeNewlyRefused(): Array<[string, string]> {
    const out = this.newlyRefused;
    this.newlyRefused = [];
    return out;
  }

  /** Replaces the whole table (a snapshot load): O(peers). */
  reset(peers: readonly PeerRecord[]): void {
    const before = new Set(this.peers.keys());
    this.peers.clear();
    this.own.clear();
    this.claims.clear();
    this.wideClaims = 0;
    for (const p of peers) {
      if (this.peers.has(p.publicKey)) this.unindex(p.publicKey);
      this.peers.set(p.publicKey, p);
      this.index(p);
    }
    for (const k of before) if (!this.peers.has(k)) this.mark(k);
    this.recomputeAll();
  }

  /** One peer added or changed. */
  upsert(peer: PeerRecord): void {
    const key = peer.publicKey;
    const affected = new Set<string>([key]);
    this.hadWide = this.wideClaims > 0;
    if (this.peers.has(key)) for (const k of this.unindex(key)) affected.add(k);
    this.peers.set(key, peer);
    for (const k of this.index(peer)) affected.add(k);
    this.settle(affected);
    this.mark(key); // (a whole-set apply would remove it if unwanted: so does the delta)
  }

  /** One peer removed. */
  remove(publicKey: string): void {
    if (!this.peers.has(publicKey)) return;
    this.hadWide = this.wideClaims > 0;
    const affected = new Set<string>([publicKey, ...this.unindex(publicKey)]);
    this.peers.delete(publicKey);
    this.settle(affected);
    this.mark(publicKey);
  }

  /** New options (path decisions, targets, keepalive): every entry recomputed, O(peers). */
  setOptions(opts: DesiredOptions): void {
    this.opts = opts;
    this.targets = opts.connect ? [...opts.connect].map((t) => new PeerTarget(t)) : null;
    this.recomputeAll();
  }

  /** The whole desired set, sorted by public key (as `desiredPeers` returns it). */
  list(): DesiredPeer[] {
    return [...this.wanted.values()].sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0));
  }

  /** Nothing has been applied yet (or `invalidate` was called): the next apply must be whole. */
  get needsWhole(): boolean {
    return this.applied === null;
  }

  /** The version now: changes since are not in a whole set taken now (see `commitWhole`). */
  get version(): number {
    return this.seq;
  }

  private mark(key: string): void {
    this.dirty.set(key, ++this.seq);
  }

  /** Forget what was applied (a failed apply, a repair round): the next apply sends the whole set. */
  invalidate(): void {
    this.applied = null;
  }

  /**
   * The peers that differ from what was last applied. `kept`: keys left on the device as they are
   * (undecided peers); a peer no longer wanted is removed, and so is one the last whole apply left
   * alone (it may be on the device from before a restart) once it is no longer kept, as a
   * whole-set apply would.
   */
  delta(kept: (key: string) => boolean = () => false): DesiredDelta {
    const applied = this.applied ?? new Map<string, DesiredPeer>();
    const out: DesiredDelta = { upsert: [], remove: [], moved: [], at: this.seq };
    for (const key of this.dirty.keys()) {
      const now = this.wanted.get(key);
      const before = applied.get(key);
      if (now) {
        if (!before || !samePeer(now, before)) out.upsert.push(now);
        if (before && now.endpoint !== null && before.endpoint !== now.endpoint) out.moved.push(key);
      } else if (before || (this.leftAlone.has(key) && !kept(key))) out.remove.push(key);
    }
    return out;
  }

  /**
   * The delta reached the dataplane. Changes made while it was in flight (after `delta.at`) stay
   * for the next one.
   */
  commit(delta: DesiredDelta): void {
    const applied = (this.applied ??= new Map());
    for (const p of delta.upsert) applied.set(p.publicKey, p);
    for (const k of delta.remove) {
      applied.delete(k);
      this.leftAlone.delete(k);
    }
    this.settled(delta.at);
  }

  /** The whole set `peers`, taken at `version` `at`, reached the dataplane; `kept` were left as they were. */
  commitWhole(peers: readonly DesiredPeer[], at: number, kept: readonly string[] = []): void {
    this.applied = new Map(peers.map((p) => [p.publicKey, p]));
    this.leftAlone = new Set(kept);
    this.settled(at);
  }

  private settled(at: number): void {
    for (const [k, v] of this.dirty) if (v <= at) this.dirty.delete(k);
  }

  /** Peers whose endpoint differs from what was last applied (all of them: O(peers), for whole applies). */
  movedSinceApplied(): string[] {
    if (!this.applied) return [];
    const out: string[] = [];
    for (const p of this.wanted.values()) {
      const before = this.applied.get(p.publicKey);
      if (before && p.endpoint !== null && before.endpoint !== p.endpoint) out.push(p.publicKey);
    }
    return out;
  }

  private recomputeAll(): void {
    for (const k of [...this.refusedNow.keys()]) if (!this.peers.has(k)) this.refusedNow.delete(k);
    this.settle(new Set(this.peers.keys())); // (every refusal re-decided: indexed, or over the table while a wide prefix is claimed)
    for (const k of [...this.wanted.keys()]) if (!this.peers.has(k)) this.settle(new Set([k]));
  }

  /** Re-decides refusal and the desired entry of the affected keys; marks those that changed. */
  private settle(affected: Set<string>): void {
    if (this.wideClaims > 0 || this.hadWide) {
      // A routed prefix somewhere: overlaps are not indexed, the guard runs over the table.
      const full = refusedPeers([...this.peers.values()], this.guard);
      for (const k of new Set([...this.refusedNow.keys(), ...full.keys()])) if (this.refusedNow.get(k) !== full.get(k)) affected.add(k);
      for (const k of affected) this.setRefused(k, full.get(k));
      this.hadWide = false;
    } else for (const k of affected) this.setRefused(k, this.refusalOf(k));
    for (const k of affected) {
      const peer = this.peers.get(k);
      const next = peer && !this.refusedNow.has(k) && !this.registries.has(k) ? desiredPeer(peer, this.guard.selfKey, this.opts, this.targets) : undefined;
      const prev = this.wanted.get(k);
      if (next) this.wanted.set(k, next);
      else this.wanted.delete(k);
      if (!next !== !prev || (next && prev && !samePeer(next, prev))) this.mark(k);
    }
  }

  private setRefused(key: string, reason: string | undefined): void {
    if (reason === undefined || !this.peers.has(key)) {
      this.refusedNow.delete(key);
      return;
    }
    if (this.refusedNow.get(key) !== reason) this.newlyRefused.push([key, reason]);
    this.refusedNow.set(key, reason);
  }

  /** Why `key` is refused (no wide prefixes anywhere): its own addresses, or a host another peer claims too. */
  private refusalOf(key: string): string | undefined {
    const own = this.own.get(key);
    if (!own) return undefined;
    if (own.reason) return own.reason;
    for (const host of own.hosts) {
      const others = this.claims.get(host);
      if (!others || others.size < 2) continue;
      for (const other of others) {
        if (other === key) continue;
        const p = this.peers.get(other);
        return `its allowed IPs ${host} overlap those of ${p?.name ? `"${p.name}"` : other}`;
      }
    }
    return undefined;
  }

  /** Indexes a peer's claims; returns the other keys claiming the same hosts. */
  private index(peer: PeerRecord): string[] {
    if (peer.publicKey === this.guard.selfKey || peer.publicKey === this.guard.registryKey) return [];
    const own = this.check(peer);
    this.own.set(peer.publicKey, own);
    if (own.wide) this.wideClaims++;
    const others: string[] = [];
    for (const host of own.hosts) {
      let set = this.claims.get(host);
      if (!set) this.claims.set(host, (set = new Set()));
      for (const k of set) others.push(k);
      set.add(peer.publicKey);
    }
    return others;
  }

  /** Drops a peer's claims; returns the other keys that claimed the same hosts. */
  private unindex(key: string): string[] {
    const own = this.own.get(key);
    if (!own) return [];
    this.own.delete(key);
    if (own.wide) this.wideClaims--;
    const others: string[] = [];
    for (const host of own.hosts) {
      const set = this.claims.get(host);
      if (!set) continue;
      set.delete(key);
      for (const k of set) others.push(k);
      if (set.size === 0) this.claims.delete(host);
    }
    return others;
  }

  /** The per-peer part of `refusedPeers`, in the same order (a refusal stops at the prefix that causes it). */
  private check(peer: PeerRecord): OwnCheck {
    const out: OwnCheck = { hosts: [], wide: false };
    for (const text of peer.allowedIps) {
      const cidr = parseCidr(text);
      const mesh = this.mesh;
      const inside = cidr.address.family === mesh.address.family && cidr.prefixLength >= mesh.prefixLength && cidrContains(mesh, cidr.address);
      if (!inside) {
        out.reason = `its allowed IPs ${text} lie outside the mesh ${this.guard.meshCidr}`;
        break;
      }
      const hit = this.protectedAddresses.find(([, ip]) => cidrContains(cidr, ip));
      if (hit) {
        out.reason = `its allowed IPs ${text} cover ${hit[0]}`;
        break;
      }
      if (cidr.prefixLength === (cidr.address.family === 4 ? 32 : 128)) out.hosts.push(formatIp(cidr.address));
      else out.wide = true;
    }
    return out;
  }
}

function samePeer(a: DesiredPeer, b: DesiredPeer): boolean {
  if (a.publicKey !== b.publicKey || a.endpoint !== b.endpoint || a.persistentKeepalive !== b.persistentKeepalive || a.allowedIps.length !== b.allowedIps.length) return false;
  for (let i = 0; i < a.allowedIps.length; i++) if (a.allowedIps[i] !== b.allowedIps[i]) return false;
  return true;
}
