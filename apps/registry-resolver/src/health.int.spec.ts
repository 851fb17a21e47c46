import { createSocket } from 'node:dgram';
import { Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { PeerPublisher } from '@wgmesh/registry';
import { dig, encodeQuery, freePort, httpGet, metricSamples, Service, startWgmesh, tcpExchange, udpExchange, waitFor } from '@wgmesh/testing';
import { keyToBase32 } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';

// The resolver process's HTTP endpoint against the real NATS and Redis: /health, /ready (ready,
// and not ready with NATS or Redis unreachable), /metrics moved by real DNS queries, and SIGTERM
// ending the process with status 0 quickly, also while it is still starting.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ZONE = 'mesh.example.';
const mesh = `t${process.pid}h${Date.now() % 100000}`;
const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const nameOf = (n: number) => `${keyToBase32(Buffer.alloc(32, n))}._wireguard._udp.${ZONE}`;
/** SIGTERM → exit: well under the few seconds an orchestrator waits before SIGKILL. */
const STOP_BOUND_MS = 3000;



/** The HTTP endpoint's base URL, from the service's "HTTP endpoint listening" log line. */
async function httpUrl(s: Service): Promise<string> {
  const line = JSON.parse(await s.waitForLine(/"msg":"HTTP endpoint listening"/));
  return `http://${line.listen}`;
}

async function stopWithin(s: Service, boundMs: number): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await s.stop('SIGTERM');
  return { code, ms: Date.now() - started };
}

/** A raw DNS header (+ body): id 7, the given flags byte, counts. */
function header(flags2: number, qd: number, ar = 0): Buffer {
  return Buffer.from([0, 7, flags2, 0, 0, qd, 0, 0, 0, 0, 0, ar]);
}
const question = (name: string, type: number) => {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])]);
};

describe('registry-resolver HTTP endpoint: metrics, health, readiness, shutdown (process)', () => {
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  let bus: MeshBus;
  let publisher: PeerPublisher;
  const started: Service[] = [];
  const resolver = (args: string[]) => {
    const s = startWgmesh(['resolver', '--zone', ZONE, '--mesh', mesh, '--http-listen', '127.0.0.1:0', ...args]);
    started.push(s);
    return s;
  };

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'resolver-health-test' });
    publisher = new PeerPublisher(store, (e) => bus.publish(Patterns.peerEvents, e));
    await publisher.upsert({ publicKey: key(1), allowedIps: ['10.99.0.2/32'], endpoint: '198.51.100.1:51820' });
    await publisher.upsert({ publicKey: key(2), allowedIps: ['10.99.0.3/32'], endpoint: '198.51.100.2:51820' });
  });

  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop('SIGKILL')));
    await bus?.close();
    await store.clear();
    redis.disconnect();
  });

  it('is live and ready, counts every DNS query by transport, type and rcode, and stops with 0 on SIGTERM', async () => {
    const server = { host: '127.0.0.1', port: await freePort() };
    const s = resolver(['--listen', `127.0.0.1:${server.port}`, '--nats', NATS, '--redis', REDIS]);
    const url = await httpUrl(s);
    await s.waitForLine(/"msg":"subscribed to peer events"/);

    const health = await httpGet(`${url}/health`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    const ready = await waitFor('ready', async () => {
      const r = await httpGet(`${url}/ready`);
      return r.status === 200 ? r : null;
    });
    expect(JSON.parse(ready.body)).toEqual({
      status: 'ready',
      checks: {
        nats: { ok: true, detail: `subscribed to peer events on ${NATS}` },
        index: { ok: true, detail: 'revision 2, 2 peers' },
        dns: { ok: true, detail: `answering on 127.0.0.1:${server.port}` },
      },
    });

    const before = await httpGet(`${url}/metrics`);
    expect(before.body).toContain('# TYPE wgmesh_dns_queries_total counter');
    expect(metricSamples(before.body, 'wgmesh_dns_queries_total').size).toBe(0);
    expect(metricSamples(before.body, 'wgmesh_peers_known').get('wgmesh_peers_known{component="resolver"}')).toBe(2);

    // Real queries: dig for the usual ones, raw packets for the malformed and unusual.
    for (let i = 0; i < 3; i++) expect((await dig(server, `_wireguard._udp.${ZONE}`, 'PTR')).status).toBe('NOERROR');
    expect((await dig(server, nameOf(1), 'SRV', ['+tcp'])).status).toBe('NOERROR');
    expect((await dig(server, nameOf(1), 'SRV')).status).toBe('NOERROR');
    expect((await dig(server, `nobody._wireguard._udp.${ZONE}`, 'A')).status).toBe('NXDOMAIN');
    expect((await dig(server, 'example.org.', 'TXT')).status).toBe('REFUSED');
    expect((await dig(server, `_wireguard._udp.${ZONE}`, 'TYPE99')).status).toBe('NOERROR'); // NODATA, type "other"
    const q = question(`_wireguard._udp.${ZONE}`, 12);
    const rcodeOf = (b: Buffer | null) => b![3] & 0x0f;
    expect(rcodeOf(await udpExchange(server, Buffer.concat([header(0x10, 1), q])))).toBe(4); // opcode STATUS: NOTIMP
    expect(rcodeOf(await udpExchange(server, header(0, 0)))).toBe(1); // no question: FORMERR
    const badvers = await udpExchange(server, Buffer.concat([header(0, 1, 1), q, Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 1, 0, 0, 0, 0])]));
    expect(badvers!.readUInt8(badvers!.length - 6)).toBe(1); // OPT extended rcode 1: BADVERS (16)
    const [tcpPtr] = await tcpExchange(server, [encodeQuery(`_wireguard._udp.${ZONE}`, 'PTR', 9)]);
    expect(rcodeOf(tcpPtr)).toBe(0);
    // Dropped: shorter than a header, and a response (QR set); no answer comes back.
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.send(Buffer.from([1, 2, 3]), server.port, server.host, () => r()));
    await new Promise<void>((r) => sock.send(Buffer.concat([header(0x80, 1), q]), server.port, server.host, () => r()));
    sock.close();

    const expected = new Map([
      ['wgmesh_dns_queries_total{transport="udp",qtype="PTR",rcode="NOERROR"}', 3],
      ['wgmesh_dns_queries_total{transport="tcp",qtype="SRV",rcode="NOERROR"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="SRV",rcode="NOERROR"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="A",rcode="NXDOMAIN"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="TXT",rcode="REFUSED"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="other",rcode="NOERROR"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="PTR",rcode="NOTIMP"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="none",rcode="FORMERR"}', 1],
      ['wgmesh_dns_queries_total{transport="udp",qtype="PTR",rcode="BADVERS"}', 1],
      ['wgmesh_dns_queries_total{transport="tcp",qtype="PTR",rcode="NOERROR"}', 1],
    ]);
    const text = await waitFor('the dropped packets counted', async () => {
      const body = (await httpGet(`${url}/metrics`)).body;
      return metricSamples(body, 'wgmesh_dns_dropped_total').get('wgmesh_dns_dropped_total{transport="udp"}') === 2 ? body : null;
    });
    expect(metricSamples(text, 'wgmesh_dns_queries_total')).toEqual(expected);
    expect(metricSamples(text, 'wgmesh_dns_dropped_total')).toEqual(new Map([['wgmesh_dns_dropped_total{transport="udp"}', 2]]));
    // The latency histogram saw exactly the answered queries, per transport, in cumulative buckets.
    const hist = metricSamples(text, 'wgmesh_dns_query_duration_seconds');
    expect(hist.get('wgmesh_dns_query_duration_seconds_count{transport="udp"}')).toBe(10);
    expect(hist.get('wgmesh_dns_query_duration_seconds_count{transport="tcp"}')).toBe(2);
    expect(hist.get('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="+Inf"}')).toBe(10);
    const udpBuckets = [...hist].filter(([k]) => k.startsWith('wgmesh_dns_query_duration_seconds_bucket{transport="udp"')).map(([, v]) => v);
    expect(udpBuckets).toEqual([...udpBuckets].sort((a, b) => a - b));
    const sum = hist.get('wgmesh_dns_query_duration_seconds_sum{transport="udp"}')!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(1); // microseconds to milliseconds each
    expect(metricSamples(text, 'wgmesh_dns_cache_lookups_total').get('wgmesh_dns_cache_lookups_total{result="hit"}')).toBeGreaterThanOrEqual(2);

    // An event moves the consumed counter and the index size.
    await publisher.upsert({ publicKey: key(3), allowedIps: ['10.99.0.4/32'], endpoint: '198.51.100.3:51820' });
    await waitFor('the event in the metrics', async () => {
      const m = metricSamples((await httpGet(`${url}/metrics`)).body, 'wgmesh_');
      return m.get('wgmesh_events_consumed_total{event="peers.events"}') === 1 && m.get('wgmesh_peers_known{component="resolver"}') === 3 && m.get('wgmesh_peer_table_revision{component="resolver"}') === 3;
    });

    // A bad event is refused where it arrives (the transport, against the contract) and moves
    // invalid_event; the table stays as it was.
    const invalid = () => metricSamples(text, 'wgmesh_errors_total').get('wgmesh_errors_total{kind="invalid_event"}');
    expect(invalid()).toBe(0);
    bus.publish(Patterns.peerEvents, { type: 'upsert', revision: 4, peer: { publicKey: 'not a key', allowedIps: ['10.99.0.5/32'] } });
    await waitFor('the refused event in the metrics', async () => {
      const m = metricSamples((await httpGet(`${url}/metrics`)).body, 'wgmesh_');
      return m.get('wgmesh_errors_total{kind="invalid_event"}') === 1;
    });
    const after = metricSamples((await httpGet(`${url}/metrics`)).body, 'wgmesh_');
    expect(after.get('wgmesh_peers_known{component="resolver"}')).toBe(3);
    expect(after.get('wgmesh_peer_table_revision{component="resolver"}')).toBe(3);

    const stop = await stopWithin(s, STOP_BOUND_MS);
    expect(stop.code).toBe(0);
    expect(stop.ms).toBeLessThan(STOP_BOUND_MS);
    expect(s.lines.some((l) => l.includes('"msg":"shutting down"') && l.includes('SIGTERM'))).toBe(true);
  }, 60_000);

  it('is live but not ready while NATS is unreachable (answering DNS from Redis), and stops with 0', async () => {
    const server = { host: '127.0.0.1', port: await freePort() };
    const s = resolver(['--listen', `127.0.0.1:${server.port}`, '--nats', `nats://127.0.0.1:${await freePort()}`, '--redis', REDIS]);
    const url = await httpUrl(s);
    await s.waitForLine(/"msg":"resolver ready"/);
    expect((await httpGet(`${url}/health`)).status).toBe(200);
    const r = await httpGet(`${url}/ready`);
    expect(r.status).toBe(503);
    const body = JSON.parse(r.body);
    expect(body.status).toBe('not ready');
    expect(body.checks.nats.ok).toBe(false);
    expect(body.checks.nats.detail).toMatch(/^connecting to nats:\/\/127\.0\.0\.1:\d+$/);
    expect(body.checks.index).toEqual({ ok: true, detail: 'revision 3, 3 peers' });
    expect(body.checks.dns.ok).toBe(true);
    expect((await dig(server, nameOf(1), 'SRV')).answer).toHaveLength(1);

    const stop = await stopWithin(s, STOP_BOUND_MS);
    expect(stop).toMatchObject({ code: 0 });
    expect(stop.ms).toBeLessThan(STOP_BOUND_MS);
  }, 30_000);

  it('is live but not ready while Redis is unreachable (no table, no DNS), and stops with 0 while starting', async () => {
    const s = resolver(['--listen', `127.0.0.1:${await freePort()}`, '--nats', NATS, '--redis', `redis://127.0.0.1:${await freePort()}`]);
    const url = await httpUrl(s);
    expect((await httpGet(`${url}/health`)).status).toBe(200);
    const body = await waitFor('a failed load to show', async () => {
      const r = await httpGet(`${url}/ready`);
      const b = JSON.parse(r.body);
      return r.status === 503 && /failed attempts/.test(b.checks.index.detail) ? b : null;
    }, 10_000, 100);
    expect(body.checks.index.ok).toBe(false);
    expect(body.checks.dns).toEqual({ ok: false, detail: 'not answering yet (waiting for the peer table)' });
    const metrics = metricSamples((await httpGet(`${url}/metrics`)).body, 'wgmesh_errors_total');
    expect(metrics.get('wgmesh_errors_total{kind="peer_table_load"}')).toBeGreaterThanOrEqual(1);

    const stop = await stopWithin(s, STOP_BOUND_MS);
    expect(stop).toMatchObject({ code: 0 });
    expect(stop.ms).toBeLessThan(STOP_BOUND_MS);
  }, 30_000);

  it('as two workers: one endpoint, ready when both workers are, metrics summed over them', async () => {
    const server = { host: '127.0.0.1', port: await freePort() };
    const s = resolver(['--listen', `127.0.0.1:${server.port}`, '--nats', NATS, '--redis', REDIS, '--workers', '2']);
    const url = await httpUrl(s);
    await waitFor('two ready workers', () => s.lines.filter((l) => l.includes('"msg":"resolver ready"')).length === 2, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; output:\n${s.lines.join('\n')}`);
    });
    const ready = await waitFor('ready', async () => {
      const r = await httpGet(`${url}/ready`);
      return r.status === 200 ? JSON.parse(r.body) : null;
    }, 15_000, 50);
    expect(ready.checks).toEqual({ workers: { ok: true, detail: '2 of 2 workers ready' } });
    const n = 8;
    for (let i = 0; i < n; i++) expect((await dig(server, nameOf(2), 'SRV')).answer).toHaveLength(1);
    const m = metricSamples((await httpGet(`${url}/metrics`)).body, 'wgmesh_');
    expect(m.get('wgmesh_dns_queries_total{transport="udp",qtype="SRV",rcode="NOERROR"}')).toBe(n);
    expect(m.get('wgmesh_dns_query_duration_seconds_count{transport="udp"}')).toBe(n);
    expect(m.get('wgmesh_peers_known{component="resolver"}')).toBe(3); // each worker's copy: the largest

    const stop = await stopWithin(s, 5000);
    expect(stop.code).toBe(0);
  }, 60_000);
});
