import { type DataplaneApplyRequest, type DesiredPeer, parseDataplaneApplyRequest } from '@wgmesh/contracts';
import { DnsTarget, encodeQuery, type OwnServer, udpExchange } from '@wgmesh/testing';
import type { Logger } from '@wgmesh/log';
import type { Enrollment } from '@wgmesh/peer-discovery';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { checkResolverConfig, RunningResolver, startResolver } from '@wgmesh/app/registry-resolver';
import { parsePeerDiscoveryArgs, RunningPeerDiscovery, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import type { FakeDriver } from '@wgmesh/peer-discovery/testing';

// Test-only helpers for the fault specs (*fault*.int.spec.ts), beside the servers of their own
// (OwnServer, @wgmesh/testing): a recording dataplane for members, and DNS checks against the
// resolver.

/**
 * A member's dataplane as peer-discovery sees it: records every apply request (validated as the
 * real programmer would), and how many ran at once. `ms` is how long each apply takes.
 */
export class RecordingDataplane {
  /** The last applies (up to 20; older ones are dropped so that a long test keeps no garbage). */
  readonly applies: Array<{ at: number; req: DataplaneApplyRequest }> = [];
  /** Applies made so far. */
  count = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** The device as the applies so far left it: a whole set (`replace`, `keep` left as it was), deltas on top. */
  private readonly device = new Map<string, DesiredPeer>();

  constructor(private readonly ms = 0) {}

  readonly apply = async (request: DataplaneApplyRequest): Promise<unknown> => {
    const req = parseDataplaneApplyRequest(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.ms > 0) await new Promise((r) => setTimeout(r, this.ms));
      this.applies.push({ at: Date.now(), req });
      if (req.replace) {
        const keep = new Set(req.keep ?? []);
        for (const k of [...this.device.keys()]) if (!keep.has(k)) this.device.delete(k);
      } else for (const k of req.remove ?? []) this.device.delete(k);
      for (const p of req.peers) this.device.set(p.publicKey, p);
      this.count++;
      if (this.applies.length > 20) this.applies.shift();
      return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: this.ms };
    } finally {
      this.inFlight--;
    }
  };

  /** The device's peers as the applies so far left them, by key. */
  current(): Map<string, DesiredPeer> {
    return new Map(this.device);
  }
}

/** The SRV answer for a name: its port, or null (NXDOMAIN, no answer, timeout). */
export async function srvPort(server: DnsTarget, name: string, timeoutMs = 1000): Promise<number | null> {
  const raw = await udpExchange(server, encodeQuery(name, 'SRV', Math.floor(Math.random() * 65535)), timeoutMs);
  if (!raw) return null;
  const res = dnsPacket.decode(raw);
  const srv = res.answers?.find((a) => a.type === 'SRV');
  return srv ? (srv.data as { port: number }).port : null;
}

/** The zone's SOA serial (the resolver's table revision), or null. */
export async function soaSerial(server: DnsTarget, zone: string, timeoutMs = 1000): Promise<number | null> {
  const raw = await udpExchange(server, encodeQuery(zone, 'SOA', Math.floor(Math.random() * 65535)), timeoutMs);
  if (!raw) return null;
  const soa = dnsPacket.decode(raw).answers?.find((a) => a.type === 'SOA');
  return soa ? (soa.data as { serial: number }).serial : null;
}

// ---- a whole control plane in this process, on the test's own NATS and Redis -------------------

/** A member of the fault mesh: its key, tunnel address, and the peer-discovery serving it. */
export interface FaultMember {
  name: string;
  publicKey: string;
  dataplane: RecordingDataplane;
  running: RunningPeerDiscovery;
}

export interface FaultMeshOptions {
  mesh: string;
  nats: OwnServer;
  redis: OwnServer;
  hub: FakeDriver;
  /** --watch-interval of the registry (ms). */
  watchIntervalMs: number;
  members: Array<{ name: string; publicKey: string; address: string }>;
  log: Logger;
  /** How long each member apply takes (ms); default 0. */
  applyMs?: number;
  /** --dns-pull-interval (s) of the members; default 3600 (off for the test's length). */
  dnsPullIntervalS?: number;
}

/**
 * The registry side (peer-discovery in registry mode over the in-memory hub device, and the
 * registry-resolver) and members (peer-discovery in member mode, applying to a recording
 * dataplane), all real services on the given NATS and Redis.
 */
export class FaultMesh {
  registry!: RunningPeerDiscovery;
  resolver!: RunningResolver;
  readonly members: FaultMember[] = [];

  private constructor(readonly opts: FaultMeshOptions) {}

  static async start(opts: FaultMeshOptions): Promise<FaultMesh> {
    const m = new FaultMesh(opts);
    const { mesh, nats, redis, hub, log } = opts;
    const registryConfig = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', nats.url, '--redis', redis.url, '--device', hub.device,
      '--watch-interval', String(opts.watchIntervalMs), '--mesh-cidr', '10.99.0.0/16',
    ])!;
    m.registry = await startPeerDiscovery(registryConfig, log.child({ service: 'registry' }), { driver: hub });
    m.resolver = await startResolver(
      checkResolverConfig({ zone: [FAULT_ZONE], listen: { host: '127.0.0.1', port: 0 }, mesh, nats: nats.url, redis: redis.url, ttl: 0, selfAllowed: [], udpPayload: 1232, workers: 1, logLevel: 'info' }),
      log.child({ service: 'resolver' }),
    );
    for (const member of opts.members) {
      const dataplane = new RecordingDataplane(opts.applyMs ?? 0);
      const config = parsePeerDiscoveryArgs([
        '--mode', 'member', '--mesh', mesh, '--nats', nats.url, '--zone', FAULT_ZONE, '--dns-server', `127.0.0.1:${m.resolver.port}`,
        '--dns-pull-interval', String(opts.dnsPullIntervalS ?? 3600),
      ])!;
      const enrollment: Enrollment = {
        version: 1, name: member.name, publicKey: member.publicKey, enrolledAt: new Date().toISOString(), address: `${member.address}/32`, meshCidr: '10.99.0.0/16',
        registry: { publicKey: hub.publicKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
      };
      const running = await startPeerDiscovery(config, log.child({ service: `member-${member.name}` }), { enrollment, apply: dataplane.apply });
      m.members.push({ ...member, dataplane, running });
    }
    return m;
  }

  get dns(): DnsTarget {
    return { host: '127.0.0.1', port: this.resolver.port };
  }

  /** What each member's device should hold for the hub's peers now: every other peer with an endpoint. */
  expectedFor(member: FaultMember): Map<string, string> {
    const out = new Map<string, string>();
    for (const p of this.opts.hub.peers.values()) if (p.publicKey !== member.publicKey && p.endpoint) out.set(p.publicKey, p.endpoint);
    return out;
  }

  /** True when every member's last apply holds exactly the hub's peers (key → endpoint). */
  membersMatchHub(): boolean {
    return this.members.every((m) => {
      const want = this.expectedFor(m);
      const have = m.dataplane.current();
      return have.size === want.size && [...want].every(([k, e]) => have.get(k)?.endpoint === e);
    });
  }

  async close(): Promise<void> {
    for (const m of this.members) await m.running.close();
    await this.resolver?.close();
    await this.registry?.close();
  }
}

export const FAULT_ZONE = 'mesh.example.';

/** The DNS-SD instance name of a key in the fault mesh's zone. */
export function instanceName(publicKey: string): string {
  return `${keyToBase32(keyFromBase64(publicKey))}._wireguard._udp.${FAULT_ZONE}`;
}
