import type { PeerState } from '@wgmesh/contracts';
import { AddressPlan } from './address-plan';
import { HUB_KEEPALIVE, hubApplyRefusal, hubView } from './hub-view';
import type { MemberRecord } from './membership';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const plan = new AddressPlan('10.99.0.0/16', ['10.99.0.1']);
const member = (n: number, extra: Partial<MemberRecord> = {}): MemberRecord => ({ name: `m${n}`, publicKey: key(n), address: `10.99.0.${n}`, enrolledAt: 1, ...extra });
const state = (n: number, allowedIps: string[], extra: Partial<PeerState> = {}): PeerState => ({
  publicKey: key(n), allowedIps, endpoint: `198.51.100.${n}:51820`, latestHandshake: 100 + n, rxBytes: 5, txBytes: 6, persistentKeepalive: HUB_KEEPALIVE, ...extra,
});

describe('hubView: the membership is the truth, the device what it observes', () => {
  it('publishes members with what the device observed, and those it lacks with their last endpoint, to be programmed', () => {
    const view = hubView([state(2, ['10.99.0.2/32'])], [member(2), member(3, { endpoint: '198.51.100.33:4000' })], plan, '10.99.0.1');
    expect(view.peers).toEqual([
      state(2, ['10.99.0.2/32']),
      { publicKey: key(3), allowedIps: ['10.99.0.3/32'], endpoint: '198.51.100.33:4000', latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: HUB_KEEPALIVE },
    ]);
    expect(view.repair).toEqual([{ publicKey: key(3), endpoint: '198.51.100.33:4000', allowedIps: ['10.99.0.3/32'], persistentKeepalive: HUB_KEEPALIVE }]);
    expect(view.refused).toEqual([]);
  });

  it('an empty device (a lost hub) keeps every member in the table and repairs them all', () => {
    const members = [member(2, { endpoint: '198.51.100.2:1' }), member(3, { endpoint: null }), member(4)];
    const view = hubView([], members, plan, '10.99.0.1');
    expect(view.peers.map((p) => [p.publicKey, p.endpoint])).toEqual([[key(2), '198.51.100.2:1'], [key(3), null], [key(4), null]]);
    expect(view.repair.map((p) => p.publicKey)).toEqual([key(2), key(3), key(4)]);
  });

  it('repairs a member held with other allowed IPs, and publishes its own address only', () => {
    const view = hubView([state(2, ['10.99.0.7/32', '10.99.0.2/32'])], [member(2)], plan, '10.99.0.1');
    expect(view.peers[0].allowedIps).toEqual(['10.99.0.2/32']);
    expect(view.repair).toEqual([{ publicKey: key(2), endpoint: '198.51.100.2:51820', allowedIps: ['10.99.0.2/32'], persistentKeepalive: HUB_KEEPALIVE }]);
    // Held without the hub's keepalive (enrolled before it): programmed again, so a rebuilt hub dials it.
    expect(hubView([state(2, ['10.99.0.2/32'], { persistentKeepalive: 0 })], [member(2)], plan, '10.99.0.1').repair).toHaveLength(1);
  });

  it('publishes an operator’s own peer as the device has it, unless it covers a member’s or the registry’s address', () => {
    const view = hubView([state(9, ['10.99.250.1/32']), state(8, ['10.99.0.0/24']), state(7, ['10.99.0.1/32'])], [member(2)], plan, '10.99.0.1');
    expect(view.peers.map((p) => p.publicKey)).toEqual([key(2), key(9)]);
    expect(view.refused).toEqual([
      { publicKey: key(8), reason: 'its allowed IPs 10.99.0.0/24 cover 10.99.0.1, the address of the registry' },
      { publicKey: key(7), reason: 'its allowed IPs 10.99.0.1/32 cover 10.99.0.1, the address of the registry' },
    ]);
  });
});

describe('hubApplyRefusal: what the hub’s programmer refuses, whoever asks', () => {
  const members = new Map([[key(2), member(2)], [key(3), member(3)]]);
  const lookup = async (k: string) => members.get(k) ?? null;

  it('accepts a member at exactly its address, removals and pokes', async () => {
    expect(await hubApplyRefusal({ replace: false, peers: [{ publicKey: key(2), endpoint: null, allowedIps: ['10.99.0.2/32'] }], remove: [key(3)], poke: [key(2)] }, lookup, plan)).toBeNull();
  });

  it.each([
    [{ replace: false, peers: [{ publicKey: key(2), endpoint: null, allowedIps: ['10.99.0.3/32'] }] }, /allowed IPs of .* \(10\.99\.0\.3\/32\) are not its allocated address 10\.99\.0\.2\/32 \(member "m2"\)/],
    [{ replace: false, peers: [{ publicKey: key(2), endpoint: null, allowedIps: ['10.99.0.2/32', '10.99.0.3/32'] }] }, /are not its allocated address/],
    [{ replace: false, peers: [{ publicKey: key(2), endpoint: null, allowedIps: [] }] }, /\(none\) are not its allocated address/],
    [{ replace: false, peers: [{ publicKey: key(5), endpoint: null, allowedIps: ['10.99.0.5/32'] }] }, /is not an enrolled member/],
    [{ replace: true, peers: [] }, /never replaced/],
    [{ replace: false, peers: [], punch: [{ publicKey: key(2), endpoints: ['198.51.100.1:1'], allowedIps: [], persistentKeepalive: 1 }] }, /does not punch/],
  ])('refuses %j', async (req, reason) => {
    expect(await hubApplyRefusal(req, lookup, plan)).toMatch(reason);
  });
});
