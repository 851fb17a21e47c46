import { ACCESS, memberSubjects } from './access';
import {
  dataplaneStatePage,
  DataplaneState,
  DataplaneStateGetRequest,
  DataplaneStateUpdate,
  DataplaneStateView,
  parseDataplaneState,
  parseDataplaneStateGetRequest,
  parseDataplaneStateUpdate,
  PeerState,
  readDataplaneState,
  STATE_PAGE_BYTES,
  STATE_PAGE_MAX,
} from './dataplane';
import { INBOUND } from './inbound';
import { Patterns } from './subjects';

const key = (n: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(n);
  return b.toString('base64');
};
const ME = key(999_999);
const peer = (n: number, handshake = 0): PeerState => ({ publicKey: key(n), endpoint: `192.0.2.1:${1000 + (n % 60000)}`, allowedIps: [`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`], latestHandshake: handshake, rxBytes: 10, txBytes: 20, persistentKeepalive: 25 });
const head = { node: 'site-a', driver: 'uapi' as const, device: 'wg0', publicKey: ME, listenPort: 51820 };
const state = (peers: PeerState[], seq = 1, epoch = 100): DataplaneState => ({ ...head, peers, at: 1, epoch, seq });
const update = (seq: number, changed: PeerState[], removed: string[] = [], epoch = 100): DataplaneStateUpdate => ({ ...head, epoch, seq, changed, removed, at: 2 });
const sorted = (s: DataplaneState) => [...s.peers].sort((a, b) => (a.publicKey < b.publicKey ? -1 : 1));

describe('dataplane state updates (node.<id>.dataplane.state)', () => {
  it('are parsed: numbered, a key either changed or removed, once', () => {
    const u = update(3, [peer(1)], [key(2)]);
    expect(parseDataplaneStateUpdate(u)).toEqual(u);
    expect(INBOUND[Patterns.dataplaneState]).toBe(parseDataplaneStateUpdate);
    expect(() => parseDataplaneStateUpdate({ ...u, seq: 0 })).toThrow(/seq/);
    expect(() => parseDataplaneStateUpdate({ ...u, removed: [key(1)] })).toThrow(/removed\[0\]: is also in changed/);
    expect(() => parseDataplaneStateUpdate({ ...u, changed: [peer(1), peer(1)] })).toThrow(/changed\[1\].publicKey: is listed twice/);
    expect(() => parseDataplaneStateUpdate({ ...u, changed: [{ ...peer(1), rxBytes: -1 }] })).toThrow(/changed\[0\].rxBytes/);
    expect(() => parseDataplaneStateUpdate({ ...u, epoch: undefined })).toThrow(/epoch/);
  });

  it('whole states and get requests are parsed; epoch and seq come together', () => {
    const s = { ...state([peer(1)]), next: key(1) };
    expect(parseDataplaneState(s)).toEqual(s);
    expect(() => parseDataplaneState({ ...s, seq: undefined })).toThrow(/epoch and seq come together/);
    expect(parseDataplaneStateGetRequest({ after: key(1), limit: 5 })).toEqual({ after: key(1), limit: 5 });
    expect(() => parseDataplaneStateGetRequest({ limit: STATE_PAGE_MAX + 1 })).toThrow(/limit/);
    expect(() => parseDataplaneStateGetRequest({ peers: 1 })).toThrow();
  });

  it('the get is a member\'s own, like the events', () => {
    expect(ACCESS[Patterns.dataplaneStateGet]).toMatchObject({ memberSend: 'self', memberReceive: 'self' });
    const s = memberSubjects('m1', 'a');
    expect(s.publish).toContain('wgmesh.v1.m1.node.a.dataplane.state.get');
    expect(s.subscribe).toContain('wgmesh.v1.m1.node.a.dataplane.state.get');
    expect(s.publish.filter((x) => x.includes('dataplane.state'))).toEqual(['wgmesh.v1.m1.node.a.dataplane.state', 'wgmesh.v1.m1.node.a.dataplane.state.get']);
  });
});

describe('DataplaneStateView', () => {
  it('applies updates in sequence on top of a whole state: changed peers replaced, removed ones dropped, interface fields taken', () => {
    const view = new DataplaneStateView();
    expect(view.update(update(1, []))).toBe('gap'); // nothing held: fetch
    expect(view.full(state([peer(1), peer(2)], 4))).toBe(true);
    expect(view.update(update(5, [peer(1, 1700)], [key(2)]))).toBe('applied');
    expect(view.update({ ...update(6, [peer(3)]), listenPort: 4000 })).toBe('applied');
    expect(view.state).toMatchObject({ seq: 6, listenPort: 4000 });
    expect(view.state!.peers.map((p) => [p.publicKey, p.latestHandshake])).toEqual([
      [key(1), 1700],
      [key(3), 0],
    ]);
    expect(view.peer(key(2))).toBeUndefined();
    expect(view.update(update(6, [peer(9)]))).toBe('stale');
    expect(view.update(update(3, [peer(9)]))).toBe('stale');
    expect(view.peer(key(9))).toBeUndefined();
  });

  it('a missed update or a new epoch is a gap (fetch); an older epoch is stale; an older whole state is not taken', () => {
    const view = new DataplaneStateView();
    view.full(state([peer(1)], 4));
    expect(view.update(update(6, [peer(2)]))).toBe('gap');
    expect(view.peer(key(2))).toBeUndefined();
    expect(view.update(update(1, [], [], 200))).toBe('gap'); // the programmer restarted
    expect(view.update(update(9, [], [], 50))).toBe('stale');
    expect(view.full(state([], 3))).toBe(false); // older than held
    expect(view.full(state([peer(5)], 1, 200))).toBe(true); // the new epoch's
    expect(view.update(update(2, [peer(6)], [], 200))).toBe('applied');
    expect(view.state!.peers.map((p) => p.publicKey).sort()).toEqual([key(5), key(6)].sort());
    expect(view.update({ ...update(3, [], [], 200), publicKey: key(7) })).toBe('gap'); // another key: not this state
    view.clear();
    expect(view.state).toBeUndefined();
  });
});

describe('dataplane.state.get pages', () => {
  it('10,000 peers come in pages under the byte budget, read back whole by readDataplaneState', async () => {
    const whole = state(Array.from({ length: 10_000 }, (_, i) => peer(i + 1, 1700)), 7);
    const order = sorted(whole);
    const asked: DataplaneStateGetRequest[] = [];
    const read = await readDataplaneState(async (req) => {
      asked.push(req);
      const page = dataplaneStatePage(whole, order, req);
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(1024 * 1024);
      return parseDataplaneState(JSON.parse(JSON.stringify(page)));
    });
    expect(asked.length).toBe(Math.ceil(10_000 / STATE_PAGE_MAX));
    expect(read.peers.map((p) => p.publicKey)).toEqual(order.map((p) => p.publicKey));
    expect(read).toMatchObject({ epoch: 100, seq: 7 });
    expect(read.next).toBeUndefined();
  });

  it('a page ends before the byte budget (peers with many allowed IPs), with at least one peer', () => {
    const fat = (n: number): PeerState => ({ ...peer(n), allowedIps: Array.from({ length: 256 }, (_, i) => `fd00:${n.toString(16)}:${i.toString(16)}::/64`) });
    const whole = state(Array.from({ length: 300 }, (_, i) => fat(i + 1)));
    const page = dataplaneStatePage(whole, sorted(whole), {});
    expect(page.peers.length).toBeGreaterThan(0);
    expect(page.peers.length).toBeLessThan(300);
    expect(JSON.stringify(page.peers).length).toBeLessThanOrEqual(STATE_PAGE_BYTES);
    expect(page.next).toBe(page.peers[page.peers.length - 1].publicKey);
    const rest = dataplaneStatePage(whole, sorted(whole), { after: page.next });
    expect(rest.peers[0].publicKey > page.next!).toBe(true);
  });

  it('pages from different moments: the first page\'s seq is kept (the updates after it are applied again); a restart between pages throws', async () => {
    const before = state([peer(1), peer(2), peer(3)], 4);
    const after = state([peer(1), peer(3, 1800), peer(4)], 5); // between pages: 3 changed, 2 removed, 4 added (update 5)
    let n = 0;
    const read = await readDataplaneState(async (req) => {
      const s = n++ === 0 ? before : after;
      return dataplaneStatePage(s, sorted(s), { ...req, limit: 1 });
    });
    expect(read.seq).toBe(4);
    const view = new DataplaneStateView();
    view.full(read);
    expect(view.update(update(5, [peer(3, 1800), peer(4)], [key(2)]))).toBe('applied');
    expect(view.state!.peers.map((p) => [p.publicKey, p.latestHandshake]).sort()).toEqual(after.peers.map((p) => [p.publicKey, p.latestHandshake]).sort());

    let m = 0;
    await expect(
      readDataplaneState(async (req) => {
        const s = m++ === 0 ? before : state(before.peers, 1, 200);
        return dataplaneStatePage(s, sorted(s), { ...req, limit: 1 });
      }),
    ).rejects.toThrow(/restarted/);
  });
});
