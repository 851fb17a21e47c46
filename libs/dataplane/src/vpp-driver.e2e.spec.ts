import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { DesiredPeer } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { waitFor } from '@wgmesh/testing';
import { VppFields } from '@wgmesh/vpp-api';
import { describeWithVpp, TestWireguard, TEST_NET, VppTestNet } from '@wgmesh/vpp-live';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { diffPeers } from './diff';
import { DataplaneProgrammer } from './programmer';
import { VppDriver } from './vpp-driver';

// The vpp driver against a live VPP (found as a user's install is; skipped with the reason where
// there is none), with wireguard-go peers on the other side of VPP's uplink. Which peer VPP sent a
// packet to is read from the receiving wireguard-go device's counters: a packet to a direct
// peer's address must reach that peer, anything else in the mesh the registry (the relay).

const MESH = '10.99.0.0/16';
const ME = '10.99.0.5';
const PING_BYTES = 1000;

function memoryLog() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  return { lines, log: createLogger({ service: 'test', level: 'debug', write: (l) => lines.push(JSON.parse(l)) }) };
}

describeWithVpp('the vpp driver on a live VPP', (install) => {
  let net: VppTestNet;
  let registry: TestWireguard;
  const direct: TestWireguard[] = [];
  const privateKey = generatePrivateKey();
  const me = keyToBase64(publicKeyFromPrivate(privateKey));
  const spec = { create: true, privateKey, listenPort: 51820, addresses: [`${ME}/16`] };
  const drivers: VppDriver[] = [];
  const newDriver = (log = memoryLog().log) => {
    const d = new VppDriver('wg0', { vppSocket: net.vpp.apiSocket, vppDefinitions: net.definitions, vppSrcAddress: TEST_NET.vpp, log });
    drivers.push(d);
    return d;
  };
  const registryPeer = (keepalive = 25): DesiredPeer => ({ publicKey: registry.publicKey, endpoint: registry.endpoint, allowedIps: [MESH], persistentKeepalive: keepalive });
  const directPeer = (w: TestWireguard, i: number): DesiredPeer => ({ publicKey: w.publicKey, endpoint: w.endpoint, allowedIps: [`10.99.0.${11 + i}/32`] });
  const apply = async (driver: VppDriver, peers: DesiredPeer[]) => driver.apply(diffPeers(peers, (await driver.read()).peers, { replace: true }).diff);

  /** Pings `address` from VPP until one of the devices got a ping's worth of bytes; returns which. */
  async function whoGets(address: string): Promise<string> {
    const all = [registry, ...direct];
    const rx = async () => Promise.all(all.map(async (w) => (await w.peer(me))?.rxBytes ?? 0));
    return waitFor(`a ping to ${address} to arrive somewhere`, async () => {
      const before = await rx();
      await net.vpp.cli(`ping ${address} size ${PING_BYTES} repeat 2 interval 0.05`);
      const after = await rx();
      const got = all.filter((_, i) => after[i] - before[i] >= PING_BYTES);
      return got.length === 1 ? (got[0] === registry ? 'registry' : `direct ${direct.indexOf(got[0])}`) : got.length > 1 ? 'several' : null;
    }, 15_000, 100);
  }

  beforeAll(async () => {
    net = await VppTestNet.start(install());
    registry = await net.wireguardGo(51821);
    for (let i = 0; i < 8; i++) direct.push(await net.wireguardGo(51831 + i));
    for (const w of [registry, ...direct]) await w.uapi.set({ peers: [{ publicKey: me, endpoint: `${TEST_NET.vpp}:51820`, allowedIps: [`${ME}/32`] }] });
  }, 60_000);

  afterAll(async () => {
    for (const d of drivers) await d.close().catch(() => undefined);
    await net?.stop();
  });

  it('sends a direct peer\'s traffic to that peer and the rest of the mesh to the registry, whatever order VPP walks its peers in', async () => {
    const driver = newDriver();
    await driver.ensureDevice(spec);
    await apply(driver, [registryPeer(), ...direct.map(directPeer)]);
    const wrong: string[] = [];
    for (let i = 0; i < direct.length; i++) {
      const got = await whoGets(`10.99.0.${11 + i}`);
      if (got !== `direct ${i}`) wrong.push(`10.99.0.${11 + i} went to ${got}`);
    }
    expect(wrong).toEqual([]);
    expect(await whoGets('10.99.3.3')).toBe('registry');
  }, 120_000);

  it('keeps that after the registry peer is replaced (VPP removes and re-adds it)', async () => {
    const driver = drivers[0];
    await apply(driver, [registryPeer(20), ...direct.map(directPeer)]);
    expect(await whoGets('10.99.0.11')).toBe('direct 0');
    expect(await whoGets('10.99.0.18')).toBe('direct 7');
    expect(await whoGets('10.99.7.7')).toBe('registry');
  }, 60_000);

  it('restarted, adopts the interface and its routes as they are: no repair, no route removed', async () => {
    const routes = async () => (await net.client.dump('ip_route_dump', { table: { table_id: 0, is_ip6: false } })).map((d) => (d.route as VppFields).prefix as string).sort();
    const before = await routes();
    const { lines, log } = memoryLog();
    const driver = newDriver(log);
    await driver.ensureDevice(spec);
    await apply(driver, [registryPeer(20), ...direct.map(directPeer)]);
    expect(lines.filter((l) => /repaired|did not match/.test(l.msg))).toEqual([]);
    expect(await routes()).toEqual(before);
    expect(await whoGets('10.99.7.7')).toBe('registry');
  }, 60_000);

  it('takes a peer without allowed IPs (a direct attempt), reports it so, and keeps its address relayed', async () => {
    const driver = drivers.at(-1)!;
    await apply(driver, [registryPeer(20), ...direct.slice(1).map((w, i) => directPeer(w, i + 1)), { publicKey: direct[0].publicKey, endpoint: direct[0].endpoint, allowedIps: [], persistentKeepalive: 1 }]);
    const state = (await driver.read()).peers.find((p) => p.publicKey === direct[0].publicKey);
    expect(state).toMatchObject({ allowedIps: [], persistentKeepalive: 1 });
    expect(await whoGets('10.99.0.11')).toBe('registry');
  }, 60_000);

  it('punches: a re-created peer makes VPP send a handshake initiation to the endpoint given', async () => {
    const driver = drivers.at(-1)!;
    const fresh = await net.wireguardGo(51851);
    // It knows VPP's key but not where VPP is: only VPP's initiation can start a handshake.
    await fresh.uapi.set({ peers: [{ publicKey: me, allowedIps: [] }] });
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [], replace: false, punch: [{ publicKey: fresh.publicKey, endpoints: [fresh.endpoint], allowedIps: [], persistentKeepalive: 1 }] });
    const peer = await waitFor('a handshake VPP started', async () => {
      const p = await fresh.peer(me);
      return p && p.lastHandshakeSec > 0 ? p : null;
    }, 10_000, 50);
    expect(peer.endpoint).toBe(`${TEST_NET.vpp}:51820`);
  }, 60_000);

  it('pokes: a poked peer gets a packet from VPP at once (its next handshake), not at the next keepalive', async () => {
    const driver = drivers.at(-1)!;
    const target = direct[7];
    await whoGets('10.99.0.18'); // a session exists
    const first = (await target.peer(me))!.lastHandshakeSec;
    await waitFor('the next second (handshake times are in seconds)', () => Math.floor(Date.now() / 1000) > first, 3000, 20);
    const programmer = new DataplaneProgrammer({ driver });
    const peers = (await driver.read()).peers.map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: p.allowedIps, persistentKeepalive: p.persistentKeepalive || 25 }));
    await programmer.apply({ peers, replace: true });
    await programmer.apply({ peers, replace: true, poke: [target.publicKey] });
    await waitFor('a new handshake after the poke', async () => ((await target.peer(me))?.lastHandshakeSec ?? 0) > first, 10_000, 50);
  }, 60_000);
});

describeWithVpp('the vpp driver\'s host interface on a live VPP', (install) => {
  let net: VppTestNet;
  let peer: TestWireguard;
  let driver: VppDriver;
  const privateKey = generatePrivateKey();
  const me = keyToBase64(publicKeyFromPrivate(privateKey));
  const { lines, log } = memoryLog();
  const inVpp = (cmd: string, args: string[]) => new Promise<string>((resolve, reject) =>
    execFile('ip', ['netns', 'exec', net.vpp.netns, cmd, ...args], { timeout: 20_000, maxBuffer: 4 << 20 }, (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out))),
  );

  beforeAll(async () => {
    net = await VppTestNet.start(install());
    peer = await net.wireguardGo(51841, { address: '10.99.0.7/16' });
    await peer.uapi.set({ peers: [{ publicKey: me, endpoint: `${TEST_NET.vpp}:51820`, allowedIps: [`${ME}/32`] }] });
    driver = new VppDriver('wg0', { vppSocket: net.vpp.apiSocket, vppDefinitions: net.definitions, vppSrcAddress: TEST_NET.vpp, vppHostInterface: 'wgmh0', netns: net.vpp.netns, log });
  }, 60_000);

  afterAll(async () => {
    await driver?.close().catch(() => undefined);
    await net?.stop();
  });

  it('gives the host the tunnel address on a veth into VPP where there is no vhost-net, and the host reaches a peer through VPP (ping and TCP)', async () => {
    if (existsSync('/dev/vhost-net')) process.stderr.write('note: /dev/vhost-net exists here, so the host interface is a tap\n');
    await driver.ensureDevice({ create: true, privateKey, listenPort: 51820, addresses: [`${ME}/16`] });
    await driver.apply(diffPeers([{ publicKey: peer.publicKey, endpoint: peer.endpoint, allowedIps: ['10.99.0.7/32'] }], [], { replace: true }).diff);
    const configured = lines.find((l) => l.msg === 'VPP interface configured')!;
    if (!existsSync('/dev/vhost-net')) expect((configured.changed as string[]).some((c) => c.startsWith('veth wgmh0 / wgmh0-v'))).toBe(true);
    expect(await inVpp('ip', ['-4', '-o', 'addr', 'show', 'dev', 'wgmh0'])).toContain(`inet ${ME}/32`);
    await waitFor('a ping from the host through VPP to the peer', () => inVpp('ping', ['-c', '1', '-W', '1', '10.99.0.7']).then(() => true, () => false), 15_000, 100);
    // TCP with full-size segments both ways: the veth hands VPP partial checksums (offload), VPP must complete them.
    const server = `const s=require('net').createServer(c=>c.pipe(c)).listen(5000,'10.99.0.7',()=>console.log('ready'));setTimeout(()=>process.exit(0),15000)`;
    const proc = spawn('ip', ['netns', 'exec', net.outside, process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => proc.stdout.once('data', r));
      const client = `const c=require('net').connect(5000,'10.99.0.7');const n=300000;let got=0;c.on('connect',()=>c.write(Buffer.alloc(n,7)));c.on('data',d=>{got+=d.length;if(got>=n){console.log(got);process.exit(0)}});setTimeout(()=>{console.log(got);process.exit(1)},10000)`;
      expect((await inVpp(process.execPath, ['-e', client])).trim()).toBe('300000');
    } finally {
      proc.kill();
    }
  }, 60_000);

  it('adopts its host interface on restart, changing nothing', async () => {
    const { lines: again, log: againLog } = memoryLog();
    const second = new VppDriver('wg0', { vppSocket: net.vpp.apiSocket, vppDefinitions: net.definitions, vppSrcAddress: TEST_NET.vpp, vppHostInterface: 'wgmh0', netns: net.vpp.netns, log: againLog });
    try {
      await second.ensureDevice({ create: true, privateKey, listenPort: 51820, addresses: [`${ME}/16`] });
      expect(again.find((l) => l.msg === 'VPP interface configured')).toBeUndefined();
      expect(await inVpp('ping', ['-c', '1', '-W', '2', '10.99.0.7'])).toMatch(/1 received/);
    } finally {
      await second.close();
    }
  }, 60_000);
});
