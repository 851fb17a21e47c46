import type { DataplaneStateUpdate, NatReport, PathUpdate, PeerRecord } from '@wgmesh/contracts';
import { formatWatchLines, kindOfSubject, MeshWatcher, subjectFilter, watchRecord, watchSubjects } from './watch';

const k = (c: string) => c.repeat(43) + '=';
const A = k('A');
const B = k('E');
const C = k('I');
const S = (rest: string) => `wgmesh.v1.lab.${rest}`;
const body = (v: unknown) => JSON.stringify(v);
const peer = (publicKey: string, name: string, endpoint: string | null, extra: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey, name, allowedIps: [`10.99.0.${name === 'a' ? 2 : 3}/32`], endpoint, ...extra });

describe('watch: subjects', () => {
  it('follows every kind; a member only what its credential may receive', () => {
    expect(watchSubjects('lab').map((s) => s.subject)).toEqual([S('peers.events'), S('node.*.nat'), S('node.*.paths'), S('node.*.dataplane.state'), S('node.*.punch.*')]);
    expect(watchSubjects('lab', { member: 'a' }).map((s) => s.subject)).toEqual([S('peers.events'), S('node.a.nat'), S('node.a.paths'), S('node.a.dataplane.state'), S('node.a.punch.*')]);
  });

  it('tells the kind of a subject, and nothing for the others', () => {
    expect(kindOfSubject('lab', S('node.b.dataplane.state'))).toBe('state');
    expect(kindOfSubject('lab', S('peers.events'))).toBe('peers');
    expect(kindOfSubject('lab', S('node.b.paths.get'))).toBeUndefined();
    expect(kindOfSubject('lab', 'wgmesh.v1.other.peers.events')).toBeUndefined();
  });

  it.each([
    ['node.a.>', S('node.a.paths'), true],
    ['node.a.>', S('node.b.paths'), false],
    ['node.*.paths', S('node.b.paths'), true],
    ['node.*.paths', S('node.b.paths.get'), false],
    ['peers.events', S('peers.events'), true],
    ['wgmesh.v1.lab.node.a.nat', S('node.a.nat'), true],
    ['>', S('node.a.nat'), true],
  ])('--subject %s matches %s: %s', (pattern, subject, match) => {
    expect(subjectFilter('lab', pattern)(subject)).toBe(match);
  });

  it('refuses a pattern that is none', () => {
    for (const bad of ['node..a', 'node.>.a', 'node.a*', 'a b', '']) expect(() => subjectFilter('lab', bad)).toThrow(/must be a subject pattern/);
  });
});

describe('watch: what each message changed', () => {
  const at = Date.parse('2026-12-07T12:00:01.234Z');

  it('peer events: joined, moved, handshake, removed', () => {
    const w = new MeshWatcher('lab');
    w.learn([peer(B, 'b', '203.0.113.14:51820')]);
    const line = (v: unknown) => w.accept(S('peers.events'), body(v), at)?.changes;
    expect(line({ type: 'upsert', revision: 3, peer: peer(A, 'a', null) })).toEqual(['r3 a joined: 10.99.0.2/32, no endpoint yet']);
    expect(line({ type: 'upsert', revision: 4, peer: peer(A, 'a', '198.51.100.11:51820', { nat: 'eim' }) })).toEqual(['r4 a: endpoint no endpoint yet → 198.51.100.11:51820, nat not known → eim']);
    expect(line({ type: 'upsert', revision: 5, peer: peer(A, 'a', '198.51.100.11:51820', { nat: 'eim', latestHandshake: 100 }) })).toEqual(['r5 a: handshake with the registry']);
    expect(line({ type: 'remove', revision: 6, peer: { publicKey: A } })).toEqual(['r6 a removed']);
  });

  it('NAT reports: the first, then changes only (a repeat is no line)', () => {
    const w = new MeshWatcher('lab');
    const nat: NatReport = { node: 'a', publicKey: A, nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.11:51820', server: '203.0.113.1:3478', method: 'test', at: 1 };
    expect(w.accept(S('node.a.nat'), body(nat), at)?.changes).toEqual(['a: eim (mapping endpoint-independent, filtering address-and-port-dependent), seen as 198.51.100.11:51820']);
    // The classification probes from a new port every time: a new mapped port is no change.
    expect(w.accept(S('node.a.nat'), body({ ...nat, mappedAddress: '198.51.100.11:40000', at: 2 }), at)).toBeNull();
    expect(w.accept(S('node.a.nat'), body({ ...nat, nat: 'edm', mapping: 'address-and-port-dependent', portStep: 1 }), at)?.changes[0]).toMatch(/^a: eim .* → edm \(mapping address-and-port-dependent, filtering address-and-port-dependent, ports in sequence, step \+1\), seen as/);
  });

  it('path updates: each decision that changed in what is shown, and those gone', () => {
    const w = new MeshWatcher('lab');
    let seq = 0;
    const update = (changed: PathUpdate['changed'], removed: string[] = []): PathUpdate => ({ node: 'a', publicKey: A, nat: 'eim', epoch: 1, seq: ++seq, changed, removed, at: seq });
    const direct = { peer: B, peerName: 'b', path: 'direct' as const, attempt: false, reason: 'direct: b has a public address', retryAt: null, since: 1 };
    expect(w.accept(S('node.a.paths'), body(update([direct])), at)?.changes).toEqual(['a → b: direct: b has a public address']);
    expect(w.accept(S('node.a.paths'), body(update([{ ...direct, cause: 'rule' }])), at)).toBeNull(); // nothing shown changed
    expect(w.accept(S('node.a.paths'), body(update([])), at)).toBeNull(); // the NAT type alone
    const attempt = { ...direct, path: 'relayed' as const, attempt: true, reason: 'relayed while trying direct: …', since: 2 };
    expect(w.accept(S('node.a.paths'), body(update([attempt])), at)?.changes).toEqual(['a → b: relayed while trying direct: …']);
    expect(w.accept(S('node.a.paths'), body(update([], [B])), at)?.changes).toEqual(['a → b: no decision any more']);
  });

  it('device state updates: a gap is marked (fetch), the whole state in short, then peers added, moved, first handshakes, gone (heartbeats are no change)', () => {
    const w = new MeshWatcher('lab');
    w.learn([peer(B, 'b', null), peer(C, 'c', null)]);
    const head = { node: 'a', driver: 'uapi' as const, device: 'wl-m1', publicKey: A, listenPort: 51820, epoch: 7 };
    const update = (seq: number, changed: DataplaneStateUpdate['changed'], removed: string[] = []): DataplaneStateUpdate => ({ ...head, seq, changed, removed, at: 1 });
    const b = { publicKey: B, endpoint: '203.0.113.14:51820', allowedIps: ['10.99.0.3/32'], latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 25 };
    const c = { ...b, publicKey: C, endpoint: '203.0.113.15:51820', allowedIps: ['10.99.0.4/32'] };
    // Watch started after the programmer: the first update is a gap; its peers are shown as they are, not as added.
    const first = w.accept(S('node.a.dataplane.state'), body(update(3, [c])), at)!;
    expect(first).toMatchObject({ gap: true, changes: ['a: c at 203.0.113.15:51820, 10.99.0.4/32'] });
    expect(w.fullState({ ...head, seq: 3, peers: [c], at: 1 })).toEqual(['a: uapi device wl-m1, port 51820, 1 peers (0 with a handshake)']);
    expect(w.accept(S('node.a.dataplane.state'), body(update(3, [c])), at)).toBeNull(); // stale
    expect(w.accept(S('node.a.dataplane.state'), body(update(4, [])), at)).toBeNull(); // the interval's update
    expect(w.accept(S('node.a.dataplane.state'), body(update(5, [b])), at)?.changes).toEqual(['a: + b 203.0.113.14:51820, 10.99.0.3/32']);
    expect(w.accept(S('node.a.dataplane.state'), body(update(6, [{ ...b, latestHandshake: 5, endpoint: '203.0.113.14:4000' }])), at)?.changes).toEqual(['a: b endpoint 203.0.113.14:51820 → 203.0.113.14:4000', 'a: b first handshake']);
    expect(w.accept(S('node.a.dataplane.state'), body(update(7, [], [B])), at)?.changes).toEqual(['a: - b']);
    expect(w.accept(S('node.a.dataplane.state'), body(update(9, [], [C])), at)).toMatchObject({ gap: true, changes: ['a: - c'] }); // 8 was missed
  });

  it('punch messages, one line each', () => {
    const w = new MeshWatcher('lab');
    w.learn([peer(A, 'a', null), peer(B, 'b', null)]);
    const offer = { kind: 'offer', from: A, to: B, id: 'x1', candidates: ['198.51.100.11:30001', '198.51.100.11:30002'], predicted: true, at: 1 };
    expect(w.accept(S('node.b.punch.a'), body(offer), at)?.changes).toEqual(['a → b offer: predicted ports 198.51.100.11:30001, 198.51.100.11:30002']);
    expect(w.accept(S('node.a.punch.b'), body({ ...offer, kind: 'answer', from: B, to: A, candidates: [], predicted: false, refused: 'not the leader' }), at)?.changes).toEqual(['b → a answer refused: not the leader']);
  });

  it('refuses a message that breaks its contract, naming the field', () => {
    expect(() => new MeshWatcher('lab').accept(S('node.a.paths'), body({ node: 'a' }), at)).toThrow(/^publicKey: /);
    expect(() => new MeshWatcher('lab').accept(S('node.a.paths'), 'not json', at)).toThrow(/is not valid JSON/);
  });

  it('prints lines with the time and kind, or one JSON record', () => {
    const w = new MeshWatcher('lab');
    const e = w.accept(S('peers.events'), body({ type: 'upsert', revision: 1, peer: peer(A, 'a', null) }), at)!;
    expect(formatWatchLines(e)).toEqual(['12:00:01.234 peers  r1 a joined: 10.99.0.2/32, no endpoint yet']);
    expect(JSON.parse(watchRecord(e))).toEqual({ at: '2026-12-07T12:00:01.234Z', subject: S('peers.events'), kind: 'peers', changes: ['r1 a joined: 10.99.0.2/32, no endpoint yet'], message: { type: 'upsert', revision: 1, peer: peer(A, 'a', null) } });
  });
});
