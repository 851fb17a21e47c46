import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataplaneApplyResult, DataplaneState, Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { Service, startWgmesh, waitFor } from '@wgmesh/testing';
import { describeWithVpp, TestWireguard, TEST_NET, VppTestNet } from '@wgmesh/vpp-live';
import { followState } from './follow-state';

// `wgmesh dataplane --driver vpp` and `wgmesh status --driver vpp` as processes, on a live VPP
// (skipped with the reason where none is installed), over the machine's NATS.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';

describeWithVpp('wgmesh dataplane and status on a live VPP', (install) => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-dpp-live-'));
  const mesh = `tl${Math.random().toString(36).slice(2, 8)}`;
  const node = 'vpp-node';
  let net: VppTestNet;
  let peer: TestWireguard;
  let bus: MeshBus;
  let service: Service | undefined;
  let states: DataplaneState[] = [];
  const args = () => [
    'dataplane', '--node', node, '--mesh', mesh, '--nats', NATS, '--driver', 'vpp', '--device', 'wg0', '--create',
    '--vpp-socket', net.vpp.apiSocket, '--vpp-api-dir', install().apiDir, '--vpp-src-address', TEST_NET.vpp,
    '--private-key-file', join(dir, 'key'), '--listen-port', '51820', '--address', '10.99.0.5/16', '--state-dir', dir, '--http-listen', 'off',
  ];

  beforeAll(async () => {
    net = await VppTestNet.start(install());
    peer = await net.wireguardGo(51861);
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'dataplane-vpp-live-test' });
    states = followState(bus, node).states;
    await bus.flush();
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await bus?.close();
    await net?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the interface, applies peers sent over NATS, and publishes the state', async () => {
    service = startWgmesh(args());
    await service.waitForLine(/dataplane-programmer ready/, 30_000);
    const result = await bus.request(Patterns.dataplaneApply, { peers: [{ publicKey: peer.publicKey, endpoint: peer.endpoint, allowedIps: ['10.99.0.7/32'] }], replace: true }, (v) => v as DataplaneApplyResult, { node, timeoutMs: 10_000 });
    expect(result).toMatchObject({ added: 1, removed: 0 });
    await waitFor('a state with the peer', () => states.find((s) => s.peers.some((p) => p.publicKey === peer.publicKey)), 10_000);
  }, 60_000);

  it('refuses a second service for the same device, naming the first', async () => {
    const second = startWgmesh(args());
    const code = await new Promise((resolve) => second.proc.once('exit', resolve));
    expect(code).toBe(1);
    expect(second.lines.join('\n')).toMatch(new RegExp(`device wg0 is already served by another dataplane service \\(process ${service!.proc.pid} \\(node ${node}\\)`));
  }, 30_000);

  it('`wgmesh status --driver vpp` shows the device when NATS runs but no registry answers', async () => {
    const status = startWgmesh(['status', '--driver', 'vpp', '--device', 'wg0', '--vpp-socket', net.vpp.apiSocket, '--vpp-api-dir', install().apiDir, '--nats', NATS, '--mesh', mesh, '--state-dir', dir, '--timeout', '2000']);
    const code = await new Promise((resolve) => status.proc.once('exit', resolve));
    const out = status.lines.join('\n');
    expect({ code, out }).toMatchObject({ code: 0 });
    expect(out).toMatch(/no member list from a registry .*showing the device only/);
    expect(status.lines.find((l) => l.includes('10.99.0.7/32'))).toMatch(/198\.51\.100|192\.0\.2\.2:51861/);
  }, 30_000);
});
