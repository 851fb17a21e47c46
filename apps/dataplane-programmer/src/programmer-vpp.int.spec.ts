import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '@wgmesh/config';
import { DataplaneApplyRequest, DataplaneApplyResult, DataplaneState, DesiredPeer, Patterns } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { startWgmesh, waitFor } from '@wgmesh/testing';
import { loadDefinitions } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { API_DIR, describeGolden } from '@wgmesh/vpp-api/testing';
import { dataplaneOptions } from './config';
import { followState } from './follow-state';
import { RunningDataplane, startDataplaneProgrammer } from './run';

// dataplane-programmer with --driver vpp, end to end over real NATS, against the VPP simulator
// (@wgmesh/vpp-sim) on a unix socket in a temp dir; then `wgmesh status` reading the same VPP.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const peerKey = (n: number) => keyToBase64(publicKeyFromPrivate(Buffer.alloc(32, n)));
const peer = (n: number, port = 51820): DesiredPeer => ({ publicKey: peerKey(n), endpoint: `198.51.100.${n}:${port}`, allowedIps: [`10.99.1.${n}/32`] });

describeGolden('dataplane-programmer --driver vpp (against the VPP simulator)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-dpp-vpp-'));
  const mesh = `tv${Math.random().toString(36).slice(2, 8)}`;
  const node = 'vpp-member';
  const registry = { ...peer(200), allowedIps: ['10.99.0.0/16'] };
  const socketPath = join(dir, 'api.sock');
  let sim: VppSim;
  let bus: MeshBus;
  let running: RunningDataplane | null = null;
  let states: DataplaneState[] = [];
  const logs: Array<{ msg: string; [k: string]: unknown }> = [];
  const log = createLogger({ service: 'dataplane-programmer', level: 'debug', write: (l) => logs.push(JSON.parse(l)) });
  const argv = [
    '--node', node, '--mesh', mesh, '--nats', NATS, '--driver', 'vpp', '--device', 'wg0', '--create',
    '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--vpp-src-address', '10.10.0.1',
    '--private-key-file', join(dir, 'key'), '--listen-port', '51830', '--address', '10.99.0.5/16', '--route', '10.98.0.0/16',
    '--protect', registry.publicKey, '--state-interval', '60000', '--state-dir', dir,
  ];
  const config = () => parseOptions(dataplaneOptions, { argv, env: {} }).options;
  const apply = (req: DataplaneApplyRequest) => bus.request(Patterns.dataplaneApply, req, (v) => v as DataplaneApplyResult, { node, timeoutMs: 10_000 });
  const simPeers = () => new Map(sim.peers().map((p) => [keyToBase64(p.publicKey), p]));
  const routes = () => sim.routes().map((r) => r.prefix).sort();

  beforeAll(async () => {
    sim = await VppSim.start({ socketPath, definitions: loadDefinitions(API_DIR) });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'dataplane-vpp-test' });
    states = followState(bus, node).states;
    await bus.flush();
  });

  afterAll(async () => {
    await running?.close();
    await bus?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the VPP interface, applies a desired set with routes and publishes the state', async () => {
    running = await startDataplaneProgrammer(config(), log);
    await running.ready;
    const wg = sim.interfaces().find((i) => i.wireguard)!;
    expect(wg).toMatchObject({ name: 'wg0', adminUp: true, addresses: ['10.99.0.5/32'], mtu: [1420, 1420, 1420, 1420] });
    expect(keyToBase64(wg.wireguard!.publicKey)).toBe(running.publicKey);
    expect(wg.wireguard).toMatchObject({ port: 51830, srcIp: '10.10.0.1' });

    const result = await apply({ peers: [registry, peer(1), peer(2)], replace: true, revision: 3 });
    expect(result).toMatchObject({ added: 3, updated: 0, removed: 0, unchanged: 0, revision: 3 });
    expect([...simPeers().keys()].sort()).toEqual([registry, peer(1), peer(2)].map((p) => p.publicKey).sort());
    expect(routes()).toEqual(['10.98.0.0/16', '10.99.0.0/16', '10.99.1.1/32', '10.99.1.2/32']);
    const state = await waitFor('a state with 3 peers', () => states.find((s) => s.peers.length === 3));
    expect(state).toMatchObject({ node, driver: 'vpp', device: 'wg0', publicKey: running.publicKey, listenPort: 51830 });
  });

  it('publishes a handshake at the next state poll once VPP reports the peer ESTABLISHED', async () => {
    const seen = states.length;
    sim.simulateHandshake(simPeers().get(peer(1).publicKey)!.peerIndex);
    const state = await waitFor('a state with the handshake', () => states.slice(seen).find((s) => s.peers.some((p) => p.publicKey === peer(1).publicKey && p.latestHandshake > 0)), 5000);
    expect(state.peers.find((p) => p.publicKey === peer(2).publicKey)!.latestHandshake).toBe(0);
  });

  it('moves one peer (only it is removed and added), removes another, never the protected registry', async () => {
    const before = simPeers();
    const result = await apply({ peers: [peer(1, 40000)], replace: true });
    expect(result).toMatchObject({ added: 0, updated: 1, removed: 1, unchanged: 0 });
    const after = simPeers();
    expect([...after.keys()].sort()).toEqual([registry, peer(1)].map((p) => p.publicKey).sort());
    expect(after.get(registry.publicKey)!.peerIndex).toBe(before.get(registry.publicKey)!.peerIndex);
    expect(after.get(peer(1).publicKey)).toMatchObject({ endpoint: '198.51.100.1', port: 40000 });
    expect(routes()).toEqual(['10.98.0.0/16', '10.99.0.0/16', '10.99.1.1/32']);
  });

  it('restarted, adopts the interface and its peers unchanged', async () => {
    await running!.close();
    running = null;
    const calls = () => ['wireguard_interface_create', 'wireguard_peer_add', 'wireguard_peer_remove', 'ip_route_add_del'].map((m) => sim.state.counts.get(m) ?? 0);
    const before = calls();
    running = await startDataplaneProgrammer(config(), log);
    await running.ready;
    expect(await apply({ peers: [registry, peer(1, 40000)], replace: true })).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: 2 });
    expect(calls()).toEqual(before);
  });

  it('answers with the VPP error when VPP refuses a peer', async () => {
    sim.fail('wireguard_peer_add', -7);
    await expect(apply({ peers: [peer(3)], replace: false })).rejects.toThrow(/wireguard_peer_add returned retval -7 \(INVALID_VALUE\) while adding peer/);
    expect(await apply({ peers: [peer(3)], replace: false })).toMatchObject({ added: 1 });
  });

  it('`wgmesh status --driver vpp` shows the VPP peers and their session state', async () => {
    sim.simulateHandshake(simPeers().get(peer(1).publicKey)!.peerIndex); // its moved entry is a new VPP peer
    const svc = startWgmesh(['status', '--device', 'wg0', '--driver', 'vpp', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--nats', 'nats://127.0.0.1:1', '--state-dir', dir, '--timeout', '2000']);
    const code = svc.proc.exitCode ?? (await new Promise((resolve) => svc.proc.once('exit', resolve)));
    expect(code).toBe(0);
    const out = svc.lines.join('\n');
    expect(out).toMatch(/showing the device only/);
    const row = (n: number) => svc.lines.find((l) => l.includes(`10.99.1.${n}/32`)) ?? '';
    expect(row(1)).toMatch(/direct\s+198\.51\.100\.1:40000\s+established\s+n\/a\s+n\/a/);
    expect(row(3)).toMatch(/connecting\s+198\.51\.100\.3:51820\s+no session\s+n\/a\s+n\/a/);
  });
});
