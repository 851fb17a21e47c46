import { parseNatReport } from '@wgmesh/contracts';
import type { StunAddress } from '@wgmesh/stun';
import { classifyObservations, MAX_METHOD_CHARS, NatObservations, TestResult, useOtherAddress } from './classify-observations';

const S: StunAddress = { ip: '203.0.113.1', port: 3478 };
const OTHER: StunAddress = { ip: '203.0.113.2', port: 3479 };
const ONE_IP_OTHER: StunAddress = { ip: '203.0.113.1', port: 3479 };
const LOCAL = { addresses: ['127.0.0.1', '172.16.1.2', 'fe80::1'], port: 40000 };
const mapped = (ip: string, port: number, from: StunAddress = S): TestResult => ({ outcome: 'mapped', mapped: { ip, port }, from });
const timeout: TestResult = { outcome: 'timeout', waitedMs: 1000, transmissions: 4 };
const M1 = mapped('198.51.100.11', 40000);

const obs = (o: Partial<NatObservations>): NatObservations => ({ server: S, local: LOCAL, testI: M1, otherAddress: OTHER, ...o });

describe('classifyObservations: RFC 5780 with a two-IP server', () => {
  it('endpoint-independent mapping (test II maps the same), address-and-port-dependent filtering: eim', () => {
    const c = classifyObservations(obs({ mappingAltIp: mapped('198.51.100.11', 40000, { ip: OTHER.ip, port: S.port }), filteringChangeIpPort: timeout, filteringChangePort: timeout }));
    expect(c).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.11:40000', server: '203.0.113.1:3478' });
    expect(c.method).toContain('behind a NAT');
    expect(c.method).toContain('mapping test II (to 203.0.113.2:3478): mapped 198.51.100.11:40000, the same as test I: endpoint-independent mapping');
    expect(c.method).toContain('no answer in 1000 and 1000 ms: address-and-port-dependent filtering');
  });

  it('address-dependent mapping (III maps like II), address-dependent filtering: edm', () => {
    const c = classifyObservations(obs({ mappingAltIp: mapped('198.51.100.11', 50001), mappingAltIpPort: mapped('198.51.100.11', 50001), filteringChangeIpPort: timeout, filteringChangePort: mapped('198.51.100.11', 40000) }));
    expect(c).toMatchObject({ nat: 'edm', mapping: 'address-dependent', filtering: 'address-dependent' });
    expect(c.method).toContain('test III (to 203.0.113.2:3479): mapped 198.51.100.11:50001, the same as test II: address-dependent mapping');
  });

  it('address-and-port-dependent mapping (every test maps differently): edm', () => {
    const c = classifyObservations(obs({ mappingAltIp: mapped('198.51.100.11', 50001), mappingAltIpPort: mapped('198.51.100.11', 50002), filteringChangeIpPort: mapped('198.51.100.11', 40000) }));
    expect(c).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'endpoint-independent' });
  });

  it('a dependent mapping whose test III got no answer is still edm, with the mapping unknown', () => {
    const c = classifyObservations(obs({ mappingAltIp: mapped('198.51.100.11', 50001), mappingAltIpPort: timeout, filteringChangeIpPort: timeout, filteringChangePort: timeout }));
    expect(c).toMatchObject({ nat: 'edm', mapping: 'unknown' });
    expect(c.method).toContain('the mapping depends on the destination');
  });

  it('no answer from the alternate address: mapping unknown, nat unknown', () => {
    const c = classifyObservations(obs({ mappingAltIp: timeout, filteringChangeIpPort: timeout, filteringChangePort: timeout }));
    expect(c).toMatchObject({ nat: 'unknown', mapping: 'unknown', filtering: 'address-and-port-dependent' });
  });

  it('a server refusing the change request: filtering unknown, with its error in the method', () => {
    const c = classifyObservations(obs({ mappingAltIp: mapped('198.51.100.11', 40000), filteringChangeIpPort: { outcome: 'error', code: 420, reason: 'Unknown Attribute' } }));
    expect(c).toMatchObject({ nat: 'eim', filtering: 'unknown' });
    expect(c.method).toContain('error 420 Unknown Attribute');
  });

  it('no NAT: the mapped address is one of this host’s with the same port', () => {
    const c = classifyObservations(obs({ testI: mapped('172.16.1.2', 40000), filteringChangeIpPort: mapped('172.16.1.2', 40000) }));
    expect(c).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent', mappedAddress: '172.16.1.2:40000' });
    expect(c.method).toContain("this host's own address and port 40000: no NAT");
    // The same address with another port is a NAT (a port-translating one on this host).
    expect(classifyObservations(obs({ testI: mapped('172.16.1.2', 40001), mappingAltIp: mapped('172.16.1.2', 40001) })).nat).toBe('eim');
  });

  it('tests not run for lack of time are unknown, and the method says so', () => {
    const c = classifyObservations(obs({ filteringChangeIpPort: timeout, filteringChangePort: timeout, mappingAltIp: { outcome: 'not-run' }, budgetMs: 3000 }));
    expect(c).toMatchObject({ nat: 'unknown', mapping: 'unknown' });
    expect(c.method).toContain('not run (the 3000 ms time budget was spent)');
  });
});

describe('classifyObservations: a one-IP server (OTHER-ADDRESS with the same IP)', () => {
  it('the same mapping towards the other port: eim, saying address-dependent mapping cannot be told apart', () => {
    const c = classifyObservations(obs({ otherAddress: ONE_IP_OTHER, mappingAltPort: mapped('198.51.100.11', 40000), filteringChangePort: timeout }));
    expect(c).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' });
    expect(c.method).toContain('the server has one IP');
    expect(c.method).toContain('address-dependent mapping cannot be told apart');
  });

  it('another mapping towards the other port (MASQUERADE --random-fully): edm, address-and-port-dependent', () => {
    const c = classifyObservations(obs({ otherAddress: ONE_IP_OTHER, mappingAltPort: mapped('198.51.100.11', 61234), filteringChangePort: timeout }));
    expect(c).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent' });
  });

  it('an answer from the other port: address-dependent filtering at most', () => {
    const c = classifyObservations(obs({ otherAddress: ONE_IP_OTHER, mappingAltPort: mapped('198.51.100.11', 40000), filteringChangePort: mapped('198.51.100.11', 40000) }));
    expect(c.filtering).toBe('address-dependent');
    expect(c.method).toContain('endpoint-independent cannot be told apart');
  });
});

describe('classifyObservations: what cannot be classified', () => {
  it('no answer at all: everything unknown, no mapped address', () => {
    const c = classifyObservations(obs({ testI: { outcome: 'timeout', waitedMs: 1500, transmissions: 5 }, otherAddress: undefined }));
    expect(c).toEqual({ server: '203.0.113.1:3478', mappedAddress: null, nat: 'unknown', mapping: 'unknown', filtering: 'unknown', method: 'test I (Binding to 203.0.113.1:3478): no answer in 1500 ms (5 transmissions); nothing can be classified' });
  });

  it('an error answer to test I', () => {
    const c = classifyObservations(obs({ testI: { outcome: 'error', code: 400, reason: 'Bad Request' } }));
    expect(c).toMatchObject({ nat: 'unknown', mappedAddress: null });
    expect(c.method).toContain('error 400 Bad Request');
  });

  it('no OTHER-ADDRESS: only NAT or not', () => {
    const natted = classifyObservations(obs({ otherAddress: undefined }));
    expect(natted).toMatchObject({ nat: 'unknown', mapping: 'unknown', filtering: 'unknown', mappedAddress: '198.51.100.11:40000' });
    expect(natted.method).toContain('no OTHER-ADDRESS (no RFC 5780 support): only NAT or not can be decided');
    expect(classifyObservations(obs({ otherAddress: undefined, testI: mapped('127.0.0.1', 40000) }))).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'unknown' });
  });

  it.each([
    [{ ip: '2001:db8::2', port: 3479 }, 'family'],
    [S, 'the server address itself'],
    [{ ip: '224.0.0.1', port: 3479 }, 'not a unicast address'],
    [{ ip: '0.0.0.0', port: 3479 }, 'not a unicast address'],
    [{ ip: '255.255.255.255', port: 3479 }, 'not a unicast address'],
    [{ ip: '127.0.0.1', port: 3479 }, 'loopback'],
    [{ ip: '203.0.113.2', port: 0 }, 'port 0'],
  ])('does not probe OTHER-ADDRESS %j (%s)', (other, why) => {
    const use = useOtherAddress(S, other);
    expect(use.kind).toBe('none');
    expect(use.kind === 'none' && use.why).toContain(why);
    expect(classifyObservations(obs({ otherAddress: other })).method).toContain('ignored');
  });

  it('accepts a loopback OTHER-ADDRESS from a loopback server, and tells one IP from two', () => {
    expect(useOtherAddress({ ip: '127.0.0.1', port: 1 }, { ip: '127.0.0.2', port: 2 }).kind).toBe('two-ip');
    expect(useOtherAddress({ ip: '::1', port: 1 }, { ip: '::1', port: 2 }).kind).toBe('one-ip');
  });
});

describe('classifyObservations: the result fits the NatReport contract', () => {
  it('parses as a NatReport once node, key and time are added, for every kind of outcome', () => {
    const all = [
      obs({ mappingAltIp: mapped('198.51.100.11', 40000), filteringChangeIpPort: timeout, filteringChangePort: timeout }),
      obs({ testI: { outcome: 'timeout', waitedMs: 1, transmissions: 1 } }),
      obs({ otherAddress: { ip: '2001:db8::7', port: 1 } }),
      { ...obs({}), server: { ip: '2001:db8::1', port: 3478 }, testI: mapped('2001:db8::99', 5), otherAddress: { ip: '2001:db8::1', port: 3479 } },
    ];
    for (const o of all) {
      const c = classifyObservations(o);
      expect(c.method.length).toBeLessThanOrEqual(MAX_METHOD_CHARS);
      const report = { node: 'a', publicKey: Buffer.alloc(32, 7).toString('base64'), at: 1, ...c };
      expect(parseNatReport(report)).toEqual(report);
    }
  });
});

describe('classifyObservations: port allocation of an endpoint-dependent NAT', () => {
  const at = (port: number) => mapped('198.51.100.11', port);

  it.each([
    ['two-IP server, every new mapping one port on: sequential +1', { testI: at(29990), mappingAltIp: at(30001), mappingAltIpPort: at(30002), allocation: [at(30003), at(30004)] }, 1, 'mappings 30001, 30002, 30003, 30004 (steps +1, +1, +1): sequential, step +1'],
    ['one-IP server, two ports on each time: sequential +2', { otherAddress: ONE_IP_OTHER, testI: at(30000), mappingAltPort: at(30002), allocation: [at(30004), at(30006)] }, 2, 'sequential, step +2'],
    ['downwards: sequential -1', { otherAddress: ONE_IP_OTHER, testI: at(30010), mappingAltPort: at(30009), allocation: [at(30008), at(30007)] }, -1, 'step -1'],
    ['another flow took a port in between: still +1', { otherAddress: ONE_IP_OTHER, testI: at(30000), mappingAltPort: at(30001), allocation: [at(30003), at(30004)] }, 1, 'steps +2, +1'],
  ] as const)('%s', (_what, o, step, text) => {
    const c = classifyObservations(obs({ ...o, filteringChangePort: timeout }));
    expect(c.nat).toBe('edm');
    expect(c.portStep).toBe(step);
    expect(c.method).toContain(text);
    expect(parseNatReport({ ...c, node: 'a', publicKey: Buffer.alloc(32, 1).toString('base64'), at: 1 }).portStep).toBe(step);
  });

  it('leaves test I out (the filtering tests came between it and the others)', () => {
    const c = classifyObservations(obs({ otherAddress: ONE_IP_OTHER, testI: at(20000), mappingAltPort: at(30001), allocation: [at(30002), at(30003)], filteringChangePort: timeout }));
    expect(c.portStep).toBe(1);
    expect(c.method).toContain('mappings 30001, 30002, 30003 (steps +1, +1)');
  });

  it.each([
    ['random ports (MASQUERADE --random-fully)', { testI: at(1), mappingAltPort: at(30000), allocation: [at(51234), at(7211)] }, 'not sequential'],
    ['steps too large to call sequential', { testI: at(1), mappingAltPort: at(30000), allocation: [at(30100), at(30200)] }, 'not sequential'],
    ['back and forth', { testI: at(1), mappingAltPort: at(30000), allocation: [at(30001), at(29999)] }, 'not sequential'],
    ['a step more than 4 times the smallest', { testI: at(1), mappingAltPort: at(30000), allocation: [at(30001), at(30007)] }, 'not sequential'],
    ['no answer to an allocation test', { testI: at(1), mappingAltPort: at(30000), allocation: [at(30001), timeout] }, 'no answer in 1000 ms (4 transmissions): not known whether ports can be predicted'],
    ['the allocation tests not run', { testI: at(1), mappingAltPort: at(30000) }, 'not run: not known whether'],
  ] as const)('no port step: %s', (_what, o, text) => {
    const c = classifyObservations(obs({ ...o, otherAddress: ONE_IP_OTHER, filteringChangePort: timeout }));
    expect(c.nat).toBe('edm');
    expect(c).not.toHaveProperty('portStep');
    expect(c.method).toContain(text);
  });

  it('an endpoint-independent NAT has no port step, whatever other sockets got', () => {
    const c = classifyObservations(obs({ testI: at(30000), mappingAltIp: at(30000), allocation: [at(30001), at(30002)], filteringChangeIpPort: timeout, filteringChangePort: timeout }));
    expect(c.nat).toBe('eim');
    expect(c).not.toHaveProperty('portStep');
    expect(c.method).not.toContain('port allocation');
  });
});
