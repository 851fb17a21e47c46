import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALL_ONES,
  encodeFrame,
  ipRouteAddDel,
  loadDefinitions,
  onWireguardPeerEvent,
  tapCreate,
  VppClient,
  VppFields,
  VppRetvalError,
  wantWireguardPeerEvents,
  WireguardPeerEvent,
  wireguardInterfaceCreate,
  wireguardInterfaceDelete,
  wireguardInterfaceDump,
  wireguardPeerAdd,
  wireguardPeerRemove,
  wireguardPeersDump,
} from '@wgmesh/vpp-api';
import { waitFor } from '@wgmesh/testing';
import { API_DIR, describeGolden, loadCaptureMeta } from '@wgmesh/vpp-api/testing';
import { VppSim } from './sim';
import { SimErrors } from './state';

// The simulator's behaviour, through @wgmesh/vpp-api's client, for what the capture does not
// cover in one session: handles, event scope, error codes, routes, taps, injected failures.
describeGolden('vpp-sim', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-vpp-sim-'));
  const definitions = loadDefinitions(API_DIR);
  const keys = loadCaptureMeta().keys;
  const pub = (k: string) => Buffer.from(keys[k].public_hex, 'hex');
  let sim: VppSim;
  const clients: VppClient[] = [];
  const client = async () => {
    const c = await VppClient.connect({ socketPath: sim.socketPath, definitions, requestTimeoutMs: 1000 });
    clients.push(c);
    return c;
  };
  const wgCreate = (c: VppClient, port = 51820) =>
    wireguardInterfaceCreate(c, { privateKey: Buffer.from(keys.vpp.private_hex, 'hex'), listenPort: port, srcAddress: '10.10.0.1' });
  const addPeer = (c: VppClient, swIfIndex: number, key: Buffer, allowed = ['10.100.0.2/32']) =>
    wireguardPeerAdd(c, { swIfIndex, publicKey: key, endpoint: '10.10.0.2', port: 51820, allowedIps: allowed, persistentKeepalive: 25 });
  const retval = (p: Promise<unknown>) => p.then(() => 0, (e: VppRetvalError) => e.retval);

  beforeEach(async () => {
    sim = await VppSim.start({ socketPath: join(dir, `api-${Math.random().toString(36).slice(2)}.sock`), definitions });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) if (!c.closed) c.destroy();
    await sim.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hands out client handles 0x80000001 up, reusing a freed one', async () => {
    const a = await client();
    const b = await client();
    expect([a.clientIndex, b.clientIndex]).toEqual([0x80000001, 0x80000002]);
    await a.close();
    expect((await client()).clientIndex).toBe(0x80000001);
    expect(sim.clientCount).toBe(2);
  });

  it('creates a wg interface at sw_if_index 2 with the public key derived from the private key', async () => {
    const c = await client();
    expect(await wgCreate(c)).toBe(2);
    const [itf] = await wireguardInterfaceDump(c);
    expect(itf).toMatchObject({ userInstance: 0, swIfIndex: 2, listenPort: 51820, srcAddress: '10.10.0.1', privateKey: Buffer.alloc(32) });
    expect(itf.publicKey.toString('hex')).toBe(keys.vpp.public_hex);
    expect((await wireguardInterfaceDump(c, true))[0].privateKey.toString('hex')).toBe(keys.vpp.private_hex);
    expect(await retval(wireguardInterfaceCreate(c, { generateKey: true, listenPort: 1, srcAddress: '10.10.0.1', userInstance: 0 }))).toBe(SimErrors.INVALID_REGISTRATION);
    expect(await wireguardInterfaceCreate(c, { generateKey: true, listenPort: 51821, srcAddress: '10.10.0.1' })).toBe(3);
    expect((await wireguardInterfaceDump(c)).map((i) => i.userInstance)).toEqual([0, 1]);
  });

  it('answers with the observed error codes', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    const noAllowed = await c.request('wireguard_peer_add', { peer: { public_key: pub('peerD'), sw_if_index: wg, endpoint: '10.10.0.9', port: 51820 } });
    expect(noAllowed).toMatchObject({ retval: -7, peer_index: ALL_ONES });
    expect(await retval(wireguardPeerRemove(c, 77))).toBe(-6);
    expect(await retval(wireguardInterfaceDelete(c, 99))).toBe(-2);
    expect(await retval(addPeer(c, 99, pub('peerA')))).toBe(-2);
    await addPeer(c, wg, pub('peerA'));
    expect(await retval(addPeer(c, wg, pub('peerA')))).toBe(SimErrors.ENTRY_ALREADY_EXISTS);
  });

  it('runs a request with a wrong client_index but sends no reply (observed for show_version)', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    const raw = connect(sim.socketPath);
    await new Promise((resolve) => raw.once('connect', resolve));
    const replies: Buffer[] = [];
    raw.on('data', (d) => replies.push(d));
    const body = sim.codec.encode('wireguard_peer_add', {
      _vl_msg_id: sim.ids.id('wireguard_peer_add'),
      client_index: 0,
      context: 7,
      peer: { public_key: pub('peerB'), sw_if_index: wg, endpoint: '10.10.0.3', port: 51820, allowed_ips: ['10.100.0.3/32'] },
    });
    raw.write(encodeFrame(body));
    await waitFor('the peer', () => sim.peers().length === 1);
    await c.ping(); // the sim handles frames in order: anything for the raw socket would have been written by now
    expect(replies).toEqual([]);
    raw.destroy();
  });

  it('keeps peers with flags, reuses freed peer indexes, and dumps one or all', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    expect(await addPeer(c, wg, pub('peerA'))).toBe(0);
    expect(await addPeer(c, wg, pub('peerB'), ['10.100.0.3/32', 'fd00:100::3/128'])).toBe(1);
    expect(await addPeer(c, wg, pub('peerC'))).toBe(2);
    await wireguardPeerRemove(c, 1);
    expect(await addPeer(c, wg, pub('peerD'))).toBe(1);
    sim.simulateHandshake(2);
    const all = await wireguardPeersDump(c);
    expect(all.map((p) => [p.peerIndex, p.publicKey.toString('hex'), p.flags])).toEqual([
      [0, keys.peerA.public_hex, 0],
      [1, keys.peerD.public_hex, 0],
      [2, keys.peerC.public_hex, 2],
    ]);
    expect((await wireguardPeersDump(c, 2)).map((p) => p.established)).toEqual([true]);
    expect(await wireguardPeersDump(c, 9)).toEqual([]);
  });

  it('registers events on the peers that exist at subscription only; removal sends flags 0 then 1 before the reply', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    await addPeer(c, wg, pub('peerA'));
    const seen: Array<WireguardPeerEvent | string> = [];
    onWireguardPeerEvent(c, (e) => seen.push(e));
    await wantWireguardPeerEvents(c, true);
    const late = await addPeer(c, wg, pub('peerB'));
    sim.simulateHandshake(late); // not covered: added after the subscription
    sim.simulateHandshake(0);
    await waitFor('the ESTABLISHED event', () => seen.length === 1);
    await wireguardPeerRemove(c, 0).then(() => seen.push('remove reply'));
    expect(seen).toEqual([
      { peerIndex: 0, flags: 2, established: true, dead: false },
      { peerIndex: 0, flags: 0, established: false, dead: false },
      { peerIndex: 0, flags: 1, established: false, dead: true },
      'remove reply',
    ]);
    await wireguardPeerRemove(c, late);
    await c.ping();
    expect(seen).toHaveLength(4);
  });

  it('keeps a registration by handle after the connection, so the next client with that handle gets its events', async () => {
    const a = await client();
    const wg = await wgCreate(a);
    await addPeer(a, wg, pub('peerC'));
    await wantWireguardPeerEvents(a, true);
    await a.close();
    const b = await client();
    expect(b.clientIndex).toBe(a.clientIndex);
    const seen: WireguardPeerEvent[] = [];
    onWireguardPeerEvent(b, (e) => seen.push(e));
    await wireguardPeerRemove(b, 0);
    expect(seen).toEqual([{ peerIndex: 0, flags: 1, established: false, dead: true }]);
  });

  it('keeps a FIB: add replaces, multipath adds, delete of a missing route succeeds, dump lists paths', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.100.0.2/32', paths: [{ swIfIndex: wg, nextHop: '10.100.0.2' }] });
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.100.0.2/32', paths: [{ swIfIndex: wg, nextHop: '10.100.0.2' }] });
    await ipRouteAddDel(c, { isAdd: true, prefix: 'fd00:100::3/128', paths: [{ swIfIndex: wg, nextHop: 'fd00:100::3' }] });
    await ipRouteAddDel(c, { isAdd: true, prefix: '10.99.0.0/16', paths: [{ swIfIndex: 1 }] });
    await ipRouteAddDel(c, { isAdd: true, isMultipath: true, prefix: '10.99.0.0/16', paths: [{ swIfIndex: wg, nextHop: '10.99.0.1' }] });
    expect(sim.routes().map((r) => [r.prefix, r.paths.map((p) => `${p.swIfIndex} ${p.nextHop}`)])).toEqual([
      ['10.100.0.2/32', [`${wg} 10.100.0.2`]],
      ['fd00:100::3/128', [`${wg} fd00:100::3`]],
      ['10.99.0.0/16', ['1 null', `${wg} 10.99.0.1`]],
    ]);
    const v6 = await c.dump('ip_route_dump', { table: { table_id: 0, is_ip6: true } });
    expect(v6.map((d) => (d.route as VppFields).prefix)).toEqual(['fd00:100::3/128']);
    expect((((v6[0].route as VppFields).paths as VppFields[])[0].nh as VppFields).address).toMatchObject({ ip6: 'fd00:100::3' });
    await ipRouteAddDel(c, { isAdd: false, prefix: '10.100.0.2/32', paths: [] });
    await ipRouteAddDel(c, { isAdd: false, prefix: '10.100.0.9/32', paths: [] });
    expect(await retval(ipRouteAddDel(c, { isAdd: true, tableId: 5, prefix: '10.1.0.0/16', paths: [{ swIfIndex: wg }] }))).toBe(-3);
    expect(sim.routes().map((r) => r.prefix)).toEqual(['fd00:100::3/128', '10.99.0.0/16']);
    await wireguardInterfaceDelete(c, wg); // routes through it go with it
    expect(sim.routes().map((r) => [r.prefix, r.paths.length])).toEqual([['10.99.0.0/16', 1]]);
  });

  it('creates a tun tap with GSO and lists it', async () => {
    const c = await client();
    const tap = await tapCreate(c, { hostIfName: 'wgmesh-vpp', gso: true, hostMtu: 1420, hostIp4Prefix: '10.99.0.5/16' });
    const [d] = await c.dump('sw_interface_tap_v2_dump', { sw_if_index: ALL_ONES });
    expect(d).toMatchObject({ sw_if_index: tap, id: 0, tap_flags: 16 | 1, host_if_name: 'wgmesh-vpp', host_ip4_prefix: '10.99.0.5/16', host_mtu_size: 1420, dev_name: 'tap0' });
  });

  it('fails injected calls with the given retval and changes nothing', async () => {
    const c = await client();
    const wg = await wgCreate(c);
    sim.fail('wireguard_peer_add', -1, { match: (r) => ((r.peer as VppFields).public_key as Buffer).equals(pub('peerB')) });
    expect(await addPeer(c, wg, pub('peerA'))).toBe(0);
    expect(await retval(addPeer(c, wg, pub('peerB')))).toBe(-1);
    expect(await addPeer(c, wg, pub('peerB'))).toBe(1);
    expect(sim.peers()).toHaveLength(2);
  });

  it('answers a message it does not simulate with UNIMPLEMENTED (-9)', async () => {
    const c = await client();
    expect(await c.request('ip_table_add_del', { table: { table_id: 5 } })).toMatchObject({ retval: -9 });
    expect(sim.state.unhandled.get('ip_table_add_del')).toBe(1);
  });
});
