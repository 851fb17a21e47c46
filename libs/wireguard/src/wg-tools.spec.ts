import { inspect } from 'node:util';
import { WgInputError } from './errors';
import { keyFromBase64 } from './keys';
import { parseWgDump, planWgSet, WgDumpError } from './wg-tools';

const PRIV = 'UPX9exhEPblL1tbzu7BD/Qtm4aXCe2IKmNqyhUPySGk=';
const PUB = 'oCWhcoMoW6o7rL+jpotNpZ9AoD2lS5Hd7lCfBO2h0nM=';
const PEER1 = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';
const PEER2 = 'LoXOwqGx2nD/uhjD7KniXz/uuI2wpzmUE4ctWhFU01I=';
const PSK = Buffer.alloc(32, 7).toString('base64');

// `wg show <dev> dump` of wireguard-tools v1.0.20210914 (captured from wireguard-go, keys replaced).
const DUMP = [
  [PRIV, PUB, '51820', '0x7'],
  [PEER1, PSK, '192.0.2.1:51820', '10.0.0.1/32,fd00::1/128', '1700000000', '92', '1480', '25'],
  [PEER2, '(none)', '[2001:db8::1]:4000', '10.0.0.0/24', '0', '0', '0', 'off'],
  [keyFromBase64(PEER1).reverse().toString('base64'), '(none)', '(none)', '(none)', '0', '0', '0', 'off'],
]
  .map((f) => f.join('\t'))
  .join('\n')
  .concat('\n');

describe('parseWgDump', () => {
  it('reads every column', () => {
    const dev = parseWgDump(DUMP);
    expect(dev.privateKey?.equals(keyFromBase64(PRIV))).toBe(true);
    expect(dev).toMatchObject({ publicKey: PUB, listenPort: 51820, fwmark: 7 });
    expect(dev.peers[0]).toMatchObject({
      publicKey: PEER1,
      endpoint: '192.0.2.1:51820',
      allowedIps: ['10.0.0.1/32', 'fd00::1/128'],
      lastHandshakeSec: 1700000000,
      rxBytes: 92,
      txBytes: 1480,
      persistentKeepalive: 25,
    });
    expect(dev.peers[0].presharedKey?.equals(Buffer.from(PSK, 'base64'))).toBe(true);
    expect(dev.peers[1]).toMatchObject({ presharedKey: null, endpoint: '[2001:db8::1]:4000', persistentKeepalive: 0 });
    expect(dev.peers[2]).toMatchObject({ endpoint: null, allowedIps: [] });
    expect(JSON.stringify(dev) + inspect(dev, { depth: 5 })).not.toContain(PRIV);
  });

  it('reads a device without key or peers', () => {
    expect(parseWgDump('(none)\t(none)\t40954\toff\n')).toEqual({ privateKey: null, publicKey: null, listenPort: 40954, fwmark: 0, peers: [] });
  });

  it.each([
    ['nothing', ''],
    ['too few columns', `${PRIV}\t${PUB}\t1\n`],
    ['a bad fwmark', `(none)\t(none)\t1\t7\n`],
    ['a bad peer key', `(none)\t(none)\t1\toff\nxyz\t(none)\t(none)\t(none)\t0\t0\t0\toff\n`],
    ['a bad counter', `(none)\t(none)\t1\toff\n${PEER1}\t(none)\t(none)\t(none)\t0\t-1\t0\toff\n`],
  ])('refuses %s', (_what, text) => {
    expect(() => parseWgDump(text)).toThrow(WgDumpError);
  });
});

describe('planWgSet', () => {
  const upsert = (key: string, i: number) => ({ publicKey: key, endpoint: `198.51.100.${i}:51820`, persistentKeepalive: 0, replaceAllowedIps: true, allowedIps: [`10.0.0.${i}/32`] });

  it('sends the private key on stdin, never on the command line', () => {
    const steps = planWgSet('wg0', { privateKey: keyFromBase64(PRIV), listenPort: 51820, fwmark: 0 });
    expect(steps).toEqual([{ args: ['set', 'wg0', 'private-key', '/dev/stdin', 'listen-port', '51820', 'fwmark', 'off'], stdin: `${PRIV}\n` }]);
  });

  it('removes with wg set and upserts with one wg addconf', () => {
    const steps = planWgSet('wg0', { peers: [{ publicKey: PEER2, remove: true }, upsert(PEER1, 1), { ...upsert(PEER2, 2), presharedKey: Buffer.from(PSK, 'base64') }] });
    expect(steps).toEqual([
      { args: ['set', 'wg0', 'peer', PEER2, 'remove'] },
      {
        args: ['addconf', 'wg0', '/dev/stdin'],
        stdin: [
          '[Peer]',
          `PublicKey = ${PEER1}`,
          'Endpoint = 198.51.100.1:51820',
          'PersistentKeepalive = off',
          'AllowedIPs = 10.0.0.1/32',
          '',
          '[Peer]',
          `PublicKey = ${PEER2}`,
          `PresharedKey = ${PSK}`,
          'Endpoint = 198.51.100.2:51820',
          'PersistentKeepalive = off',
          'AllowedIPs = 10.0.0.2/32',
          '',
        ].join('\n'),
      },
    ]);
  });

  it('keeps allowed IPs untouched for a peer that does not replace them (wg addconf would clear them)', () => {
    expect(planWgSet('wg0', { peers: [{ publicKey: PEER1, endpoint: '192.0.2.1:1' }] })).toEqual([{ args: ['set', 'wg0', 'peer', PEER1, 'endpoint', '192.0.2.1:1'] }]);
  });

  it('splits wg set command lines at the argv limit', () => {
    const keys = Array.from({ length: 500 }, (_, i) => {
      const k = Buffer.alloc(32);
      k.writeUInt32BE(i + 1);
      return k.toString('base64');
    });
    const steps = planWgSet('wg0', { peers: keys.map((k, i) => upsert(k, i % 250)) }, { peerBatch: 'set', maxArgvBytes: 8192 });
    expect(steps.length).toBeGreaterThan(5);
    for (const s of steps) {
      expect(s.args.slice(0, 2)).toEqual(['set', 'wg0']);
      expect(s.args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0)).toBeLessThanOrEqual(8192);
    }
    const peers = steps.flatMap((s) => s.args.filter((_, i) => s.args[i - 1] === 'peer'));
    expect(peers).toEqual(keys);
    expect(steps[0].args.slice(2, 11)).toEqual(['peer', keys[0], 'endpoint', '198.51.100.0:51820', 'persistent-keepalive', 'off', 'allowed-ips', '10.0.0.0/32', 'peer']);
  });

  it.each([
    ['replacePeers', { replacePeers: true }, /replacePeers/],
    ['updateOnly', { peers: [{ publicKey: PEER1, updateOnly: true }] }, /updateOnly/],
    ['adding allowed IPs without replacing', { peers: [{ publicKey: PEER1, allowedIps: ['10.0.0.1/32'] }] }, /replaceAllowedIps/],
    ['removing the private key', { privateKey: null }, /private key/],
  ])('refuses what wg cannot express: %s', (_what, change, message) => {
    expect(() => planWgSet('wg0', change)).toThrow(WgInputError);
    expect(() => planWgSet('wg0', change)).toThrow(message);
  });
});
