import type { PathDecision, PathReport, PeerRecord } from '@wgmesh/contracts';
import { OwnEndpoint, PathSets } from './path-sets';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const decision = (peer: number, o: Partial<PathDecision> = {}): PathDecision => ({ peer: key(peer), path: 'direct', attempt: false, reason: 'direct', retryAt: null, since: 1, ...o });
const report = (...decisions: PathDecision[]): PathReport => ({ node: 'a', publicKey: key(1), nat: 'eim', decisions, at: 1 });
const peer = (n: number, o: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey: key(n), allowedIps: [`10.0.0.${n}/32`], endpoint: `192.0.2.${n}:51820`, ...o });
const self = { publicKey: key(1), registryKeys: new Set([key(9)]) };

describe('PathSets', () => {
  it('reads a report into the sets desiredPeers takes', () => {
    const s = new PathSets();
    expect(s.decided).toBeUndefined();
    expect(s.set(report(decision(2), decision(3, { path: 'relayed' }), decision(4, { path: 'relayed', attempt: true }), decision(5, { technique: 'punch' })))).toBe(true);
    expect(s.seen).toBe(true);
    expect([...s.decided!].sort()).toEqual([key(2), key(3), key(4), key(5)].sort());
    expect([...s.relayed].sort()).toEqual([key(3), key(4)].sort());
    expect([...s.attempt]).toEqual([key(4)]);
    expect([...s.punched]).toEqual([key(5)]);
  });

  it('says whether a report changed anything', () => {
    const s = new PathSets();
    expect(s.set(report())).toBe(true); // the first report: every peer is now undecided, not direct
    expect(s.set(report())).toBe(false);
    expect(s.set(report(decision(2)))).toBe(true);
    expect(s.set(report(decision(2)))).toBe(false);
    expect(s.set(report(decision(2, { path: 'relayed' })))).toBe(true);
  });

  it('names the reachable members not decided yet, never itself or the registry', () => {
    const s = new PathSets();
    const table = [peer(1), peer(2), peer(3), peer(4, { endpoint: null }), peer(5, { allowedIps: [] }), peer(9)];
    expect(s.undecided(table, self)).toEqual([]); // no report yet: every peer is direct
    s.set(report(decision(2)));
    expect(s.undecided(table, self)).toEqual([key(3)]);
  });
});

describe('OwnEndpoint', () => {
  it('reports a move once, not the first endpoint nor a loss', () => {
    const e = new OwnEndpoint();
    expect(e.see(null)).toBeNull();
    expect(e.see('198.51.100.1:40000')).toBeNull();
    expect(e.see('198.51.100.1:40000')).toBeNull();
    expect(e.see('198.51.100.1:40001')).toBe('198.51.100.1:40000');
    expect(e.see('198.51.100.1:40001')).toBeNull();
    expect(e.see(null)).toBeNull();
    expect(e.see('198.51.100.1:40002')).toBeNull();
  });
});
