import type { DesiredPeer, EnrollRequest, PeerState } from '@wgmesh/contracts';
import { buildEnrollRequest, destroyRegistryState } from '@wgmesh/registry';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import type { Redis } from 'ioredis';
import { PeerStore } from '@wgmesh/peer-store';
import type { NatsConnection } from 'nats';
import { createLogger, Logger } from '@wgmesh/log';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff } from '@wgmesh/dataplane';

// Test kit for peer discovery (reached as @wgmesh/peer-discovery/testing; not exported from the
// library): an in-memory dataplane, keys, enrolment requests and a logger that records.

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

/** A real WireGuard key pair (enrolment proves possession of the private key). */
export function keyPair(): { publicKey: string; privateKey: SecretKey } {
  const priv = generatePrivateKey();
  return { publicKey: keyToBase64(publicKeyFromPrivate(priv)), privateKey: new SecretKey(priv) };
}

/** An enrolment request for `member` as its own client makes it (both proofs), with overrides. */
export function enrolRequest(o: { mesh: string; name: string; token: string; member: ReturnType<typeof keyPair>; registryKey: string; natsKey?: string; now?: number }): EnrollRequest {
  return buildEnrollRequest({ mesh: o.mesh, name: o.name, token: o.token, privateKey: o.member.privateKey, publicKey: o.member.publicKey, registryKey: o.registryKey, natsKey: o.natsKey, now: o.now });
}

/** Removes a test mesh from the shared NATS (its store of record) and Redis (its peer table). */
export async function removeTestMesh(nc: NatsConnection, redis: Redis, mesh: string): Promise<void> {
  await destroyRegistryState(nc, mesh);
  await new PeerStore(redis, mesh).clear();
}
