import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredPeer } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { waitFor, describeE2E } from '@wgmesh/testing';
import { generatePrivateKey, keyToBase64, NoDeviceError, parseWgDump, publicKeyFromPrivate, UapiClient, uapiSocketPath } from '@wgmesh/wireguard';
import { isAlive, Lab, labProblems, run, uniqueName } from '@wgmesh/wireguard/testing';
import { diffPeers } from './diff';
import { DataplaneProgrammer } from './programmer';
import { createDriver } from './factory';
import { IpLink } from './ip-link';
import { testPeer } from './testing';
import { UapiDriver } from './uapi-driver';
import { DeviceCreateError, WgDriver } from './wg-driver';
import { readDaemonRecord } from './wireguard-go';

// The uapi and wg drivers against real wireguard-go devices in network namespaces.
const describeLab = (name: string, body: () => void) => describeE2E(name, labProblems, body);

function memoryLog() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  return { lines, log: createLogger({ service: 'test', level: 'debug', write: (l) => lines.push(JSON.parse(l)) }) };
}

async function dump(device: string) {
  return parseWgDump(await run('wg', ['show', device, 'dump']));
}

describeLab('dataplane drivers on wireguard-go', () => {
  const lab = new Lab();
  const stateDir = mkdtempSync(join(tmpdir(), 'wgmesh-dp-'));
  let ns: string;

  beforeAll(async () => {
    ns = await lab.netns();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    expect(await lab.cleanup()).toEqual([]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  describe('uapi ensureDevice', () => {
    const device = uniqueName('wgt');
    const privateKey = generatePrivateKey();
    const spec = { create: true, privateKey, listenPort: 51900, addresses: ['10.77.0.5/16', 'fd77::5/64'], routes: ['10.78.0.0/16'], mtu: 1420 };

    it('creates wireguard-go detached, sets key, port, addresses, MTU, routes', async () => {
      const { lines, log } = memoryLog();
      const driver = new UapiDriver(device, { netns: ns, stateDir, log });
      await driver.ensureDevice(spec);
      const record = readDaemonRecord(device, stateDir)!;
      lab.own(record.pid, device, uapiSocketPath(device));
      expect(record).toMatchObject({ device, netns: ns });
      expect(lines.map((l) => l.msg)).toEqual(['started wireguard-go', 'device configured']);
      // Own session: not in our process group, so a Ctrl-C or SIGTERM to the service's group spares it.
      const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
      const [pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(2, 4).map(Number);
      expect(pgrp).toBe(record.pid);
      expect(session).toBe(record.pid);

      const state = await driver.read();
      expect(state).toEqual({ publicKey: keyToBase64(publicKeyFromPrivate(privateKey)), listenPort: 51900, peers: [] });
      const link = await new IpLink(device, { netns: ns }).state();
      expect(link).toMatchObject({ exists: true, up: true, mtu: 1420 });
      expect(link.addresses.sort()).toEqual(['10.77.0.5/16', 'fd77::5/64']);
      expect(await run('ip', ['-n', ns, 'route', 'show', '10.78.0.0/16'])).toContain(`dev ${device}`);
    });

    it('is idempotent: a second run changes nothing and adopts the running daemon', async () => {
      const pid = readDaemonRecord(device, stateDir)!.pid;
      const set = jest.spyOn(UapiClient.prototype, 'set');
      const { lines, log } = memoryLog();
      await new UapiDriver(device, { netns: ns, stateDir, log }).ensureDevice(spec);
      expect(lines.map((l) => l.msg)).toEqual(['device already as configured']);
      expect(set).not.toHaveBeenCalled();
      expect(readDaemonRecord(device, stateDir)!.pid).toBe(pid);
      set.mockRestore();
    });

    it('names the namespace when the socket answers but the interface is elsewhere', async () => {
      await expect(new UapiDriver(device, { stateDir }).ensureDevice({ create: false })).rejects.toThrow(/no interface wgt\w+ in this network namespace/);
    });

    it('adopts a device it did not start, without restarting it', async () => {
      const dev = await lab.wireguardGo(ns);
      const { lines, log } = memoryLog();
      await new UapiDriver(dev.name, { netns: ns, stateDir, log }).ensureDevice({ create: true, listenPort: 51901 });
      expect(lines.map((l) => l.msg)).toEqual(['device configured']);
      expect(readDaemonRecord(dev.name, stateDir)).toBeNull();
      expect((await dev.uapi.get()).listenPort).toBe(51901);
    });

    it('restarts a daemon of ours that died (its stale socket removed), but never touches a socket it did not create', async () => {
      const name = uniqueName('wgt');
      const driver = new UapiDriver(name, { netns: ns, stateDir });
      await driver.ensureDevice({ create: true });
      const first = readDaemonRecord(name, stateDir)!;
      lab.own(first.pid, name, uapiSocketPath(name));
      process.kill(first.pid, 'SIGKILL'); // no clean exit: the socket file stays behind
      // Until its last thread is gone the listening socket lingers (ECONNRESET); then it refuses.
      await waitFor('the daemon to be gone', () => !isAlive(first.pid));
      await waitFor('the socket to refuse connections', () => new UapiClient(name).get().then(() => false, (err: Error) => err instanceof NoDeviceError));
      expect(existsSync(uapiSocketPath(name))).toBe(true);
      await driver.ensureDevice({ create: true });
      const second = readDaemonRecord(name, stateDir)!;
      lab.own(second.pid, name, uapiSocketPath(name));
      expect(second.pid).not.toBe(first.pid);
      expect((await driver.read()).peers).toEqual([]);

      const foreign = uniqueName('wgt');
      writeFileSync(uapiSocketPath(foreign), ''); // a leftover we did not start (and remove ourselves below)
      try {
        await expect(new UapiDriver(foreign, { netns: ns, stateDir }).ensureDevice({ create: true })).rejects.toThrow(/exists but nothing answers, and no daemon we started owns it/);
        expect(existsSync(uapiSocketPath(foreign))).toBe(true);
      } finally {
        rmSync(uapiSocketPath(foreign), { force: true });
      }
    });

    it('refuses a missing device without create', async () => {
      await expect(new UapiDriver(uniqueName('wgt'), { netns: ns, stateDir }).ensureDevice({ create: false })).rejects.toBeInstanceOf(NoDeviceError);
    });
  });

  describe('apply', () => {
    it.each(['uapi', 'wg'] as const)('%s: adds 3 peers, moves one, removes one; a repeated state is a no-op', async (kind) => {
      const dev = await lab.wireguardGo(ns);
      const driver = createDriver(kind, dev.name, { netns: ns });
      const peers: DesiredPeer[] = [testPeer(1), { ...testPeer(2), persistentKeepalive: 25 }, { ...testPeer(3), endpoint: '[2001:db8::3]:51820', allowedIps: ['10.99.0.3/32', 'fd99::3/128'] }];

      const first = diffPeers(peers, (await driver.read()).peers, { replace: true });
      expect(first.added).toBe(3);
      await driver.apply(first.diff);
      let d = await dump(dev.name);
      expect(d.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIps.join(','), p.persistentKeepalive]).sort()).toEqual(
        [
          [peers[0].publicKey, '198.51.100.2:51820', '10.99.0.1/32', 0],
          [peers[1].publicKey, '198.51.100.3:51820', '10.99.0.2/32', 25],
          [peers[2].publicKey, '[2001:db8::3]:51820', '10.99.0.3/32,fd99::3/128', 0],
        ].sort(),
      );

      const moved = [peers[0], { ...peers[1], endpoint: '203.0.113.2:4500' }, peers[2]];
      const second = diffPeers(moved, (await driver.read()).peers, { replace: true });
      expect([second.added, second.updated, second.unchanged]).toEqual([0, 1, 2]);
      await driver.apply(second.diff);
      // The uapi driver sends only the endpoint here; allowed IPs and keepalive stay as they were.
      expect((await dump(dev.name)).peers.find((p) => p.publicKey === peers[1].publicKey)).toMatchObject({ endpoint: '203.0.113.2:4500', allowedIps: ['10.99.0.2/32'], persistentKeepalive: 25 });

      const third = diffPeers(moved.slice(1), (await driver.read()).peers, { replace: true });
      expect(third.diff.remove).toEqual([peers[0].publicKey]);
      await driver.apply(third.diff);
      d = await dump(dev.name);
      expect(d.peers.map((p) => p.publicKey).sort()).toEqual([peers[1].publicKey, peers[2].publicKey].sort());

      const again = diffPeers(moved.slice(1), (await driver.read()).peers, { replace: true });
      expect(again.diff).toMatchObject({ upsert: [], remove: [] });
      expect(again.diff.changed?.size).toBe(0);
      expect(again.unchanged).toBe(2);
      await driver.close();
    });

    it('the uapi and wg drivers read the same state from one device', async () => {
      const dev = await lab.wireguardGo(ns);
      const uapi = createDriver('uapi', dev.name, { netns: ns });
      const wg = createDriver('wg', dev.name);
      await uapi.ensureDevice({ create: false, privateKey: generatePrivateKey(), listenPort: 51910 });
      await uapi.apply({ upsert: [testPeer(7), { ...testPeer(8), endpoint: null, persistentKeepalive: 10 }], remove: [] });
      const sort = <T extends { peers: { publicKey: string }[] }>(s: T) => ({ ...s, peers: [...s.peers].sort((a, b) => a.publicKey.localeCompare(b.publicKey)) });
      expect(sort(await wg.read())).toEqual(sort(await uapi.read()));
    });
  });

  describe('wg ensureDevice', () => {
    it('explains that this kernel cannot create a WireGuard device', async () => {
      const err = (await new WgDriver(uniqueName('wgt'), { netns: ns }).ensureDevice({ create: true }).catch((e: Error) => e)) as Error;
      expect(err).toBeInstanceOf(DeviceCreateError);
      expect(err.message).toMatch(/no WireGuard module .*use the uapi driver/);
    });

    it('configures an existing device like the uapi driver', async () => {
      const dev = await lab.wireguardGo(ns);
      const privateKey = generatePrivateKey();
      const driver = new WgDriver(dev.name, { netns: ns });
      await driver.ensureDevice({ create: false, privateKey, listenPort: 51920, addresses: ['10.79.0.1/24'] });
      expect(await driver.read()).toMatchObject({ publicKey: keyToBase64(publicKeyFromPrivate(privateKey)), listenPort: 51920 });
      expect((await new IpLink(dev.name, { netns: ns }).state()).addresses).toEqual(['10.79.0.1/24']);
    });
  });

  it('two devices programmed by the drivers handshake and carry traffic', async () => {
    const [nsA, nsB] = [await lab.netns(), await lab.netns()];
    await lab.link({ netns: nsA, address: '192.0.2.1/24' }, { netns: nsB, address: '192.0.2.2/24' });
    const [a, b] = [await lab.wireguardGo(nsA), await lab.wireguardGo(nsB)];
    const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
    const [pubA, pubB] = [keyToBase64(publicKeyFromPrivate(keyA)), keyToBase64(publicKeyFromPrivate(keyB))];
    const da = createDriver('uapi', a.name, { netns: nsA });
    const db = createDriver('wg', b.name, { netns: nsB });
    await da.ensureDevice({ create: false, privateKey: keyA, listenPort: 51830, addresses: ['10.98.0.1/24'] });
    await db.ensureDevice({ create: false, privateKey: keyB, listenPort: 51831, addresses: ['10.98.0.2/24'] });
    await da.apply({ upsert: [{ publicKey: pubB, endpoint: '192.0.2.2:51831', allowedIps: ['10.98.0.2/32'] }], remove: [] });
    await db.apply({ upsert: [{ publicKey: pubA, endpoint: null, allowedIps: ['10.98.0.1/32'] }], remove: [] });

    await run('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-W', '2', '10.98.0.2']);
    const seenByB = await waitFor('B to learn A’s endpoint', async () => (await db.read()).peers.find((p) => p.endpoint === '192.0.2.1:51830' && p.latestHandshake > 0));
    expect(seenByB.publicKey).toBe(pubA);
    expect((await da.read()).peers[0].rxBytes).toBeGreaterThan(0);
  });

  it.each(['uapi', 'wg'] as const)('%s: a punch sends an initiation to each endpoint and ends on the first, which handshakes at once', async (kind) => {
    const [nsA, nsB] = [await lab.netns(), await lab.netns()];
    await lab.link({ netns: nsA, address: '192.0.2.1/24' }, { netns: nsB, address: '192.0.2.2/24' });
    const [a, b] = [await lab.wireguardGo(nsA), await lab.wireguardGo(nsB)];
    const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
    const [pubA, pubB] = [keyToBase64(publicKeyFromPrivate(keyA)), keyToBase64(publicKeyFromPrivate(keyB))];
    const da = createDriver(kind, a.name, { netns: nsA });
    const db = createDriver('uapi', b.name, { netns: nsB });
    await da.ensureDevice({ create: false, privateKey: keyA, listenPort: 51840, addresses: ['10.97.0.1/24'] });
    await db.ensureDevice({ create: false, privateKey: keyB, listenPort: 51841, addresses: ['10.97.0.2/24'] });
    await db.apply({ upsert: [{ publicKey: pubA, endpoint: null, allowedIps: ['10.97.0.1/32'] }], remove: [] });
    // Counters in B's firewall: how many datagrams from A reached each port.
    const ports = [51841, 51842, 51843];
    for (const port of ports) await run('ip', ['netns', 'exec', nsB, 'iptables', '-A', 'INPUT', '-p', 'udp', '-s', '192.0.2.1', '--dport', String(port)]);
    const counts = async () => {
      const out = await run('ip', ['netns', 'exec', nsB, 'iptables', '-nvxL', 'INPUT']);
      return ports.map((port) => Number(new RegExp(`^\\s*(\\d+).*dpt:${port}\\b`, 'm').exec(out)?.[1] ?? -1));
    };
    const programmer = new DataplaneProgrammer({ driver: da });
    const endpoints = ports.map((p) => `192.0.2.2:${p}`);
    const started = Date.now();
    expect(await programmer.apply({ peers: [], replace: false, punch: [{ publicKey: pubB, endpoints, allowedIps: ['10.97.0.2/32'], persistentKeepalive: 7 }] })).toMatchObject({ punched: 1 });
    const peer = await waitFor('a handshake with B', async () => (await da.read()).peers.find((p) => p.latestHandshake > 0));
    expect(peer).toMatchObject({ publicKey: pubB, endpoint: '192.0.2.2:51841', allowedIps: ['10.97.0.2/32'], persistentKeepalive: 7 });
    // Answered at once: the last initiation (after the pause) is not caught by B's flood limit.
    expect(Date.now() - started).toBeLessThan(2000);
    const [first, second, third] = await counts();
    expect(second).toBe(1); // one initiation each to the other endpoints
    expect(third).toBe(1);
    expect(first).toBeGreaterThanOrEqual(3); // the spray's, the last creation's, and the session's
  });
});
