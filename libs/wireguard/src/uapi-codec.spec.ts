import { inspect } from 'node:util';
import { prng } from '@wgmesh/testing';
import { UapiError, UapiProtocolError, WgInputError } from './errors';
import { keyFromBase64, keyToHex } from './keys';
import { encodeSet, parseGet, parseSetResponse } from './uapi-codec';

// Public test material (libs/wireguard/src/keys.spec.ts): a private key and its public key.
const PRIV = 'UPX9exhEPblL1tbzu7BD/Qtm4aXCe2IKmNqyhUPySGk=';
const PUB = 'oCWhcoMoW6o7rL+jpotNpZ9AoD2lS5Hd7lCfBO2h0nM=';
const PEER1 = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';
const PEER2 = 'LoXOwqGx2nD/uhjD7KniXz/uuI2wpzmUE4ctWhFU01I=';
const PSK = Buffer.alloc(32, 7);
const hex = (b64: string) => keyToHex(keyFromBase64(b64));

// What wireguard-go v0.0.20220316 answers to get=1 (captured, keys replaced by the ones above).
const GET_RESPONSE = [
  `private_key=${hex(PRIV)}`,
  'listen_port=51820',
  'fwmark=7',
  `public_key=${hex(PEER1)}`,
  `preshared_key=${PSK.toString('hex')}`,
  'protocol_version=1',
  'endpoint=192.0.2.1:51820',
  'last_handshake_time_sec=1700000000',
  'last_handshake_time_nsec=123456789',
  'tx_bytes=1480',
  'rx_bytes=92',
  'persistent_keepalive_interval=25',
  'allowed_ip=10.0.0.1/32',
  'allowed_ip=fd00::1/128',
  'allowed_ip=::ffff:192.0.2.9/128',
  `public_key=${hex(PEER2)}`,
  `preshared_key=${'0'.repeat(64)}`,
  'protocol_version=1',
  'endpoint=[2001:db8::1]:4000',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'allowed_ip=10.0.0.0/24',
  'errno=0',
  '',
  '',
].join('\n');

describe('parseGet', () => {
  it('reads every field of the device and its peers', () => {
    const dev = parseGet(GET_RESPONSE, 'wg0');
    expect(dev.privateKey?.equals(keyFromBase64(PRIV))).toBe(true);
    expect(dev).toMatchObject({ publicKey: PUB, listenPort: 51820, fwmark: 7 });
    expect(dev.peers).toHaveLength(2);
    expect(dev.peers[0]).toMatchObject({
      publicKey: PEER1,
      protocolVersion: 1,
      endpoint: '192.0.2.1:51820',
      lastHandshakeSec: 1700000000,
      lastHandshakeNsec: 123456789,
      txBytes: 1480,
      rxBytes: 92,
      persistentKeepalive: 25,
      allowedIps: ['10.0.0.1/32', 'fd00::1/128', '::ffff:192.0.2.9/128'],
    });
    expect(dev.peers[0].presharedKey?.equals(PSK)).toBe(true);
    expect(dev.peers[1]).toMatchObject({ publicKey: PEER2, presharedKey: null, endpoint: '[2001:db8::1]:4000', persistentKeepalive: 0, allowedIps: ['10.0.0.0/24'] });
  });

  it('reads a fresh device (no key, no peers)', () => {
    expect(parseGet('listen_port=40954\nerrno=0\n\n')).toEqual({ privateKey: null, publicKey: null, listenPort: 40954, fwmark: 0, peers: [] });
  });

  it('never shows secrets in JSON, strings or inspect', () => {
    const dev = parseGet(GET_RESPONSE);
    const texts = [JSON.stringify(dev), String(dev.privateKey), inspect(dev, { depth: 5 }), `${dev.peers[0].presharedKey}`];
    for (const text of texts) {
      expect(text).not.toContain(hex(PRIV));
      expect(text).not.toContain(PRIV);
      expect(text).not.toContain(PSK.toString('hex'));
      expect(text).not.toContain(PSK.toString('base64'));
    }
    expect(JSON.parse(JSON.stringify(dev)).privateKey).toBe('[redacted]');
  });

  it('throws UapiError for a non-zero errno', () => {
    const err = captured(() => parseGet('errno=-22\n\n', 'wg7'));
    expect(err).toBeInstanceOf(UapiError);
    expect(err).toMatchObject({ errno: -22, code: 'EINVAL', device: 'wg7', operation: 'get' });
  });

  it.each([
    ['missing errno', 'listen_port=1\n\n'],
    ['no final empty line', 'listen_port=1\nerrno=0\n'],
    ['empty line inside', 'listen_port=1\n\nerrno=0\n\n'],
    ['line without =', 'listen_port\nerrno=0\n\n'],
    ['bad port', 'listen_port=70000\nerrno=0\n\n'],
    ['negative number', `public_key=${hex(PEER1)}\ntx_bytes=-1\nerrno=0\n\n`],
    ['short key', 'public_key=abcd\nerrno=0\n\n'],
    ['bad endpoint', `public_key=${hex(PEER1)}\nendpoint=example.com:1\nerrno=0\n\n`],
    ['bad prefix', `public_key=${hex(PEER1)}\nallowed_ip=10.0.0.1\nerrno=0\n\n`],
    ['device key after a peer', `public_key=${hex(PEER1)}\nlisten_port=1\nerrno=0\n\n`],
    ['nsec out of range', `public_key=${hex(PEER1)}\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n`],
  ])('refuses %s with UapiProtocolError', (_what, text) => {
    expect(() => parseGet(text)).toThrow(UapiProtocolError);
  });

  it('skips keys it does not know (later protocol versions)', () => {
    expect(parseGet(`future_key=1\npublic_key=${hex(PEER1)}\nanother=x\nerrno=0\n\n`).peers[0].publicKey).toBe(PEER1);
  });

  it('never echoes a secret in an error message', () => {
    const err = captured(() => parseGet(`private_key=${hex(PRIV).slice(0, 63)}\nerrno=0\n\n`));
    expect(err.message).not.toContain(hex(PRIV).slice(0, 20));
  });

  it('survives 10,000 mangled responses: a device or a UAPI error, never anything else', () => {
    const rnd = prng(20240601);
    const int = (n: number) => Math.floor(rnd() * n);
    const lines = GET_RESPONSE.split('\n');
    const alphabet = '=\n0123456789abcdef:[]./-_xyz \t\u0000é';
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      let text: string;
      switch (int(6)) {
        case 0: {
          // replace a few characters
          const chars = GET_RESPONSE.split('');
          for (let n = 1 + int(6); n > 0; n--) chars[int(chars.length)] = alphabet[int(alphabet.length)];
          text = chars.join('');
          break;
        }
        case 1: // truncate
          text = GET_RESPONSE.slice(0, int(GET_RESPONSE.length));
          break;
        case 2: {
          // drop, duplicate or swap lines
          const l = [...lines];
          const a = int(l.length - 2);
          const b = int(l.length - 2);
          if (rnd() < 0.33) l.splice(a, 1);
          else if (rnd() < 0.5) l.splice(a, 0, l[b]);
          else [l[a], l[b]] = [l[b], l[a]];
          text = l.join('\n');
          break;
        }
        case 3: // random garbage
          text = Array.from({ length: int(300) }, () => alphabet[int(alphabet.length)]).join('');
          break;
        case 4: // huge values
          text = GET_RESPONSE.replace(/=(\d+)/, `=${'9'.repeat(1 + int(40))}`);
          break;
        default: // garbage lines inserted
          text = GET_RESPONSE.replace('protocol_version=1\n', `${alphabet[int(alphabet.length)].repeat(int(5))}=${'x'.repeat(int(5))}\n`);
      }
      try {
        parseGet(text);
        parsed++;
      } catch (err) {
        if (!(err instanceof UapiProtocolError) && !(err instanceof UapiError)) throw new Error(`case ${i}: ${(err as Error).name}: ${(err as Error).message} for ${JSON.stringify(text)}`);
      }
    }
    expect(parsed).toBeGreaterThan(50); // some mutations stay valid (e.g. unknown keys)
  });
});

describe('encodeSet', () => {
  it('builds one transaction: device settings, then each peer in order', () => {
    const text = encodeSet({
      privateKey: keyFromBase64(PRIV),
      listenPort: 51820,
      fwmark: 0,
      replacePeers: true,
      peers: [
        { publicKey: PEER1, endpoint: '198.51.100.7:51820', persistentKeepalive: 25, replaceAllowedIps: true, allowedIps: ['10.0.0.7/24', 'fd00::1'] },
        { publicKey: PEER2, remove: true },
        { publicKey: PEER2, updateOnly: true, presharedKey: PSK, endpoint: '[2001:DB8::1]:4000' },
        { publicKey: PEER1, presharedKey: null },
      ],
    });
    expect(text).toBe(
      [
        'set=1',
        `private_key=${hex(PRIV)}`,
        'listen_port=51820',
        'fwmark=0',
        'replace_peers=true',
        `public_key=${hex(PEER1)}`,
        'endpoint=198.51.100.7:51820',
        'persistent_keepalive_interval=25',
        'replace_allowed_ips=true',
        'allowed_ip=10.0.0.0/24',
        'allowed_ip=fd00::1/128',
        `public_key=${hex(PEER2)}`,
        'remove=true',
        `public_key=${hex(PEER2)}`,
        'update_only=true',
        `preshared_key=${PSK.toString('hex')}`,
        'endpoint=[2001:db8::1]:4000',
        `public_key=${hex(PEER1)}`,
        `preshared_key=${'0'.repeat(64)}`,
        '',
        '',
      ].join('\n'),
    );
  });

  it('removes the private key with the zero key', () => {
    expect(encodeSet({ privateKey: null })).toBe(`set=1\nprivate_key=${'0'.repeat(64)}\n\n`);
  });

  it.each([
    ['a port above 65535', { listenPort: 65536 }, /listenPort/],
    ['a negative fwmark', { fwmark: -1 }, /fwmark/],
    ['a short private key', { privateKey: Buffer.alloc(31) }, /privateKey.*32 bytes/],
    ['a bad public key', { peers: [{ publicKey: 'nope' }] }, /peers\[0\]\.publicKey/],
    ['a host name endpoint', { peers: [{ publicKey: PEER1, endpoint: 'example.com:1' }] }, /peers\[0\]\.endpoint/],
    ['an endpoint without port', { peers: [{ publicKey: PEER1, endpoint: '192.0.2.1' }] }, /peers\[0\]\.endpoint/],
    ['a bad prefix in the 2nd peer', { peers: [{ publicKey: PEER1 }, { publicKey: PEER2, allowedIps: ['10.0.0.0/33'] }] }, /peers\[1\]\.allowedIps\[0\]/],
    ['a keepalive above 65535', { peers: [{ publicKey: PEER1, persistentKeepalive: 70000 }] }, /persistentKeepalive/],
    ['settings on a removed peer', { peers: [{ publicKey: PEER1, remove: true, endpoint: '192.0.2.1:1' }] }, /removed peer takes no other settings/],
    ['a line break in a value', { peers: [{ publicKey: PEER1, allowedIps: ['10.0.0.1/32\nlisten_port=1'] }] }, /allowedIps/],
  ])('refuses %s before sending anything', (_what, change, message) => {
    expect(() => encodeSet(change)).toThrow(WgInputError);
    expect(() => encodeSet(change)).toThrow(message);
  });
});

describe('parseSetResponse', () => {
  it('accepts errno=0 and reports anything else', () => {
    expect(() => parseSetResponse('errno=0\n\n')).not.toThrow();
    expect(captured(() => parseSetResponse('errno=-98\n\n', 'wg1'))).toMatchObject({ name: 'UapiError', errno: -98, code: 'EADDRINUSE', operation: 'set' });
    expect(() => parseSetResponse('errno=0\n')).toThrow(UapiProtocolError);
    expect(() => parseSetResponse('listen_port=1\nerrno=0\n\n')).toThrow(UapiProtocolError);
  });
});

function captured(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}
