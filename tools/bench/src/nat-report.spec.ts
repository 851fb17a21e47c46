import { formatNatReport, longestGap, parsePingLine, PingReply, steadyReply } from './nat-report';

describe('NAT path benchmark: ping lines and the table', () => {
  it('reads ping -D replies with their TTL, and nothing else', () => {
    expect(parsePingLine('[1764046123.123456] 1008 bytes from 10.99.0.7: icmp_seq=3 ttl=63 time=1.23 ms')).toEqual({ at: 1764046123123.456, seq: 3, ttl: 63 });
    expect(parsePingLine('PING 10.99.0.7 (10.99.0.7) 56(84) bytes of data.')).toBeUndefined();
    expect(parsePingLine('[1764046123.123456] From 10.99.0.2 icmp_seq=1 Destination Host Unreachable')).toBeUndefined();
  });

  const reply = (seq: number, at = seq * 10): PingReply => ({ seq, at, ttl: 63 });

  it('finds where the path became steady: the reply after the last lost ping', () => {
    expect(steadyReply([reply(1), reply(2), reply(5), reply(6), reply(7)])).toEqual(reply(5));
    expect(steadyReply([reply(3), reply(4)])).toEqual(reply(3));
    expect(steadyReply([reply(2, 20), reply(1, 25)])).toEqual(reply(1, 25)); // out of order arrival
    expect(steadyReply([])).toBeUndefined();
  });

  it('measures the longest gap between replies', () => {
    expect(longestGap([reply(1), reply(2), reply(9), reply(10)])).toBe(70);
    expect(longestGap([reply(1)])).toBe(0);
  });

  it('prints p50, p99 and max with the goals', () => {
    const text = formatNatReport({
      deadlineS: 10,
      natIntervalS: 3,
      direct: [
        { member: 'd1', enrolledToDirectMs: 300, startToDirectMs: 900, enrolledToHandshakeMs: 299 },
        { member: 'd2', enrolledToDirectMs: 1200, startToDirectMs: 1800, enrolledToHandshakeMs: 1199 },
      ],
      relay: [{ member: 'r1', enrolledToRelayMs: 80, enrolledToSteadyRelayMs: 2600, attemptToSteadyRelayMs: 40, longestGapMs: 2400, attemptToRelayedMs: 10_005, enrolledToRelayedMs: 12_500 }],
      load: { before: [1, 2, 3], after: [0.5, 1, 2] },
      cpus: 2,
    });
    const lines = text.split('\n');
    expect(lines[1]).toBe('load average 1.00, 2.00, 3.00 before, 0.50, 1.00, 2.00 after (2 CPUs)');
    expect(lines.find((l) => l.startsWith('eim+eim: enrolled → first packet through the direct tunnel'))).toMatch(/\s300\s+1200\s+1200\s+< 1000 ms: 1\/2$/);
    expect(lines.find((l) => l.startsWith('eim+edm: attempt decided → relayed decision'))).toMatch(/\s10005\s+10005\s+10005\s+< 11000 ms: 1\/1$/);
    expect(lines.find((l) => l.startsWith('eim+edm: enrolled → relayed decision'))).toMatch(/< 11000 ms: 0\/1$/);
    expect(lines.some((l) => l.includes('port prediction'))).toBe(false);
  });

  it('prints the port prediction runs: times of those that went direct, and how many did', () => {
    const text = formatNatReport({
      deadlineS: 10,
      natIntervalS: 3,
      direct: [],
      relay: [],
      predict: [
        { member: 'p1', eimSeqMs: 400, seqSeqMs: 600 },
        { member: 'p2', eimSeqMs: 500, seqSeqMs: null },
      ],
      load: { before: [1, 2, 3], after: [0.5, 1, 2] },
      cpus: 2,
    });
    const lines = text.split('\n');
    expect(lines[0]).toContain('2 seq runs');
    expect(lines.find((l) => l.startsWith('eim+seq: enrolled → first packet through the direct tunnel (port prediction)'))).toMatch(/\s400\s+500\s+500\s+direct: 2\/2$/);
    expect(lines.find((l) => l.startsWith('seq+seq: enrolled → first packet through the direct tunnel (port prediction)'))).toMatch(/\s600\s+600\s+600\s+direct: 1\/2$/);
  });
});
