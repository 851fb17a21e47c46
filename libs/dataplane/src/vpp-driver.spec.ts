import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredPeer } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { ipRouteAddDel, loadDefinitions, VppClient, wireguardPeerAdd } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { waitFor } from '@wgmesh/testing';
import { keyFromBase64, keyToBase64, NoDeviceError, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { API_DIR, describeGolden } from '@wgmesh/vpp-api/testing';
import { diffPeers } from './diff';
import type { DeviceSpec } from './driver';
import { createDriver } from './factory';
import { testKey, testPeer } from './testing';
import { VppDriver, VppDriverOptions } from './vpp-driver';
import { VppApplyError, VppDeviceMismatchError } from './vpp-model';
import { VPP_HOST_ADDRESS } from './vpp-host';

// The vpp driver against the VPP simulator (@wgmesh/vpp-sim) on a unix socket in a temp dir.
describeGolden('VppDriver (against the VPP simulator)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-vpp-driver-'));
  const definitions = loadDefinitions(API_DIR);
  const privateKey = Buffer.alloc(32, 7);
  const spec: DeviceSpec = { create: true, privateKey, listenPort: 51820, addresses: ['10.99.0.1/16'], mtu: 1420 };
  let sim: VppSim;
  const drivers: VppDriver[] = [];
  const logs: Array<{ msg: string; [k: string]: unknown }> = [];
  const driver = (opts: VppDriverOptions = {}, device = 'wg0') => {
    const log = createLogger({ service: 'test', level: 'debug', write: (l) => logs.push(JSON.parse(l)) });
    const d = new VppDriver(device, { vppSocket: sim.socketPath, vppDefinitions: definitions, vppSrcAddress: '10.10.0.1', log, ...opts });
    drivers.push(d);
    return d;
  };
  const wg = () => sim.interfaces().find((i) => i.wireguard)!;
  const simPeers = () => new Map(sim.peers().map((p) => [keyToBase64(p.publicKey), p]));
  const simRoutes = () => sim.routes().map((r) => `${r.prefix} via ${r.paths.map((p) => `${p.swIfIndex}:${p.nextHop}`).join(',')}`).sort();
  const count = (m: string) => sim.state.counts.get(m) ?? 0;
  /** What dataplane-programmer does with a replace request: read, diff, apply. */
  const program = async (d: VppDriver, peers: DesiredPeer[]) => {
    const { diff } = diffPeers(peers, (await d.read()).peers, { replace: true });
    await d.apply(diff);
    return { upsert: diff.upsert, remove: diff.remove };
  };
  const three = [testPeer(1), testPeer(2), { ...testPeer(3), allowedIps: ['10.99.0.3/32', 'fd00:99::3/128'], persistentKeepalive: 25 }];

  beforeEach(async () => {
    sim = await VppSim.start({ socketPath: join(dir, `api-${Math.random().toString(36).slice(2)}.sock`), definitions });
    logs.length = 0;
  });
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close();
    await sim.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the interface: key, port, source address, up, MTU, address', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    const itf = wg();
    expect(itf).toMatchObject({ name: 'wg0', adminUp: true, mtu: [1420, 1420, 1420, 1420], addresses: ['10.99.0.1/32'] }); // a host address: a /16 would be a glean route that drops the relay
    expect(itf.wireguard).toMatchObject({ port: 51820, srcIp: '10.10.0.1' });
    expect(await d.read()).toEqual({ publicKey: keyToBase64(publicKeyFromPrivate(privateKey)), listenPort: 51820, peers: [] });
    expect(createDriver('vpp', 'wg0', { vppSocket: sim.socketPath })).toBeInstanceOf(VppDriver);
  });

  it('adopts an existing interface as it is, and refuses one whose key or port differ', async () => {
    await driver().ensureDevice(spec);
    const creates = count('wireguard_interface_create');
    await driver().ensureDevice(spec);
    expect(count('wireguard_interface_create')).toBe(creates);
    expect(count('sw_interface_add_del_address')).toBe(1); // the address was there already
    await expect(driver().ensureDevice({ ...spec, listenPort: 51821 })).rejects.toThrow(VppDeviceMismatchError);
    await expect(driver().ensureDevice({ ...spec, privateKey: Buffer.alloc(32, 8) })).rejects.toThrow(/wg0 .*has public key .*, not that of the given private key.*vppctl wireguard delete wg0/);
    // Another name finds it by listen port.
    await driver({}, 'vppwg').ensureDevice({ ...spec, create: false });
  });

  it('says clearly when there is no interface and it may not create one', async () => {
    await expect(driver().ensureDevice({ ...spec, create: false })).rejects.toThrow(NoDeviceError);
    await expect(driver().read()).rejects.toThrow(/VPP has no WireGuard interface wg0/);
    await expect(driver({ vppSrcAddress: undefined }).ensureDevice(spec)).rejects.toThrow(/--vpp-src-address/);
    await expect(driver({ vppSocket: join(dir, 'nothing.sock') }).read()).rejects.toThrow(/cannot connect to VPP at .*nothing\.sock/);
  });

  it('applies peers with their routes, each via a next hop of the peer\'s own (198.18.0.0/15, 2001:2::/48), also in its allowed IPs on VPP', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three);
    const sw = wg().swIfIndex;
    const peers = simPeers();
    expect([...peers.keys()].sort()).toEqual(three.map((p) => p.publicKey).sort());
    expect(peers.get(three[2].publicKey)).toMatchObject({ endpoint: '198.51.100.4', port: 51820, persistentKeepalive: 25, allowedIps: ['10.99.0.3/32', 'fd00:99::3/128', '198.18.0.3/32', '2001:2::1/128'] });
    expect(simRoutes()).toEqual([`10.99.0.1/32 via ${sw}:198.18.0.1`, `10.99.0.2/32 via ${sw}:198.18.0.2`, `10.99.0.3/32 via ${sw}:198.18.0.3`, `fd00:99::3/128 via ${sw}:2001:2::1`]);
    const state = await d.read();
    expect(state.peers.find((p) => p.publicKey === three[2].publicKey)).toEqual({
      publicKey: three[2].publicKey,
      endpoint: '198.51.100.4:51820',
      allowedIps: ['10.99.0.3/32', 'fd00:99::3/128'],
      latestHandshake: 0,
      rxBytes: 0,
      txBytes: 0,
      persistentKeepalive: 25,
    });
    expect(diffPeers(three, state.peers, { replace: true }).diff).toMatchObject({ upsert: [], remove: [] });
  });

  it('changes one endpoint by removing and adding only that peer; the others keep their peer index and routes', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three);
    const before = simPeers();
    const routes = simRoutes();
    const [adds, removes, routeCalls] = [count('wireguard_peer_add'), count('wireguard_peer_remove'), count('ip_route_add_del')];
    const moved = [three[0], { ...three[1], endpoint: '203.0.113.9:4500' }, three[2]];
    expect(await program(d, moved)).toEqual({ upsert: [moved[1]], remove: [] });
    expect([count('wireguard_peer_add') - adds, count('wireguard_peer_remove') - removes, count('ip_route_add_del') - routeCalls]).toEqual([1, 1, 0]);
    const after = simPeers();
    for (const p of [three[0], three[2]]) expect(after.get(p.publicKey)!.peerIndex).toBe(before.get(p.publicKey)!.peerIndex);
    expect(after.get(three[1].publicKey)).toMatchObject({ endpoint: '203.0.113.9', port: 4500 });
    expect(simRoutes()).toEqual(routes);
    // A null endpoint keeps the one VPP has, across a remove + add for another change.
    await program(d, [three[0], { ...moved[1], endpoint: null, persistentKeepalive: 10 }, three[2]]);
    expect(simPeers().get(three[1].publicKey)).toMatchObject({ endpoint: '203.0.113.9', port: 4500, persistentKeepalive: 10 });
  });

  it('updates routes in step with allowed IPs, and removes a removed peer with its routes', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three);
    const sw = wg().swIfIndex;
    await program(d, [three[0], three[1], { ...three[2], allowedIps: ['10.99.0.3/32', '10.98.0.0/24'] }]);
    expect(simRoutes()).toEqual([`10.98.0.0/24 via ${sw}:198.18.0.3`, `10.99.0.1/32 via ${sw}:198.18.0.1`, `10.99.0.2/32 via ${sw}:198.18.0.2`, `10.99.0.3/32 via ${sw}:198.18.0.3`]);
    await program(d, [three[0], { ...three[2], allowedIps: ['10.99.0.3/32', '10.98.0.0/24'] }]);
    expect([...simPeers().keys()].sort()).toEqual([three[0].publicKey, three[2].publicKey].sort());
    expect(simRoutes()).toEqual([`10.98.0.0/24 via ${sw}:198.18.0.3`, `10.99.0.1/32 via ${sw}:198.18.0.1`, `10.99.0.3/32 via ${sw}:198.18.0.3`]);
    await program(d, []);
    expect(sim.peers()).toEqual([]);
    expect(simRoutes()).toEqual([]);
  });

  it('keeps a --route prefix that a peer also has when that peer goes', async () => {
    const d = driver();
    await d.ensureDevice({ ...spec, routes: ['10.99.0.0/16'] });
    const registry = { ...testPeer(9), allowedIps: ['10.99.0.0/16'] };
    await program(d, [registry]);
    await program(d, []);
    expect(simRoutes()).toEqual([`10.99.0.0/16 via ${wg().swIfIndex}:10.99.0.0`]);
  });

  it('rebuilds the key → peer index map from a dump after a restart; a no-op apply sends nothing', async () => {
    const first = driver();
    await first.ensureDevice(spec);
    await program(first, three);
    await first.close();
    const calls = () => ['wireguard_peer_add', 'wireguard_peer_remove', 'ip_route_add_del'].map(count);
    const before = calls();
    const second = driver();
    await second.ensureDevice(spec);
    expect(await program(second, three)).toEqual({ upsert: [], remove: [] });
    await second.apply({ upsert: three, remove: [] }); // unchanged peers are not touched even when asked
    expect(calls()).toEqual(before);
    // The map is right: a removal after the restart removes the right peer.
    await program(second, three.slice(1));
    expect([...simPeers().keys()].sort()).toEqual(three.slice(1).map((p) => p.publicKey).sort());
  });

  it('repairs routes that do not match the peers when it starts', async () => {
    const first = driver();
    await first.ensureDevice(spec);
    await program(first, three);
    const sw = wg().swIfIndex;
    const c = await VppClient.connect({ socketPath: sim.socketPath, definitions });
    await ipRouteAddDel(c, { isAdd: false, prefix: '10.99.0.2/32', paths: [] });
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.99.0.77/32', paths: [{ swIfIndex: sw, nextHop: '198.18.0.77' }] });
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.99.0.3/32', paths: [{ swIfIndex: sw, nextHop: '10.99.0.3' }] }); // an older driver's route
    await ipRouteAddDel(c, { isAdd: true, prefix: '192.0.2.0/24', paths: [{ swIfIndex: sw }] }); // not ours: left alone
    await c.close();
    await driver().ensureDevice(spec);
    expect(simRoutes()).toContain(`10.99.0.2/32 via ${sw}:198.18.0.2`);
    expect(simRoutes()).toContain(`10.99.0.3/32 via ${sw}:198.18.0.3`);
    expect(simRoutes()).not.toContain(`10.99.0.77/32 via ${sw}:198.18.0.77`);
    expect(simRoutes()).toContain(`192.0.2.0/24 via ${sw}:null`);
    expect(logs.some((l) => l.msg === 'VPP routes did not match the peers; repaired' && l.count === 3)).toBe(true);
  });

  it('gives a peer an older driver added (no next hop of its own) one when it starts, and points its route at it', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    const sw = wg().swIfIndex;
    const c = await VppClient.connect({ socketPath: sim.socketPath, definitions });
    await wireguardPeerAdd(c, { swIfIndex: sw, publicKey: keyFromBase64(testKey(7)), endpoint: '198.51.100.8', port: 51820, allowedIps: ['10.99.0.7/32'] });
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.99.0.7/32', paths: [{ swIfIndex: sw, nextHop: '10.99.0.7' }] });
    await c.close();
    const old = driver();
    await old.ensureDevice(spec);
    expect(simPeers().get(testKey(7))!.allowedIps).toEqual(['10.99.0.7/32', '198.18.0.1/32']);
    expect(simRoutes()).toEqual([`10.99.0.7/32 via ${sw}:198.18.0.1`]);
    expect(await program(old, [testPeer(7)])).toEqual({ upsert: [], remove: [] });
  });

  it('turns a negative retval into an error naming the call, the retval and the peer, and recovers on the next apply', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three.slice(0, 2));
    sim.fail('wireguard_peer_add', -7, { match: (r) => ((r.peer as { public_key: Buffer }).public_key).equals(keyFromBase64(three[2].publicKey)) });
    const err = await program(d, three).catch((e: Error) => e);
    expect(err).toBeInstanceOf(VppApplyError);
    expect((err as Error).message).toBe(
      `vpp wg0: wireguard_peer_add returned retval -7 (INVALID_VALUE) while adding peer ${three[2].publicKey.slice(0, 8)}… (endpoint 198.51.100.4:51820, allowed 10.99.0.3/32,fd00:99::3/128)`,
    );
    expect((err as VppApplyError).failures).toEqual([expect.objectContaining({ call: 'wireguard_peer_add', retval: -7, code: 'INVALID_VALUE' })]);
    expect(simRoutes().some((r) => r.startsWith('10.99.0.3/32'))).toBe(false); // no route for a peer VPP refused
    await program(d, three);
    expect(sim.peers()).toHaveLength(3);
    expect(simRoutes()).toHaveLength(4);
  });

  it('names a failed route call with its prefix and peer', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    sim.fail('ip_route_add_del', -2);
    await expect(program(d, [testPeer(5)])).rejects.toThrow(
      `vpp wg0: ip_route_add_del returned retval -2 (INVALID_SW_IF_INDEX) while adding route 10.99.0.5/32 via 198.18.0.1 wg0 (adding the route of peer ${testKey(5).slice(0, 8)}…)`,
    );
  });

  it('follows handshakes from events (time of the event) and from the dump flags', async () => {
    let now = 1_000_000 * 120 * 1000 + 10_000; // 10 s into a 120 s step
    const d = driver({ now: () => now });
    await d.ensureDevice(spec);
    await program(d, three.slice(0, 2)); // added after ensureDevice: the driver must subscribe again
    const index = simPeers().get(three[1].publicKey)!.peerIndex;
    const eventTime = Math.floor(now / 1000);
    sim.simulateHandshake(index);
    await waitFor('the peer event', () => logs.some((l) => l.msg === 'peer event' && l.flags === 2));
    now += 50_000; // still within the step: the event's time is reported, not the read's
    let peer = (await d.read()).peers.find((p) => p.publicKey === three[1].publicKey)!;
    expect(peer.latestHandshake).toBe(eventTime);
    now += 120_000; // a step later: moved forward to the step (ESTABLISHED still holds)
    peer = (await d.read()).peers.find((p) => p.publicKey === three[1].publicKey)!;
    expect(peer.latestHandshake).toBe(Math.floor(now / 1000 / 120) * 120);
    sim.simulateSessionExpiry(index);
    await waitFor('the expiry event', () => logs.some((l) => l.msg === 'peer event' && l.flags === 0));
    expect((await d.read()).peers.map((p) => p.latestHandshake)).toEqual([0, 0]);
    // A driver that missed the event sees the flag in its next dump.
    const other = driver({ now: () => now });
    sim.simulateHandshake(index);
    expect((await other.read()).peers.find((p) => p.publicKey === three[1].publicKey)!.latestHandshake).toBe(Math.floor(now / 1000));
  });

  it('reconnects after the API connection drops and carries on', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three.slice(0, 1));
    sim.dropConnections();
    await program(d, three);
    expect(sim.peers()).toHaveLength(3);
    expect(logs.some((l) => l.msg === 'VPP API connection lost')).toBe(true);
  });

  it('reads a device it did not set up, by name (as wgmesh status does)', async () => {
    const d = driver();
    await d.ensureDevice(spec);
    await program(d, three);
    const status = createDriver('vpp', 'wg0', { vppSocket: sim.socketPath, vppDefinitions: definitions });
    expect((await status.read()).peers.map((p) => p.publicKey).sort()).toEqual(three.map((p) => p.publicKey).sort());
    await status.close();
  });

  it('with a host interface where vhost-net exists: a tun tap without checksum/GSO offload, the host address routed into it, the wg interface unnumbered to it', async () => {
    const d = driver({ vppHostInterface: 'wgmesh-t0', vppVhostNet: true });
    await d.ensureDevice({ ...spec, routes: ['10.98.0.0/16'] });
    const tap = sim.interfaces().find((i) => i.tap)!;
    expect(tap.tap).toMatchObject({ hostIfName: 'wgmesh-t0', flags: 16, hostIp4Prefix: '10.99.0.1/16', hostMtu: 1420 });
    expect(tap).toMatchObject({ adminUp: true, addresses: [VPP_HOST_ADDRESS] });
    expect(wg()).toMatchObject({ addresses: [], unnumberedTo: tap.swIfIndex });
    expect(simRoutes()).toEqual([`10.99.0.1/32 via ${tap.swIfIndex}:null`]); // --route goes to the host side
    await driver({ vppHostInterface: 'wgmesh-t0' }).ensureDevice(spec); // adopted (whatever vhost-net says), not created twice
    expect(sim.interfaces().filter((i) => i.tap)).toHaveLength(1);
  });
});
