import { describeE2E } from '@wgmesh/testing';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from './keys';
import { Lab, labProblems, LabDevice, run } from './testing';
import { NoDeviceError, UapiError } from './errors';
import { UapiClient } from './uapi-client';
import { parseWgDump, WgTools } from './wg-tools';
import { WgDevice } from './device';

// The UAPI client and the wg driver against a real wireguard-go in a network namespace.
const describeLab = (name: string, body: () => void) => describeE2E(name, labProblems, body);

const newKey = () => keyToBase64(publicKeyFromPrivate(generatePrivateKey()));
/** The parts both readers report (UAPI adds protocol version and handshake nanoseconds). */
const comparable = (d: WgDevice) => ({
  publicKey: d.publicKey,
  listenPort: d.listenPort,
  fwmark: d.fwmark,
  peers: d.peers
    .map((p) => ({ publicKey: p.publicKey, psk: p.presharedKey !== null, endpoint: p.endpoint, allowedIps: p.allowedIps, hs: p.lastHandshakeSec, ka: p.persistentKeepalive }))
    .sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
});

describeLab('UAPI client and wg tools against wireguard-go', () => {
  const lab = new Lab();
  let ns: string;
  let dev: LabDevice;
  let wg: WgTools;

  beforeAll(async () => {
    ns = await lab.netns();
    dev = await lab.wireguardGo(ns);
    wg = new WgTools(dev.name);
  });

  afterAll(async () => {
    expect(await lab.cleanup()).toEqual([]);
  });

  it('reads a fresh device: random port, no key, no peers', async () => {
    const d = await dev.uapi.get();
    expect(d).toMatchObject({ privateKey: null, publicKey: null, fwmark: 0, peers: [] });
    expect(d.listenPort).toBeGreaterThan(0);
  });

  it('sets key, port, fwmark and peers in one transaction, and reads them back', async () => {
    const priv = generatePrivateKey();
    const [a, b] = [newKey(), newKey()];
    await dev.uapi.set({
      privateKey: priv,
      listenPort: 51820,
      fwmark: 0x51,
      peers: [
        { publicKey: a, endpoint: '192.0.2.1:51820', persistentKeepalive: 25, replaceAllowedIps: true, allowedIps: ['10.10.0.1/32', 'fd10::1/128'] },
        { publicKey: b, presharedKey: Buffer.alloc(32, 9), endpoint: '[2001:db8::2]:4000', allowedIps: ['10.10.1.0/24'] },
      ],
    });
    const d = await dev.uapi.get();
    expect(d.privateKey?.equals(priv)).toBe(true);
    expect(d).toMatchObject({ publicKey: keyToBase64(publicKeyFromPrivate(priv)), listenPort: 51820, fwmark: 0x51 });
    const byKey = new Map(d.peers.map((p) => [p.publicKey, p]));
    expect(byKey.get(a)).toMatchObject({ endpoint: '192.0.2.1:51820', persistentKeepalive: 25, allowedIps: ['10.10.0.1/32', 'fd10::1/128'], protocolVersion: 1, presharedKey: null });
    expect(byKey.get(b)).toMatchObject({ endpoint: '[2001:db8::2]:4000', allowedIps: ['10.10.1.0/24'] });
    expect(byKey.get(b)!.presharedKey?.equals(Buffer.alloc(32, 9))).toBe(true);

    // replace_allowed_ips, update_only for an unknown peer (not created), remove.
    await dev.uapi.set({ peers: [{ publicKey: a, replaceAllowedIps: true, allowedIps: ['10.10.0.9/32'] }, { publicKey: newKey(), updateOnly: true, endpoint: '192.0.2.3:1' }, { publicKey: b, remove: true }] });
    const after = await dev.uapi.get();
    expect(after.peers.map((p) => [p.publicKey, p.allowedIps])).toEqual([[a, ['10.10.0.9/32']]]);
  });

  it('reads the same device through wg show dump as through the UAPI', async () => {
    await dev.uapi.set({ peers: [{ publicKey: newKey(), presharedKey: Buffer.alloc(32, 1), endpoint: '[2001:db8::9]:9', replaceAllowedIps: true, allowedIps: ['10.10.9.0/24'] }] });
    const [viaUapi, viaWg] = await Promise.all([dev.uapi.get(), wg.show()]);
    expect(comparable(viaWg)).toEqual(comparable(viaUapi));
    expect(viaWg.privateKey?.equals(viaUapi.privateKey)).toBe(true);
    expect(parseWgDump(await run('wg', ['show', dev.name, 'dump'])).peers).toHaveLength(viaUapi.peers.length);
  });

  it('changes the device through wg set and wg addconf (both batch modes)', async () => {
    for (const peerBatch of ['addconf', 'set'] as const) {
      const tools = new WgTools(dev.name, { peerBatch, maxArgvBytes: 4096 });
      const keys = Array.from({ length: 60 }, newKey);
      const start = await dev.uapi.get();
      await tools.set({
        listenPort: peerBatch === 'set' ? 51822 : 51821,
        peers: [
          ...start.peers.map((p) => ({ publicKey: p.publicKey, remove: true })),
          ...keys.map((k, i) => ({ publicKey: k, endpoint: `198.51.100.${i + 1}:51820`, persistentKeepalive: i % 2 ? 0 : 15, replaceAllowedIps: true, allowedIps: [`10.20.0.${i + 1}/32`] })),
        ],
      });
      const d = await dev.uapi.get();
      expect(d.listenPort).toBe(peerBatch === 'set' ? 51822 : 51821);
      expect(d.peers.map((p) => p.publicKey).sort()).toEqual([...keys].sort());
      const p7 = d.peers.find((p) => p.publicKey === keys[7])!;
      expect(p7).toMatchObject({ endpoint: '198.51.100.8:51820', persistentKeepalive: 0, allowedIps: ['10.20.0.8/32'] });
      // Endpoint only: the allowed IPs stay.
      await tools.set({ peers: [{ publicKey: keys[7], endpoint: '203.0.113.8:1' }] });
      expect((await dev.uapi.get()).peers.find((p) => p.publicKey === keys[7])).toMatchObject({ endpoint: '203.0.113.8:1', allowedIps: ['10.20.0.8/32'] });
    }
  });

  it('sets the private key through wg without putting it on a command line', async () => {
    const priv = generatePrivateKey();
    await wg.set({ privateKey: priv });
    expect((await dev.uapi.get()).privateKey?.equals(priv)).toBe(true);
  });

  it('reports the device refusing a change as UapiError with its errno', async () => {
    // A second device in the same namespace cannot take the first one's port.
    const other = await lab.wireguardGo(ns);
    const { listenPort } = await dev.uapi.get();
    await run('ip', ['-n', ns, 'link', 'set', dev.name, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', other.name, 'up']);
    const err = await other.uapi.set({ listenPort }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UapiError);
    expect(err).toMatchObject({ errno: -98, code: 'EADDRINUSE' });
    await other.stop();
  });

  it('names a device that is not there', async () => {
    await expect(new UapiClient('wgtnone0').get()).rejects.toBeInstanceOf(NoDeviceError);
    await expect(new WgTools('wgtnone0').show()).rejects.toBeInstanceOf(NoDeviceError);
  });
});
