import type { PeerRecord } from '@wgmesh/contracts';
import { DnsResponder, PeerIndex } from '@wgmesh/dns-sd';
import { DnsServer, startDnsServer } from '@wgmesh/dns-transport';
import { DnsPullError, pullPeers } from './dns-pull';

// The pull client against the real responder (libs/dns-sd) on the real transport, on 127.0.0.1:0.
const ZONE = 'mesh.example.';
const key = (n: number) => {
  const k = Buffer.alloc(32);
  k.writeUInt16BE(n, 0);
  return k.toString('base64');
};
const peer = (n: number, extra: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey: key(n), allowedIps: [`10.99.${n >> 8}.${n & 255}/32`], endpoint: `198.51.100.${(n % 250) + 1}:${20000 + n}`, ...extra });

describe('pullPeers (DNS-SD client)', () => {
  const index = new PeerIndex();
  const self = { publicKey: key(999), endpoint: '203.0.113.1:51820', allowedIps: ['10.99.0.1/32'] };
  let server: DnsServer;
  let address: { host: string; port: number };

  beforeAll(async () => {
    const responder = new DnsResponder({ zones: [{ origin: ZONE, ttl: 0, self }], index });
    server = await startDnsServer({ host: '127.0.0.1', port: 0, respond: (q, t) => responder.respond(q, t) });
    address = { host: '127.0.0.1', port: server.port };
  });
  afterAll(() => server.close());

  it('reads every peer with an endpoint: key, allowed IPs, endpoint, NAT type; and self', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `10.${100 + i}.0.0/16`); // split over several allowed= strings
    index.replaceAll([
      peer(2),
      peer(3, { endpoint: '[2001:db8::3]:51821', allowedIps: ['10.99.0.3/32', 'fd99::3/128'], nat: 'eim' }),
      peer(4, { endpoint: null }),
      peer(5, { allowedIps: ['10.99.0.5/32', ...long] }),
    ]);
    const result = await pullPeers({ server: address, zone: 'MESH.example' });
    expect(result).toEqual({
      truncated: false,
      problems: [],
      peers: [peer(2), peer(3, { endpoint: '[2001:db8::3]:51821', allowedIps: ['10.99.0.3/32', 'fd99::3/128'], nat: 'eim' }), peer(5, { allowedIps: ['10.99.0.5/32', ...long] }), { ...self }].sort((a, b) =>
        a.publicKey < b.publicKey ? -1 : 1,
      ),
    });
  });

  it('falls back to TCP when the UDP listing is truncated', async () => {
    index.replaceAll(Array.from({ length: 300 }, (_, i) => peer(i + 10)));
    const result = await pullPeers({ server: address, zone: ZONE, concurrency: 32 });
    expect(result.truncated).toBe(false); // 301 PTRs do not fit 1232 bytes of UDP, but fit TCP
    expect(result.peers).toHaveLength(301);
    expect(result.peers.find((p) => p.publicKey === key(42))).toEqual(peer(42));
  });

  it('fails with a named error when nobody answers, and on a zone the server refuses', async () => {
    await expect(pullPeers({ server: { host: '127.0.0.1', port: 9 }, zone: ZONE, timeoutMs: 100 })).rejects.toThrow(DnsPullError);
    await expect(pullPeers({ server: address, zone: 'other.example' })).rejects.toThrow(/REFUSED/);
  });
});
