import { LabSpecError } from './errors';
import { checkSpec, deviceName, parseMembers, planLab, setupBatches, sysctls, vppHosts } from './plan';

describe('planLab', () => {
  const plan = planLab({ members: [{ name: 'a', nat: 'eim' }, { name: 'c', nat: 'public' }] }, 'x1');

  it('gives every host its namespace and addresses by position in the spec', () => {
    expect(plan.hosts.map((h) => [h.name, h.role, h.ns, h.address, h.publicAddress, h.router ?? h.member ?? ''])).toEqual([
      ['internet', 'internet', 'wgl-x1-internet', '203.0.113.254', '203.0.113.254', ''],
      ['registry', 'registry', 'wgl-x1-registry', '203.0.113.1', '203.0.113.1', ''],
      ['nat-a', 'router', 'wgl-x1-nat-a', '198.51.100.11', '198.51.100.11', 'a'],
      ['a', 'member', 'wgl-x1-a', '172.16.1.2', '198.51.100.11', 'nat-a'],
      ['c', 'member', 'wgl-x1-c', '203.0.113.12', '203.0.113.12', ''],
    ]);
    expect(plan.gateways).toEqual({ registry: '203.0.113.254', 'nat-a': '198.51.100.254', a: '172.16.1.1', c: '203.0.113.254' });
  });

  it('builds the veths from the internet outwards, never in the machine’s own namespace', () => {
    const phases = setupBatches(plan);
    expect(phases.map((p) => p.map((b) => b.host))).toEqual([['internet'], ['registry', 'nat-a', 'c'], ['a']]);
    expect(phases[0][0].lines).toEqual([
      'link set lo up',
      'link add br0 type bridge',
      'addr add 203.0.113.254/24 dev br0',
      'addr add 198.51.100.254/24 dev br0',
      'link set br0 up',
      'link add reg type veth peer name eth0 netns wgl-x1-registry',
      'link set reg master br0',
      'link set reg up',
      'link add n1 type veth peer name wan netns wgl-x1-nat-a',
      'link set n1 master br0',
      'link set n1 up',
      'link add m2 type veth peer name eth0 netns wgl-x1-c',
      'link set m2 master br0',
      'link set m2 up',
    ]);
    expect(phases[1][1].lines).toEqual([
      'link set lo up',
      'addr add 198.51.100.11/24 dev wan',
      'link set wan up',
      'link add lan type veth peer name eth0 netns wgl-x1-a',
      'addr add 172.16.1.1/24 dev lan',
      'link set lan up',
      'route add default via 198.51.100.254',
    ]);
    expect(phases[2][0].lines).toEqual(['link set lo up', 'addr add 172.16.1.2/24 dev eth0', 'link set eth0 up', 'route add default via 172.16.1.1']);
  });

  it('forwards on the internet, the registry (without redirects) and the routers', () => {
    expect(plan.hosts.map((h) => [h.name, sysctls(h)])).toEqual([
      ['internet', ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']],
      ['registry', ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']],
      ['nat-a', ['net.ipv4.ip_forward=1']],
      ['a', []],
      ['c', []],
    ]);
  });

  it('names WireGuard devices uniquely per lab, within 15 characters', () => {
    const [, registry, router, a] = plan.hosts;
    expect([deviceName('x1', registry), deviceName('x1', a), deviceName('x1', a, '2'), deviceName('x1', router)]).toEqual(['wlx1-r', 'wlx1-m1', 'wlx1-m12', 'wlx1-n1']);
    const big = planLab({ members: Array.from({ length: 100 }, (_, i) => ({ name: `m${i}`, nat: 'eim' as const })) }, 'abcdef');
    expect(deviceName('abcdef', big.hosts.at(-1)!, 'zz')).toBe('wlabcdef-m100zz');
    expect(() => deviceName('x1', a, 'abc')).toThrow(LabSpecError);
  });
});

describe('lab specs', () => {
  it.each([
    [{ members: [{ name: 'A', nat: 'eim' }] }, 'member name "A" must be 1-16 characters'],
    [{ members: [{ name: 'registry', nat: 'eim' }] }, 'member name "registry"'],
    [{ members: [{ name: 'a', nat: 'eim' }, { name: 'a', nat: 'edm' }] }, 'member name "a" is used twice'],
    [{ members: [{ name: 'a', nat: 'cone' }] }, 'member "a": nat "cone" must be eim, edm, seq or public'],
    [{ members: [], id: 'Bad-Id' }, 'lab id "Bad-Id" must be 1-6 characters'],
    [{ members: Array.from({ length: 101 }, (_, i) => ({ name: `m${i}`, nat: 'eim' })) }, 'at most 100 members'],
  ])('rejects %j', (spec, message) => {
    expect(() => checkSpec(spec as never)).toThrow(message);
  });

  it('parses the CLI form "name:mode,…"', () => {
    expect(parseMembers('a:eim, b:edm,c:public')).toEqual([
      { name: 'a', nat: 'eim' },
      { name: 'b', nat: 'edm' },
      { name: 'c', nat: 'public' },
    ]);
    expect(() => parseMembers('a')).toThrow('member "a" must be <name>:<eim|edm|seq|public>');
  });

  it('takes a dataplane per member ("name:nat:vpp") and for the registry; VPP hosts say so in the plan', () => {
    expect(parseMembers('a:eim:vpp,b:edm,c:public:wireguard-go')).toEqual([
      { name: 'a', nat: 'eim', dataplane: 'vpp' },
      { name: 'b', nat: 'edm' },
      { name: 'c', nat: 'public', dataplane: 'wireguard-go' },
    ]);
    expect(() => checkSpec({ members: parseMembers('a:eim:dpdk') })).toThrow('member "a": dataplane "dpdk" must be wireguard-go or vpp');
    expect(() => checkSpec({ members: [], registryDataplane: 'x' as never })).toThrow('registry dataplane "x" must be wireguard-go or vpp');
    const p = planLab({ members: parseMembers('a:eim:vpp,b:eim,c:public:vpp'), registryDataplane: 'vpp' }, 'x1');
    expect(vppHosts(p).map((h) => h.name)).toEqual(['registry', 'a', 'c']);
    expect(p.hosts.find((h) => h.name === 'b')!.dataplane).toBeUndefined();
  });
});
