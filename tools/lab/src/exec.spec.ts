import { parsePing, pingArgs } from './exec';
import { parseStat } from './procfs';
import { missingRequirements } from './requirements';

describe('ping', () => {
  it('reads replies and the average round trip', () => {
    const out = `PING 203.0.113.1 (203.0.113.1) 56(84) bytes of data.

--- 203.0.113.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 201ms
rtt min/avg/max/mdev = 0.107/0.134/0.161/0.027 ms
`;
    expect(parsePing(out)).toEqual({ ok: true, sent: 2, received: 2, rttMs: 0.134 });
  });

  it('no reply is a result, not an error', () => {
    expect(parsePing('1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n')).toEqual({ ok: false, sent: 1, received: 0 });
    expect(parsePing('ping: connect: Network is unreachable')).toBeUndefined();
  });

  it('builds quiet numeric ping arguments', () => {
    expect(pingArgs('203.0.113.1')).toEqual(['-n', '-q', '-c', '1', '-i', '0.2', '-W', '1', '203.0.113.1']);
    expect(pingArgs('10.99.0.3', { count: 5, intervalMs: 20, timeoutMs: 300, size: 1000 })).toEqual(['-n', '-q', '-c', '5', '-i', '0.02', '-W', '0.3', '-s', '1000', '10.99.0.3']);
  });
});

describe('/proc/<pid>/stat', () => {
  it('finds the start time past a command name with spaces and parentheses', () => {
    const stat = '26151 (a (b) c) R 26051 26048 17426 0 -1 4194560 234 0 0 0 0 0 0 0 20 0 1 0 260410 3133440 366 18446744073709551615';
    expect(parseStat(stat)).toEqual({ state: 'R', startTime: 260410 });
  });
});

describe('requirements', () => {
  it('names what is missing and the Debian package that provides it', () => {
    const problems = missingRequirements({ uid: 1000, has: (tool) => !['conntrack', 'wireguard-go'].includes(tool), tun: true });
    expect(problems).toEqual([
      'the lab needs root (network namespaces, iptables): run it as root or with sudo',
      'conntrack is missing (it flushes NAT state for setNatMode, flushNat, rebindNat): apt-get install conntrack',
      'wireguard-go is missing (it runs WireGuard devices in the namespaces): apt-get install wireguard-go',
    ]);
    expect(missingRequirements({ uid: 0, has: () => true, tun: true })).toEqual([]);
  });
});
