import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff, RecreatedPeer } from './driver';

// Test helpers for this library's and dataplane-programmer's unit tests (not exported from index).

/** A deterministic public key for peer number n. */
export function testKey(n: number): string {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(n);
  k[31] = 0x5a;
  return k.toString('base64');
}

/** A desired peer number n: 10.99.x.y/32 and an endpoint in 198.51.100.0/24. */
export function testPeer(n: number, port = 51820): DesiredPeer {
  return { publicKey: testKey(n), endpoint: `198.51.100.${(n % 250) + 1}:${port}`, allowedIps: [`10.99.${(n >> 8) & 255}.${n & 255}/32`] };
}

/** An in-memory device: applies diffs to a peer map, counts the calls that changed something. */
export class MemoryDriver implements DataplaneDriver {
  readonly kind = 'uapi' as const;
  readonly peers = new Map<string, PeerState>();
  /** Non-empty diffs applied, in order. */
  readonly applied: PeerDiff[] = [];
  reads = 0;
  /** When set, apply waits for it (to hold a batch while more requests arrive). */
  gate: Promise<void> | null = null;
  failNext: Error | null = null;

  constructor(readonly device = 'wgmem0') {}

  async ensureDevice(_spec: DeviceSpec): Promise<void> {}

  async read(): Promise<DeviceState> {
    this.reads++;
    return { publicKey: testKey(0), listenPort: 51820, peers: [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] })) };
  }

  async apply(diff: PeerDiff): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    if (diff.upsert.length === 0 && diff.remove.length === 0) return;
    this.applied.push(diff);
    for (const key of diff.remove) this.peers.delete(key);
    for (const p of diff.upsert) {
      const old = this.peers.get(p.publicKey);
      this.peers.set(p.publicKey, {
        publicKey: p.publicKey,
        endpoint: p.endpoint ?? old?.endpoint ?? null,
        allowedIps: [...p.allowedIps],
        persistentKeepalive: p.persistentKeepalive ?? 0,
        latestHandshake: old?.latestHandshake ?? 0,
        rxBytes: old?.rxBytes ?? 0,
        txBytes: old?.txBytes ?? 0,
      });
    }
  }

  /** Each recreatePeers call, in order, with when it came (performance.now()). */
  readonly recreated: Array<{ at: number; entries: RecreatedPeer[] }> = [];

  async recreatePeers(entries: readonly RecreatedPeer[]): Promise<void> {
    this.recreated.push({ at: performance.now(), entries: entries.map((e) => ({ ...e, allowedIps: [...e.allowedIps] })) });
    for (const e of entries) {
      this.peers.set(e.publicKey, { publicKey: e.publicKey, endpoint: e.endpoint, allowedIps: [...e.allowedIps], persistentKeepalive: e.persistentKeepalive, latestHandshake: 0, rxBytes: 0, txBytes: 0 });
    }
  }

  async close(): Promise<void> {}
}
