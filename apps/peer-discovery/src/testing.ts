import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import { createLogger, Logger } from '@wgmesh/log';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff } from '@wgmesh/dataplane';

// Test-only helpers for this app's specs (not used by the app).

/** An in-memory WireGuard device: the DataplaneDriver interface without a kernel or a socket. */
export class FakeDriver implements DataplaneDriver {
  readonly kind = 'uapi' as const;
  readonly peers = new Map<string, PeerState>();
  failReads = false;
  reads = 0;

  constructor(
    readonly device: string,
    public publicKey: string,
    public listenPort = 51820,
  ) {}

  async ensureDevice(_spec: DeviceSpec): Promise<void> {}

  async read(): Promise<DeviceState> {
    this.reads++;
    if (this.failReads) throw new Error('device gone');
    return { publicKey: this.publicKey, listenPort: this.listenPort, peers: [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] })) };
  }

  async apply(diff: PeerDiff): Promise<void> {
    for (const key of diff.remove) this.peers.delete(key);
    for (const p of diff.upsert) this.set(p);
  }

  /** Adds or changes a peer as a handshake or `wg set` would. */
  set(p: DesiredPeer | (Partial<PeerState> & { publicKey: string })): void {
    const had = this.peers.get(p.publicKey);
    this.peers.set(p.publicKey, {
      publicKey: p.publicKey,
      endpoint: p.endpoint ?? had?.endpoint ?? null,
      allowedIps: p.allowedIps ?? had?.allowedIps ?? [],
      latestHandshake: (p as Partial<PeerState>).latestHandshake ?? had?.latestHandshake ?? 0,
      rxBytes: (p as Partial<PeerState>).rxBytes ?? had?.rxBytes ?? 0,
      txBytes: (p as Partial<PeerState>).txBytes ?? had?.txBytes ?? 0,
      persistentKeepalive: p.persistentKeepalive ?? had?.persistentKeepalive ?? 0,
    });
  }

  async close(): Promise<void> {}
}

/** A logger that keeps its lines (quiet tests, assertions on log lines). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ service: 'test', level: 'debug', write: (l) => lines.push(l) }), lines };
}

export const key = (n: number): string => {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(n, 0);
  k[31] = 0x42;
  return k.toString('base64');
};
