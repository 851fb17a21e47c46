import { escapeLabel, knotConfig, knotZoneFile } from './knot';
import { makePeers, peerName, randomQueryLines } from './peers';

describe('escapeLabel', () => {
  it('keeps letters, digits, "-" and "_", escapes other bytes as \\DDD', () => {
    expect(escapeLabel('abc-2_x')).toBe('abc-2_x');
    expect(escapeLabel('mfrgg====')).toBe('mfrgg\\061\\061\\061\\061');
    expect(escapeLabel('a.b "c"')).toBe('a\\046b\\032\\034c\\034');
  });
});

describe('knotZoneFile', () => {
  const [peer] = makePeers(1);
  const b32 = escapeLabel(peer.b32);

  it("holds wgsd's records for each peer, the names' padding escaped", () => {
    expect(peer.b32).toMatch(/^[a-z2-7]{52}====$/);
    const zone = knotZoneFile([peer], { zone: 'mesh.example' });
    expect(zone.split('\n')).toEqual([
      '$ORIGIN mesh.example.',
      '@ 60 IN SOA ns1.mesh.example. postmaster.mesh.example. 1 86400 7200 3600000 60',
      `_wireguard._udp 0 IN PTR ${b32}._wireguard._udp`,
      `${b32}._wireguard._udp 0 IN SRV 0 0 ${peer.endpointPort} ${b32}._wireguard._udp`,
      `${b32}._wireguard._udp 0 IN A ${peer.endpointIp}`,
      `${b32}._wireguard._udp 0 IN TXT "txtvers=1" "pub=${peer.publicKey}" "allowed=${peer.allowedIp}"`,
      '',
    ]);
  });

  it('lists every peer under the PTR name and takes the TTL', () => {
    const peers = makePeers(3);
    const zone = knotZoneFile(peers, { zone: 'mesh.example.', ttl: 30, serial: 7 });
    expect(zone.match(/^_wireguard\._udp 30 IN PTR /gm)).toHaveLength(3);
    expect(zone.match(/ 30 IN SRV 0 0 /g)).toHaveLength(3);
    expect(zone).toContain(' 7 86400 7200 3600000 60');
  });
});

describe('knotConfig', () => {
  it('keeps every path in the given directory and listens where told', () => {
    const conf = knotConfig({ dir: '/tmp/b', zone: 'mesh.example.', zoneFile: '/tmp/b/bench.zone', host: '127.0.0.1', port: 5300, udpWorkers: 2 });
    expect(conf).toContain('    listen: 127.0.0.1@5300\n');
    expect(conf).toContain('    udp-workers: 2\n');
    expect(conf).toContain('    journal-content: none\n');
    const paths = [...conf.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThanOrEqual(4);
    for (const p of paths) expect(p.startsWith('/tmp/b')).toBe(true);
  });
});

describe('bench peers and queries', () => {
  it('are the same on every run', () => {
    expect(makePeers(2)).toEqual(makePeers(2));
    const names = makePeers(50).map((p) => peerName(p, 'mesh.example.'));
    expect(randomQueryLines(names, 'SRV', 20, 3)).toEqual(randomQueryLines(names, 'SRV', 20, 3));
    for (const line of randomQueryLines(names, 'SRV', 20, 3)) expect(line).toMatch(/^[a-z2-7]{52}====\._wireguard\._udp\.mesh\.example\. SRV$/);
  });
});
