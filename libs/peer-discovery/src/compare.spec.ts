import { compareViews } from './compare';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const p = (n: number, endpoint: string | null = `192.0.2.${n}:51820`, allowedIps = [`10.99.0.${n}/32`]) => ({ publicKey: key(n), endpoint, allowedIps });

describe('compareViews', () => {
  it('agrees when endpoints and allowed IPs match (order and endpoint-less peers aside)', () => {
    expect(compareViews([p(1), p(2, null), p(3, undefined, ['10.99.0.3/32', 'fd00::3/128'])], [p(3, undefined, ['fd00::3/128', '10.99.0.3/32']), p(1), p(9)], { ignore: new Set([key(9)]) })).toEqual([]);
  });

  it('names each difference', () => {
    const diffs = compareViews([p(1), p(2), p(3)], [p(1, '192.0.2.1:4000'), p(3, undefined, ['10.99.0.33/32']), p(4)]);
    expect(diffs).toEqual([
      { publicKey: key(1), kind: 'endpoint', mirror: '192.0.2.1:51820', dns: '192.0.2.1:4000' },
      { publicKey: key(2), kind: 'missing-in-dns' },
      { publicKey: key(3), kind: 'allowed-ips', mirror: '10.99.0.3/32', dns: '10.99.0.33/32' },
      { publicKey: key(4), kind: 'missing-in-mirror', dns: '192.0.2.4:51820' },
    ]);
    expect(compareViews([p(1), p(2)], [p(1)], { truncated: true })).toEqual([]);
  });
});
