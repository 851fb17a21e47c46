import type { DesiredPeer, PeerState, RegistryInfo } from '@wgmesh/contracts';
import type { Enrollment } from './member-state';

/**
 * Which registry peer carries a member's route to the mesh CIDR (the relay, and NATS/DNS-SD to
 * registries beyond their own /32), when a mesh has several registries.
 *
 * WireGuard's allowed IPs are unique per device: exactly one peer can hold the mesh CIDR. Every
 * registry peer holds its own tunnel address (/32, /128); the carrier holds the mesh CIDR as well
 * (which covers its own address). Which one carries it follows from what the member sees:
 *
 * - each registry's hub sends a keepalive every --hub-keepalive seconds (1-2 s in a mesh with
 *   several registries), so a live registry's receive counter on the member's device
 *   (`wg show dump` transfer_rx) grows at least that often;
 * - a registry whose counter has not grown for `deadAfterMs` (default 4 s) is dead;
 * - the carrier is the first live registry in the mesh's preference order (by id), so members
 *   agree without talking to each other; when the carrier dies the CIDR moves at once to the
 *   first live one; it moves back to a more preferred registry only once that one has been live
 *   for `backAfterMs` (default 15 s) without a gap, so a flapping registry does not move it to and fro;
 * - with no registry live, it stays where it is (nothing better to do; fail-static).
 *
 * Pure: the caller samples the device and applies carrierPeers().
 */
export interface RelayCarrierOptions {
  /** Registries in preference order. */
  registries: readonly RegistryInfo[];
  deadAfterMs?: number;
  backAfterMs?: number;
  /** Clock at construction: every registry counts as live until deadAfterMs after it. */
  now: number;
}

export const DEFAULT_DEAD_AFTER_MS = 4000;
export const DEFAULT_BACK_AFTER_MS = 15_000;

interface Seen {
  rx: number;
  /** When the counter last grew (or the start). */
  grewAt: number;
  /** Since when it has been live without a gap. */
  liveSince: number;
  live: boolean;
}

export interface CarrierChange {
  from: string;
  to: string;
  reason: 'dead' | 'preferred';
  /** How long `from` had been silent (its counter not growing), ms. */
  silentMs: number;
}

export class RelayCarrier {
  private readonly seen = new Map<string, Seen>();
  private readonly deadAfterMs: number;
  private readonly backAfterMs: number;
  private current: string;

  constructor(private readonly opts: RelayCarrierOptions) {
    if (opts.registries.length === 0) throw new Error('a relay carrier needs at least one registry');
    this.deadAfterMs = opts.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    this.backAfterMs = opts.backAfterMs ?? DEFAULT_BACK_AFTER_MS;
    for (const r of opts.registries) this.seen.set(r.publicKey, { rx: -1, grewAt: opts.now, liveSince: opts.now, live: true });
    this.current = opts.registries[0].publicKey;
  }

  /** The carrier's public key. */
  get carrier(): string {
    return this.current;
  }

  /** Which registries count as live now (public key → live). */
  liveness(): Map<string, boolean> {
    return new Map([...this.seen].map(([k, s]) => [k, s.live]));
  }

  /**
   * Takes one sample of the device (its registry peers' receive counters) at `now`; resolves the
   * carrier, and says when it changed.
   */
  observe(peers: readonly Pick<PeerState, 'publicKey' | 'rxBytes'>[], now: number): CarrierChange | null {
    const rx = new Map(peers.map((p) => [p.publicKey, p.rxBytes]));
    for (const [key, s] of this.seen) {
      const bytes = rx.get(key);
      if (bytes !== undefined && bytes !== s.rx) {
        // grew (or the device was recreated and counts from 0 again: a change all the same)
        if (s.rx !== -1) s.grewAt = now;
        s.rx = bytes;
      }
      const live = now - s.grewAt < this.deadAfterMs;
      if (live && !s.live) s.liveSince = now;
      s.live = live;
    }
    const order = this.opts.registries.map((r) => r.publicKey);
    const cur = this.seen.get(this.current)!;
    let to: string | undefined;
    let reason: CarrierChange['reason'] = 'dead';
    if (!cur.live) {
      to = order.find((k) => this.seen.get(k)!.live);
    } else {
      reason = 'preferred';
      to = order.slice(0, order.indexOf(this.current)).find((k) => {
        const s = this.seen.get(k)!;
        return s.live && now - s.liveSince >= this.backAfterMs;
      });
    }
    if (!to || to === this.current) return null;
    const change: CarrierChange = { from: this.current, to, reason, silentMs: now - cur.grewAt };
    this.current = to;
    return change;
  }
}

/** The mesh's registries as a member knows them: the enrolment's list, or the one registry it enrolled with. */
export function registriesOf(enrollment: Pick<Enrollment, 'registry' | 'registries'>): RegistryInfo[] {
  return enrollment.registries?.length ? [...enrollment.registries] : [{ id: 'registry', ...enrollment.registry }];
}

/** What a member learned of its mesh's registries. */
export interface RegistriesChange {
  /** The enrolment with the new list. */
  enrollment: Enrollment;
  added: RegistryInfo[];
  removed: RegistryInfo[];
}

/**
 * The enrolment with the mesh's registries as a registry lists them now (a registry added, or
 * taken out, after this member enrolled), and what changed; null when nothing did, or when the
 * list leaves out the registry this member enrolled with (not a list it can trust to be its
 * mesh's: ignored).
 */
export function withRegistries(enrollment: Enrollment, list: readonly RegistryInfo[]): RegistriesChange | null {
  if (!list.some((r) => r.publicKey === enrollment.registry.publicKey)) return null;
  const before = registriesOf(enrollment);
  const same = (a: RegistryInfo, b: RegistryInfo) => a.id === b.id && a.publicKey === b.publicKey && a.endpoint === b.endpoint && a.address === b.address;
  if (before.length === list.length && before.every((r, i) => same(r, list[i]))) return null;
  return {
    enrollment: { ...enrollment, registries: list.map((r) => ({ ...r })) },
    added: list.filter((r) => !before.some((b) => same(b, r))),
    removed: before.filter((b) => !list.some((r) => same(b, r))),
  };
}

/**
 * The registry peers of a member's device: each with its endpoint, its own tunnel address and
 * the keepalive; the carrier with the mesh CIDR as well.
 */
export function carrierPeers(registries: readonly RegistryInfo[], meshCidr: string, carrier: string, keepalive: number): DesiredPeer[] {
  return registries.map((r) => ({
    publicKey: r.publicKey,
    endpoint: r.endpoint,
    allowedIps: r.publicKey === carrier ? [meshCidr] : [hostPrefix(r.address)],
    persistentKeepalive: keepalive,
  }));
}

function hostPrefix(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

export interface CarrierWatchOptions {
  registries: readonly RegistryInfo[];
  meshCidr: string;
  keepalive: number;
  /** Reads the device's peers (public key, receive counter). */
  read: () => Promise<readonly Pick<PeerState, 'publicKey' | 'rxBytes'>[]>;
  /** Puts the registry peers on the device (added or updated; nothing else changes). */
  apply: (peers: DesiredPeer[]) => Promise<void>;
  /** Called after each move, with the registry peers as now applied. */
  moved?: (change: CarrierChange, peers: DesiredPeer[]) => void;
  /** A read or apply failed (the device may be restarting); the watch goes on. */
  failed?: (err: Error) => void;
  intervalMs?: number;
  deadAfterMs?: number;
  backAfterMs?: number;
}

/** Samples the device every intervalMs (default 500) and moves the mesh CIDR when RelayCarrier says so. Returns a stop function. */
export function watchRelayCarrier(o: CarrierWatchOptions): { carrier: () => string; stop: () => void } {
  const rc = new RelayCarrier({ registries: o.registries, now: Date.now(), deadAfterMs: o.deadAfterMs, backAfterMs: o.backAfterMs });
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let pending: { change: CarrierChange; peers: DesiredPeer[] } | null = null; // a move not applied yet (the apply failed): tried again
  const tick = async () => {
    try {
      const change = rc.observe(await o.read(), Date.now());
      if (change) pending = { change: pending ? { ...change, from: pending.change.from } : change, peers: carrierPeers(o.registries, o.meshCidr, rc.carrier, o.keepalive) };
      if (pending) {
        const move = pending;
        await o.apply(move.peers);
        pending = null;
        o.moved?.(move.change, move.peers);
      }
    } catch (err) {
      o.failed?.(err as Error);
    }
    if (!stopped) timer = setTimeout(() => void tick(), o.intervalMs ?? 500);
  };
  timer = setTimeout(() => void tick(), o.intervalMs ?? 500);
  return {
    carrier: () => rc.carrier,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
