import { DnsperfParseError, dnsperfArgs, dnsperfCommand, LatencyCollector, parseDnsperfSummary, percentile } from './dnsperf';

// Captured from dnsperf 2.10.0 (Debian 12) against knotd on 127.0.0.1.
const THROUGHPUT_RUN = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q.txt -l 3 -c 8 -q 200 -T 1
[Status] Sending queries (to 127.0.0.1:15353)
[Status] Started at: Wed Nov 25 02:28:33 2026
[Status] Stopping after 3.000000 seconds
[Timeout] Query timed out: msg id 52988
[Timeout] Query timed out: msg id 52989
[Timeout] Query timed out: msg id 52990
[Timeout] Query timed out: msg id 52991
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         390841
  Queries completed:    390837 (100.00%)
  Queries lost:         4 (0.00%)

  Response codes:       NOERROR 260558 (66.67%), NXDOMAIN 130279 (33.33%)
  Average packet size:  request 44, response 90
  Run time (s):         3.000550
  Queries per second:   130255.119895

  Average Latency (s):  0.000744 (min 0.000013, max 0.011143)
  Latency StdDev (s):   0.000692
`;

const VERBOSE_RUN = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q.txt -n 2 -v
[Status] Sending queries (to 127.0.0.1:15353)
[Status] Started at: Wed Nov 25 02:28:33 2026
[Status] Stopping after 2 runs through file
> NOERROR abc=._wireguard._udp.mesh.example. SRV 0.000159
> NOERROR _wireguard._udp.mesh.example. PTR 0.000107
> NXDOMAIN nope.mesh.example. A 0.000043
> NOERROR abc=._wireguard._udp.mesh.example. SRV 0.000056
> NOERROR _wireguard._udp.mesh.example. PTR 0.000171
> NXDOMAIN nope.mesh.example. A 0.000098
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         6
  Queries completed:    6 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 4 (66.67%), NXDOMAIN 2 (33.33%)
  Average packet size:  request 44, response 90
  Run time (s):         0.001649
  Queries per second:   3638.568830

  Average Latency (s):  0.000105 (min 0.000043, max 0.000171)
  Latency StdDev (s):   0.000052
`;

// Nothing listening: every query lost, no response codes, no StdDev line.
const ALL_LOST = `[Status] Stopping after 1 run through file
> T a.example. A
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         1
  Queries completed:    0 (0.00%)
  Queries lost:         1 (100.00%)

  Response codes:       
  Average packet size:  request 27, response 0
  Run time (s):         0.001682
  Queries per second:   0.000000

  Average Latency (s):  0.000000 (min 0.000000, max 0.000000)
`;

describe('parseDnsperfSummary', () => {
  it('reads a throughput run', () => {
    const s = parseDnsperfSummary(THROUGHPUT_RUN);
    expect(s).toEqual({
      sent: 390841,
      completed: 390837,
      lost: 4,
      lostPct: (100 * 4) / 390841,
      rcodes: { NOERROR: 260558, NXDOMAIN: 130279 },
      avgRequestBytes: 44,
      avgResponseBytes: 90,
      runTimeSec: 3.00055,
      qps: 130255.119895,
      avgLatencyMs: expect.closeTo(0.744, 6),
      minLatencyMs: expect.closeTo(0.013, 6),
      maxLatencyMs: expect.closeTo(11.143, 6),
      stddevLatencyMs: expect.closeTo(0.692, 6),
    });
  });

  it('reads a run that got no answers', () => {
    const s = parseDnsperfSummary(ALL_LOST);
    expect(s).toMatchObject({ sent: 1, completed: 0, lost: 1, lostPct: 100, rcodes: {}, qps: 0 });
    expect(s.stddevLatencyMs).toBeUndefined();
  });

  it('reads the statistics of a verbose run', () => {
    expect(parseDnsperfSummary(VERBOSE_RUN)).toMatchObject({ sent: 6, rcodes: { NOERROR: 4, NXDOMAIN: 2 }, qps: 3638.56883 });
  });

  it('names what is missing', () => {
    expect(() => parseDnsperfSummary('dnsperf: invalid option')).toThrow(DnsperfParseError);
    expect(() => parseDnsperfSummary(THROUGHPUT_RUN.replace(/ {2}Queries per second:.*\n/, ''))).toThrow(/Queries per second/);
    expect(() => parseDnsperfSummary(THROUGHPUT_RUN.replace('NOERROR 260558 (66.67%)', 'garbage'))).toThrow(/response code/);
  });
});

describe('LatencyCollector', () => {
  it('takes the latency of answered queries and counts timeouts', () => {
    const c = new LatencyCollector();
    for (const line of [...VERBOSE_RUN.split('\n'), '> T x.mesh.example. SRV']) c.add(line);
    expect(c.count).toBe(6);
    expect(c.timedOut).toBe(1);
    const [p50, p99] = c.percentilesMs([50, 99]);
    // sorted: 0.043 0.056 0.098 0.107 0.159 0.171 ms
    expect(p50).toBeCloseTo(0.098, 6);
    expect(p99).toBeCloseTo(0.171, 6);
  });

  it('keeps a name holding "=" (base32 padding) in one field', () => {
    const c = new LatencyCollector();
    c.add('> NOERROR mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpiaaaaaaaaaaa====._wireguard._udp.mesh.example. SRV 0.000250');
    expect(c.percentilesMs([50])).toEqual([0.25]);
  });
});

describe('percentile', () => {
  it('uses nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('dnsperfArgs', () => {
  it('spells the load and adds -v only for the latency run', () => {
    const run = { host: '127.0.0.1', port: 5353, queryFile: '/tmp/q.txt', duration: 10, load: { clients: 8, threads: 1, outstanding: 200, timeout: 2 } };
    expect(dnsperfArgs(run).join(' ')).toBe('-s 127.0.0.1 -p 5353 -d /tmp/q.txt -l 10 -c 8 -T 1 -q 200 -t 2');
    expect(dnsperfArgs({ ...run, verbose: true }).at(-1)).toBe('-v');
  });
});

describe('dnsperfCommand', () => {
  const run = { host: '10.255.0.1', port: 53, queryFile: '/tmp/q.txt', duration: 5, load: { clients: 8, threads: 1, outstanding: 200, timeout: 2 } };
  it('runs dnsperf itself, or in the server\'s network namespace', () => {
    expect(dnsperfCommand(run)).toEqual({ command: 'dnsperf', args: dnsperfArgs(run) });
    expect(dnsperfCommand({ ...run, netns: 'wgdn0a1b2c' }, '/usr/bin/dnsperf')).toEqual({ command: 'ip', args: ['netns', 'exec', 'wgdn0a1b2c', '/usr/bin/dnsperf', ...dnsperfArgs(run)] });
  });
});
