import { parsePing, pingArgs, pingBudgetMs } from './exec';
import { parseStat } from './procfs';
import { missingRequirements } from './requirements';

describe('ping', () => {
  const reply = (seq: number, ms: number) => `1008 bytes from 10.99.0.3: icmp_seq=${seq} ttl=64 time=${ms} ms`;
  const stats = (sent: number, received: number) => `\n--- 10.99.0.3 ping statistics ---\n${sent} packets transmitted, ${received} received, time 201ms\n`;

  it('counts the replies to the first `count` requests, each once, and their average round trip', () => {
    const out = ['PING 10.99.0.3 (10.99.0.3) 1000(1028) bytes of data.', reply(1, 0.2), reply(2, 0.4), `${reply(2, 0.5)} (DUP!)`, reply(4, 0.6), stats(4, 3)].join('\n');
    expect(parsePing(out, 4)).toEqual({ ok: true, sent: 4, received: 3, rttMs: 0.4, ttls: [64, 64, 64] });
    // With -w, ping sends more when replies are missing: the extra ones do not make up for a loss.
    const more = [reply(1, 1), reply(3, 1), reply(4, 1), reply(5, 1), stats(5, 4)].join('\n');
    expect(parsePing(more, 4)).toEqual({ ok: true, sent: 4, received: 3, rttMs: 1, ttls: [64, 64, 64] });
  });

  it('no reply is a result, not an error', () => {
    expect(parsePing('From 10.99.0.2 icmp_seq=1 Destination Host Unreachable\n1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n', 1)).toEqual({ ok: false, sent: 1, received: 0, ttls: [] });
    expect(parsePing('ping: connect: Network is unreachable', 1)).toBeUndefined();
  });

  it('builds numeric ping arguments with a deadline that covers the whole budget (the requests late by as long again)', () => {
    expect(pingArgs('203.0.113.1')).toEqual(['-n', '-c', '1', '-i', '0.2', '-W', '1', '-w', '1', '203.0.113.1']);
    expect(pingArgs('10.99.0.3', { count: 10, intervalMs: 20, timeoutMs: 1000, size: 1000 })).toEqual(['-n', '-c', '10', '-i', '0.02', '-W', '1', '-w', '2', '-s', '1000', '10.99.0.3']);
    expect(pingBudgetMs({ count: 10, intervalMs: 20, timeoutMs: 1000 })).toBe(1360);
    expect(pingArgs('10.99.0.3', { count: 160, intervalMs: 50, timeoutMs: 1000 })).toContain('17'); // 7.95 s of requests (+7.95 s), 1 s for the last reply
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
