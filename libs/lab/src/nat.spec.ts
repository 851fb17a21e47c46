import { natRules, parseConntrack, rebindPlan, SEQ_PORTS } from './nat';

// `conntrack -L` in a router of the lab (conntrack-tools 1.4.7).
const CONNTRACK = `udp      17 29 src=172.16.1.2 dst=203.0.113.1 sport=51821 dport=51820 src=203.0.113.1 dst=198.51.100.11 sport=51820 dport=51821 [ASSURED] mark=0 use=1
udp      17 29 src=172.16.1.2 dst=198.51.100.12 sport=51821 dport=51822 [UNREPLIED] src=198.51.100.12 dst=198.51.100.11 sport=51822 dport=51821 mark=0 use=1
icmp     1 29 src=172.16.1.2 dst=203.0.113.1 type=8 code=0 id=26143 src=203.0.113.1 dst=198.51.100.11 type=0 code=0 id=26143 mark=0 use=1
tcp      6 431999 ESTABLISHED src=172.16.1.2 dst=203.0.113.1 sport=45000 dport=4222 src=203.0.113.1 dst=198.51.100.11 sport=4222 dport=61000 [ASSURED] mark=0 use=1
`;

describe('NAT rules', () => {
  it('eim masquerades keeping ports; both modes drop new inbound on the WAN', () => {
    expect(natRules('eim', '198.51.100.11')).toBe(`*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o wan -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i wan -j DROP
-A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i wan -j DROP
COMMIT
`);
  });

  it('edm randomises ports fully and ignores pins', () => {
    const rules = natRules('edm', '198.51.100.11', [{ source: '172.16.1.2', sourcePort: 51821, toPort: 30000 }]);
    expect(rules).toContain('-A POSTROUTING -o wan -j MASQUERADE --random-fully\n');
    expect(rules).not.toContain('SNAT');
  });

  it('seq hands UDP flows one SEQ_PORTS port after another, round-robin, before MASQUERADE; pins ignored', () => {
    const rules = natRules('seq', '198.51.100.11', [{ source: '172.16.1.2', sourcePort: 51821, toPort: 40000 }]).split('\n');
    const seq = rules.filter((l) => l.includes('statistic'));
    expect(seq).toHaveLength(SEQ_PORTS.count);
    expect(seq[0]).toBe(`-A POSTROUTING -o wan -p udp -m statistic --mode nth --every ${SEQ_PORTS.count} --packet 0 -j SNAT --to-source 198.51.100.11:${SEQ_PORTS.first}`);
    expect(seq.at(-1)).toBe(`-A POSTROUTING -o wan -p udp -m statistic --mode nth --every 1 --packet 0 -j SNAT --to-source 198.51.100.11:${SEQ_PORTS.first + SEQ_PORTS.count - 1}`);
    // Rule i takes every (n-i)-th flow of those the rules before it leave: simulated, flows go round-robin.
    const counters = seq.map(() => 0);
    const every = seq.map((l) => Number(/--every (\d+)/.exec(l)![1]));
    const ports: number[] = [];
    for (let flow = 0; flow < SEQ_PORTS.count * 2 + 3; flow++) {
      const i = every.findIndex((n, j) => counters[j]++ % n === 0);
      ports.push(SEQ_PORTS.first + i);
    }
    expect(ports.slice(0, 4)).toEqual([SEQ_PORTS.first, SEQ_PORTS.first + 1, SEQ_PORTS.first + 2, SEQ_PORTS.first + 3]);
    expect(ports.slice(SEQ_PORTS.count, SEQ_PORTS.count + 2)).toEqual([SEQ_PORTS.first, SEQ_PORTS.first + 1]);
    expect(rules.indexOf('-A POSTROUTING -o wan -j MASQUERADE')).toBe(rules.indexOf(seq.at(-1)!) + 1);
    expect(rules.join('\n')).not.toContain('--sport 51821');
  });

  it('pins come before MASQUERADE, one external port per internal UDP port', () => {
    const rules = natRules('eim', '198.51.100.11', [{ source: '172.16.1.2', sourcePort: 51821, toPort: 30000 }]);
    expect(rules).toContain('-A POSTROUTING -o wan -s 172.16.1.2/32 -p udp --sport 51821 -j SNAT --to-source 198.51.100.11:30000\n-A POSTROUTING -o wan -j MASQUERADE\n');
  });
});

describe('parseConntrack', () => {
  it('reads UDP and TCP flows with the external port from the reply direction', () => {
    expect(parseConntrack(CONNTRACK)).toEqual([
      { proto: 'udp', source: '172.16.1.2', sourcePort: 51821, destination: '203.0.113.1', destinationPort: 51820, externalAddress: '198.51.100.11', externalPort: 51821 },
      { proto: 'udp', source: '172.16.1.2', sourcePort: 51821, destination: '198.51.100.12', destinationPort: 51822, externalAddress: '198.51.100.11', externalPort: 51821 },
      { proto: 'tcp', source: '172.16.1.2', sourcePort: 45000, destination: '203.0.113.1', destinationPort: 4222, externalAddress: '198.51.100.11', externalPort: 61000 },
    ]);
  });

  it('accepts the extended format and ignores what it cannot read', () => {
    const extended = 'ipv4     2 udp      17 25 src=172.16.1.2 dst=203.0.113.1 sport=1 dport=2 src=203.0.113.1 dst=198.51.100.11 sport=2 dport=3 mark=0 use=1';
    expect(parseConntrack(`${extended}\nconntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n\nudp 17 1 src=1.2.3.4`)).toEqual([
      { proto: 'udp', source: '172.16.1.2', sourcePort: 1, destination: '203.0.113.1', destinationPort: 2, externalAddress: '198.51.100.11', externalPort: 3 },
    ]);
  });
});

describe('rebindPlan', () => {
  const sequence = (...values: number[]) => () => values.shift()!;

  it('pins each UDP source port of the member to a new port, avoiding ports in use', () => {
    const mappings = parseConntrack(CONNTRACK);
    // random() 0.7625 → port 20000 + 0.7625 · 40000 = 50500
    const plan = rebindPlan('172.16.1.2', mappings, [], sequence(0.7625));
    expect(plan.rebinds).toEqual([{ sourcePort: 51821, before: [51821], after: 50500 }]);
    expect(plan.pins).toEqual([{ source: '172.16.1.2', sourcePort: 51821, toPort: 50500 }]);
  });

  it('draws again when the port is the current one, or pinned already, and replaces the old pin', () => {
    const mappings = parseConntrack(CONNTRACK);
    // draws 51821 (its current port), 30000 (the old pin), then 20000
    const plan = rebindPlan('172.16.1.2', mappings, [{ source: '172.16.1.2', sourcePort: 51821, toPort: 30000 }], sequence(0.795525, 0.25, 0));
    expect(plan.rebinds).toEqual([{ sourcePort: 51821, before: [51821], after: 20000 }]);
    expect(plan.pins).toEqual([{ source: '172.16.1.2', sourcePort: 51821, toPort: 20000 }]);
  });

  it('has nothing to rebind for an idle member', () => {
    expect(rebindPlan('172.16.1.2', [], [])).toEqual({ pins: [], rebinds: [] });
  });
});
