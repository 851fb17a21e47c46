import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerState } from '@wgmesh/contracts';
import { toDeviceState } from '@wgmesh/dataplane';
import { generatePrivateKey, keyToBase64, parseWgDump, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { waitFor, describeE2E } from '@wgmesh/testing';
import { Lab } from './lab';
import { missingRequirements } from './requirements';

/**
 * The lab's self-test: wgsd-style hole punching with plain `wg` commands, as DESIGN.md describes.
 * A hub on the registry learns each member's NAT'd endpoint from its handshakes; the members are
 * then given each other's hub-observed endpoints. Behind endpoint-independent NATs they get a
 * direct tunnel that bypasses the hub; behind endpoint-dependent ones they do not, and the hub
 * relays (members carry the hub with allowed-ips = the mesh /16).
 */
const MESH = '10.99.0.0/16';
const HUB = { tunnel: '10.99.0.1', port: 51820 };
const A = { name: 'a', tunnel: '10.99.0.2', port: 51821 };
const B = { name: 'b', tunnel: '10.99.0.3', port: 51822 };

class Node {
  readonly privateKey = generatePrivateKey();
  readonly publicKey = keyToBase64(publicKeyFromPrivate(this.privateKey));
  dev = '';
  constructor(
    readonly lab: Lab,
    readonly host: string,
    readonly tunnel: string,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    const wg = await this.lab.startWireguardGo(this.host, undefined, { address: `${this.tunnel}/16` });
    this.dev = wg.dev;
    // wg reads the key from a file (not from a pipe: node's stdin pipes are sockets, which fopen refuses).
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-lab-key-'));
    try {
      writeFileSync(join(dir, 'key'), keyToBase64(this.privateKey), { mode: 0o600 });
      await this.wg(['set', this.dev, 'listen-port', String(this.port), 'private-key', join(dir, 'key')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  wg(args: string[], input?: string) {
    return this.lab.exec(this.host, 'wg', args, { input });
  }

  async peers(): Promise<Map<string, PeerState>> {
    return new Map(toDeviceState(parseWgDump((await this.wg(['show', this.dev, 'dump'])).stdout)).peers.map((p) => [p.publicKey, p]));
  }

  async peer(other: Node): Promise<PeerState | undefined> {
    return (await this.peers()).get(other.publicKey);
  }

  setPeer(other: Node, opts: { endpoint?: string; allowed: string; keepalive?: number }) {
    return this.wg([
      'set',
      this.dev,
      'peer',
      other.publicKey,
      'allowed-ips',
      opts.allowed,
      ...(opts.endpoint ? ['endpoint', opts.endpoint] : []),
      ...(opts.keepalive ? ['persistent-keepalive', String(opts.keepalive)] : []),
    ]);
  }

  removePeer(other: Node) {
    return this.wg(['set', this.dev, 'peer', other.publicKey, 'remove']);
  }
}

/** Hub on the registry, members a and b peered with it; resolves once the hub saw both endpoints. */
async function hubAndMembers(lab: Lab): Promise<{ hub: Node; a: Node; b: Node; endpoints: { a: string; b: string } }> {
  const hub = new Node(lab, 'registry', HUB.tunnel, HUB.port);
  const a = new Node(lab, A.name, A.tunnel, A.port);
  const b = new Node(lab, B.name, B.tunnel, B.port);
  await Promise.all([hub.start(), a.start(), b.start()]);
  await hub.setPeer(a, { allowed: `${A.tunnel}/32` });
  await hub.setPeer(b, { allowed: `${B.tunnel}/32` });
  // Setting persistent-keepalive sends a keepalive at once: the member handshakes with the hub.
  const hubEndpoint = `${lab.addressOf('registry')}:${HUB.port}`;
  await a.setPeer(hub, { endpoint: hubEndpoint, allowed: MESH, keepalive: 25 });
  await b.setPeer(hub, { endpoint: hubEndpoint, allowed: MESH, keepalive: 25 });
  const seen = await waitFor('the hub to learn both members’ endpoints', async () => {
    const peers = await hub.peers();
    const ea = peers.get(a.publicKey)?.endpoint;
    const eb = peers.get(b.publicKey)?.endpoint;
    return ea && eb ? { a: ea, b: eb } : undefined;
  });
  return { hub, a, b, endpoints: seen };
}

/** Configures a and b with each other's endpoints (as peer-discovery would from DNS-SD). */
async function configureDirect(a: Node, b: Node, endpoints: { a: string; b: string }): Promise<void> {
  await Promise.all([
    a.setPeer(b, { endpoint: endpoints.b, allowed: `${B.tunnel}/32`, keepalive: 1 }),
    b.setPeer(a, { endpoint: endpoints.a, allowed: `${A.tunnel}/32`, keepalive: 1 }),
  ]);
}

async function hubBytes(hub: Node, ...members: Node[]): Promise<number> {
  const peers = await hub.peers();
  return members.reduce((sum, m) => sum + (peers.get(m.publicKey)?.rxBytes ?? 0) + (peers.get(m.publicKey)?.txBytes ?? 0), 0);
}

/** Asserts that `check` stays false for `ms` (polling): absence can only be shown over a window. */
async function staysFalse(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    expect(await check()).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const PING = { count: 5, intervalMs: 20, size: 1000, timeoutMs: 1000 };
const PING_BYTES = PING.count * 2 * (PING.size + 28);

const describeLab = (name: string, body: () => void) => describeE2E(name, missingRequirements(), body);

describeLab('hole punching through endpoint-independent NATs (eim, eim)', () => {
  let lab: Lab;
  let nodes: Awaited<ReturnType<typeof hubAndMembers>>;

  beforeAll(async () => {
    lab = await Lab.up({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'eim' }] });
    nodes = await hubAndMembers(lab);
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('the hub sees each member at its NAT’s public address, with the source port kept', () => {
    expect(nodes.endpoints.a).toBe(`${lab.publicAddressOf('a')}:${A.port}`);
    expect(nodes.endpoints.b).toBe(`${lab.publicAddressOf('b')}:${B.port}`);
  });

  it('members configured with the hub-observed endpoints get a direct tunnel that bypasses the hub', async () => {
    const { hub, a, b, endpoints } = nodes;
    const started = Date.now();
    await configureDirect(a, b, endpoints);
    await waitFor('a direct handshake between a and b', async () => ((await a.peer(b))?.latestHandshake ?? 0) > 0 && ((await b.peer(a))?.latestHandshake ?? 0) > 0, 5000);
    const handshakeMs = Date.now() - started;

    const before = await hubBytes(hub, a, b);
    const directBefore = (await a.peer(b))!;
    const ping = await lab.ping('a', B.tunnel, PING);
    expect(ping.received).toBe(PING.count);
    const directAfter = (await a.peer(b))!;
    expect(directAfter.txBytes - directBefore.txBytes).toBeGreaterThanOrEqual(PING.count * PING.size);
    expect(directAfter.endpoint).toBe(endpoints.b);
    expect((await b.peer(a))!.endpoint).toBe(endpoints.a);
    // The ping's bytes went a ↔ b; the hub saw at most a keepalive or two.
    expect((await hubBytes(hub, a, b)) - before).toBeLessThan(PING_BYTES / 4);

    // Endpoint-independent: a's one socket has the same external port towards the hub and b.
    const flows = (await lab.natMappings('a')).filter((m) => m.proto === 'udp' && m.sourcePort === A.port);
    expect(new Set(flows.map((m) => m.destination))).toEqual(new Set([lab.addressOf('registry'), lab.publicAddressOf('b')]));
    expect(new Set(flows.map((m) => m.externalPort))).toEqual(new Set([A.port]));
    process.stderr.write(`direct handshake ${handshakeMs} ms after configuring both members, ping rtt ${ping.rttMs} ms\n`);
  });

  it('after rebindNat the hub observes a new endpoint, and the direct tunnel follows it', async () => {
    const { hub, a, b, endpoints } = nodes;
    await configureDirect(a, b, endpoints); // as the previous test leaves it (for running this one alone)
    await waitFor('a direct ping a → b', async () => (await lab.ping('a', B.tunnel, { timeoutMs: 300 })).ok, 5000);
    const rebinds = await lab.rebindNat('a');
    expect(rebinds).toEqual([{ sourcePort: A.port, before: [A.port], after: expect.any(Number) }]);
    const port = rebinds[0].after!;
    expect(port).not.toBe(A.port);

    // a's next packet to the hub leaves from the new port (traffic makes wireguard-go send).
    const moved = `${lab.publicAddressOf('a')}:${port}`;
    await waitFor('the hub to observe a’s new endpoint', async () => {
      await lab.ping('a', HUB.tunnel, { timeoutMs: 200 });
      return (await hub.peer(a))?.endpoint === moved;
    });
    // b, told the new endpoint (as DNS-SD would tell it), reaches a directly again once b sends
    // something to it, opening b's NAT: its next persistent keepalive (1 s here). Setting only the
    // endpoint sends nothing; wireguard-go sends an immediate keepalive only when keepalive is
    // turned on (0 → n), so this takes up to one keepalive interval.
    await b.setPeer(a, { endpoint: moved, allowed: `${A.tunnel}/32`, keepalive: 1 });
    await waitFor('a direct ping a → b after the rebind', async () => (await lab.ping('a', B.tunnel, { timeoutMs: 300 })).ok, 5000);
    expect((await b.peer(a))!.endpoint).toBe(moved);
    const flows = (await lab.natMappings('a')).filter((m) => m.proto === 'udp' && m.sourcePort === A.port);
    expect(new Set(flows.map((m) => m.externalPort))).toEqual(new Set([port]));
  });
});

describeLab('endpoint-dependent NATs (edm, edm): no direct tunnel, the hub relays', () => {
  let lab: Lab;

  beforeAll(async () => {
    // b starts as eim and is switched at run time: setNatMode is what the e2e tests use.
    lab = await Lab.up({ members: [{ name: 'a', nat: 'edm' }, { name: 'b', nat: 'eim' }] });
    await lab.setNatMode('b', 'edm');
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('direct does not come up within 3 s; after removing the direct peers the hub relays', async () => {
    expect(lab.natMode('b')).toBe('edm');
    const { hub, a, b, endpoints } = await hubAndMembers(lab);
    expect(endpoints.a.startsWith(`${lab.publicAddressOf('a')}:`)).toBe(true);
    await configureDirect(a, b, endpoints);
    await staysFalse(async () => ((await a.peer(b))?.latestHandshake ?? 0) > 0 || ((await b.peer(a))?.latestHandshake ?? 0) > 0, 3000);

    // Endpoint-dependent: a's socket has a different external port per destination.
    const flows = (await lab.natMappings('a')).filter((m) => m.proto === 'udp' && m.sourcePort === A.port);
    const toHub = flows.find((m) => m.destination === lab.addressOf('registry'));
    const toB = flows.find((m) => m.destination === lab.publicAddressOf('b'));
    expect(toHub && toB && toHub.externalPort !== toB.externalPort).toBe(true);

    await a.removePeer(b);
    await b.removePeer(a);
    const before = await hubBytes(hub, a, b);
    const ping = await lab.ping('a', B.tunnel, PING);
    expect(ping.received).toBe(PING.count);
    // Each ping crossed the hub twice (a → hub → b, and back).
    expect((await hubBytes(hub, a, b)) - before).toBeGreaterThanOrEqual(2 * PING.count * 2 * PING.size);
  });
});
