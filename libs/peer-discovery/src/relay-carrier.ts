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
 * - with no registry live, it stays where it is (nothing better to do; fail-static);
 * - the list can change while it runs (setRegistries: a registry added to the mesh, or taken
 *   out): an added registry counts as live for deadAfterMs from then, like every registry at the
 *   start, and takes the CIDR only by the rules above (dead carrier, or preferred and live for
 *   backAfterMs); a removed registry is dropped at once, unless it carries the CIDR and no other
 *   registry is live: then it keeps it (last in the order, "retiring") until another one is.
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
  reason: 'dead' | 'preferred' | 'removed';
  /** How long `from` had been silent (its counter not growing), ms. */
  silentMs: number;
}

export class RelayCarrier {
  private readonly seen = new Map<string, Seen>();
  private readonly deadAfterMs: number;
  private readonly backAfterMs: number;
  private current: string;
  /** The registries in preference order; a retiring carrier last. */
  private list: RegistryInfo[];
  /** A carrier taken out of the mesh's list, kept until another registry is live. */
  private retiring: string | null = null;

  constructor(opts: RelayCarrierOptions) {
    if (opts.registries.length === 0) throw new Error('a relay carrier needs at least one registry');
    this.deadAfterMs = opts.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    this.backAfterMs = opts.backAfterMs ?? DEFAULT_BACK_AFTER_MS;
    this.list = opts.registries.map((r) => ({ ...r }));
    for (const r of this.list) this.seen.set(r.publicKey, { rx: -1, grewAt: opts.now, liveSince: opts.now, live: true });
    this.current = this.list[0].publicKey;
  }

  /** The carrier's public key. */
  get carrier(): string {
    return this.current;
  }

  /** The registry peers the member keeps: the mesh's list, and a retiring carrier (last). */
  get registries(): RegistryInfo[] {
    return this.list.map((r) => ({ ...r }));
  }

  /**
   * The mesh's registries changed (preference order). Says when the carrier moved because it was
   * taken out (to the first live registry of the new list).
   */
  setRegistries(registries: readonly RegistryInfo[], now: number): CarrierChange | null {
    if (registries.length === 0) throw new Error('a relay carrier needs at least one registry');
    const keys = new Set(registries.map((r) => r.publicKey));
    for (const r of registries) if (!this.seen.has(r.publicKey)) this.seen.set(r.publicKey, { rx: -1, grewAt: now, liveSince: now, live: true });
    const carrier = this.list.find((r) => r.publicKey === this.current)!;
    this.list = registries.map((r) => ({ ...r }));
    this.retiring = null;
    let change: CarrierChange | null = null;
    if (!keys.has(this.current)) {
      const to = this.list.find((r) => this.seen.get(r.publicKey)!.live);
      if (to) change = { from: this.current, to: to.publicKey, reason: 'removed', silentMs: now - this.seen.get(this.current)!.grewAt };
      else {
        this.retiring = this.current;
        this.list.push(carrier);
      }
    }
    if (change) this.current = change.to;
    for (const k of [...this.seen.keys()]) if (!keys.has(k) && k !== this.retiring) this.seen.delete(k);
    return change;
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
    const order = this.list.map((r) => r.publicKey);
    const cur = this.seen.get(this.current)!;
    let to: string | undefined;
    let reason: CarrierChange['reason'] = 'dead';
    if (this.retiring !== null) {
      reason = 'removed';
      to = order.find((k) => k !== this.retiring && this.seen.get(k)!.live);
    } else if (!cur.live) {
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
    if (this.retiring !== null) {
      this.seen.delete(this.retiring);
      this.list = this.list.filter((r) => r.publicKey !== this.retiring);
      this.retiring = null;
    }
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
  /**
   * Puts the registry peers on the device (added or updated) and takes off the registry peers
   * in `remove` (registries no longer in the list); nothing else changes.
   */
  apply: (peers: DesiredPeer[], remove: string[]) => Promise<void>;
  /** Called after each move, with the registry peers as now applied. */
  moved?: (change: CarrierChange, peers: DesiredPeer[]) => void;
  /** Called once a changed list is on the device (peers added, removed), with the registry peers as now applied. */
  changed?: (peers: DesiredPeer[], removed: string[]) => void;
  /** A read or apply failed (the device may be restarting); the watch goes on. */
  failed?: (err: Error) => void;
  intervalMs?: number;
  deadAfterMs?: number;
  backAfterMs?: number;
}

export interface CarrierWatch {
  /** The carrier's public key. */
  carrier(): string;
  /** The registry peers kept (the mesh's list, and a retiring carrier). */
  registries(): RegistryInfo[];
  /** The mesh's registries changed: applied at the next tick (peers added, removed, the carrier moved when it was taken out). */
  setRegistries(registries: readonly RegistryInfo[]): void;
  stop(): void;
}

/**
 * Samples the device every intervalMs (default 500) and moves the mesh CIDR when RelayCarrier
 * says so (with one registry there is nothing to decide: no samples); puts a changed list of
 * registries on the device. Returns the handle.
 */
export function watchRelayCarrier(o: CarrierWatchOptions): CarrierWatch {
  const rc = new RelayCarrier({ registries: o.registries, now: Date.now(), deadAfterMs: o.deadAfterMs, backAfterMs: o.backAfterMs });
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let move: CarrierChange | null = null; // a move not applied yet (or its apply failed): tried again
  let version = 0; // of the list: setRegistries counts up
  let applied = 0;
  let onDevice = new Set(o.registries.map((r) => r.publicKey)); // the bootstrap put them there
  const merge = (change: CarrierChange | null) => {
    if (change) move = move ? { ...change, from: move.from } : change;
  };
  const tick = async () => {
    try {
      if (rc.registries.length > 1) merge(rc.observe(await o.read(), Date.now()));
      if (move || version !== applied) {
        const peers = carrierPeers(rc.registries, o.meshCidr, rc.carrier, o.keepalive);
        const keys = new Set(peers.map((p) => p.publicKey));
        const remove = [...onDevice].filter((k) => !keys.has(k));
        const [m, v] = [move, version];
        await o.apply(peers, remove);
        onDevice = keys;
        if (move === m) move = null; // else setRegistries moved it again meanwhile: applied next tick
        const listed = v !== applied;
        applied = v;
        if (m) o.moved?.(m, peers);
        if (listed) o.changed?.(peers, remove);
      }
    } catch (err) {
      o.failed?.(err as Error);
    }
    if (!stopped) timer = setTimeout(() => void tick(), o.intervalMs ?? 500);
  };
  timer = setTimeout(() => void tick(), o.intervalMs ?? 500);
  return {
    carrier: () => rc.carrier,
    registries: () => rc.registries,
    setRegistries: (registries) => {
      merge(rc.setRegistries(registries, Date.now()));
      version++;
    },
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
