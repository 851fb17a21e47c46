import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataplaneApplyResult, Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { freePort, httpGet, metricSamples, Service, startWgmesh, waitFor } from '@wgmesh/testing';
import { loadDefinitions } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';
import { API_DIR, describeGolden } from '@wgmesh/vpp-api/testing';

// `wgmesh registry up` as one process (hub dataplane-programmer + peer-discovery registry +
// resolver, with --dns-workers 1; registry-dns-workers.int.spec.ts has the DNS workers) with one HTTP endpoint: /ready combines the three services' checks, /metrics shows
// each, the device becoming unreadable makes it not ready, SIGTERM ends it with 0. The hub device
// is a VPP interface in the VPP simulator (no root needed); NATS and Redis are the real ones.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';



describeGolden('wgmesh registry up: one HTTP endpoint for the process (VPP simulator, NATS, Redis)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-health-'));
  const socketPath = join(dir, 'api.sock');
  const mesh = `th${Math.random().toString(36).slice(2, 8)}`;
  const redis = new Redis(REDIS);
  let sim: VppSim | null = null;
  let registry: Service | null = null;
  let bus: MeshBus;

  beforeAll(async () => {
    sim = await VppSim.start({ socketPath, definitions: loadDefinitions(API_DIR) });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'registry-health-test' });
  });

  afterAll(async () => {
    await registry?.stop('SIGKILL');
    await bus?.close();
    await sim?.close();
    await new PeerStore(redis, mesh).clear();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('combines every service in /ready and /metrics, is not ready when the device is gone, and stops with 0', async () => {
    const dnsPort = await freePort();
    registry = startWgmesh([
      'registry', 'up', '--device', 'wg0', '--driver', 'vpp', '--create', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--vpp-src-address', '10.10.0.1',
      '--mesh-cidr', '10.99.0.0/24', '--zone', 'mesh.example.', '--dns-listen', `127.0.0.1:${dnsPort}`, '--dns-workers', '1', '--nats', NATS, '--redis', REDIS, '--mesh', mesh,
      '--state-dir', dir, '--watch-interval', '100', '--http-listen', '127.0.0.1:0',
    ]);
    const url = `http://${JSON.parse(await registry.waitForLine(/"msg":"HTTP endpoint listening"/)).listen}`;
    const up = JSON.parse(await registry.waitForLine(/"msg":"registry up"/, 30_000));
    expect(up.map).toBe(`${url}/map`);

    const ready = await waitFor('ready', async () => {
      const r = await httpGet(`${url}/ready`);
      return r.status === 200 ? JSON.parse(r.body) : null;
    }, 10_000, 50);
    expect(Object.keys(ready.checks)).toEqual([
      'dataplane.nats', 'dataplane.device',
      'peer-discovery.nats', 'peer-discovery.redis', 'peer-discovery.hub',
      'resolver.nats', 'resolver.index', 'resolver.dns',
    ]);
    expect(ready.checks['dataplane.device'].detail).toMatch(/^wg0 \(vpp\): 0 peers, listen port 51820$/);
    expect(ready.checks['peer-discovery.hub'].detail).toMatch(/^0 peers on wg0/);
    expect(ready.checks['resolver.dns']).toEqual({ ok: true, detail: `answering on 127.0.0.1:${dnsPort}` });
    expect((await httpGet(`${url}/health`)).status).toBe(200);
    // The mesh map, on the same endpoint: the hub as the registry knows it, the peer table loaded.
    const map = await waitFor('the map loaded', async () => {
      const r = await httpGet(`${url}/map/state`);
      return r.status === 200 && JSON.parse(r.body).status.ready ? JSON.parse(r.body) : null;
    }, 10_000, 50);
    expect(map).toMatchObject({ mesh, members: [], registry: { address: '10.99.0.1', device: 'wg0', driver: 'vpp' }, status: { ready: true, detail: 'live' } });
    expect((await httpGet(`${url}/map`)).body).toContain('<title>wgmesh · mesh map</title>');

    // A peer added to the hub through the dataplane-programmer: applied (counted and timed), seen
    // by the hub watcher, published, and consumed by the resolver, all in this one process.
    const peerKey = keyToBase64(publicKeyFromPrivate(Buffer.alloc(32, 7)));
    const result = await bus.request(Patterns.dataplaneApply, { replace: false, peers: [{ publicKey: peerKey, endpoint: '198.51.100.7:51820', allowedIps: ['10.99.0.7/32'] }] }, (v) => v as DataplaneApplyResult, { node: 'registry', timeoutMs: 10_000 });
    expect(result.added).toBe(1);
    const m = await waitFor('the peer everywhere', async () => {
      const s = metricSamples((await httpGet(`${url}/metrics`)).body);
      return s.get('wgmesh_peers_known{component="resolver"}') === 1 && s.get('wgmesh_peers_known{component="registry"}') === 1 && s.get('wgmesh_peers_known{component="dataplane"}') === 1 ? s : null;
    }, 10_000, 50);
    expect(m.get('wgmesh_dataplane_applies_total{result="changed"}')).toBe(1);
    expect(m.get('wgmesh_dataplane_apply_duration_seconds_count{driver="vpp"}')).toBe(1);
    expect(m.get('wgmesh_requests_received_total{request="node.{node}.dataplane.apply"}')).toBe(1);
    expect(m.get('wgmesh_events_published_total{event="peers.events"}')).toBe(1);
    expect(m.get('wgmesh_events_consumed_total{event="peers.events"}')).toBe(1);
    expect(m.get('wgmesh_peer_table_revision{component="resolver"}')).toBe(1);
    expect(m.get('wgmesh_hub_reads_total{result="ok"}')).toBeGreaterThan(1);
    expect(m.get('wgmesh_events_published_total{event="node.dataplane.state"}')).toBeGreaterThanOrEqual(1);
    await waitFor('the peer on the map', async () => JSON.parse((await httpGet(`${url}/map/state`)).body).members.length === 1, 10_000, 50);

    // The device goes away (VPP stops): not ready, saying why; still live.
    await sim!.close();
    sim = null;
    const down = await waitFor('not ready', async () => {
      const r = await httpGet(`${url}/ready`);
      return r.status === 503 ? JSON.parse(r.body) : null;
    }, 10_000, 100);
    expect(down.status).toBe('not ready');
    expect(down.checks['dataplane.device'].ok).toBe(false);
    expect(down.checks['resolver.index'].ok).toBe(true);
    expect((await httpGet(`${url}/health`)).status).toBe(200);

    const started = Date.now();
    expect(await registry.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 90_000);

  it('does not start with the map beyond loopback and no token: exit 2, naming the ways out', async () => {
    const refused = startWgmesh([
      'registry', 'up', '--device', 'wg0', '--driver', 'vpp', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--mesh-cidr', '10.99.0.0/24', '--zone', 'mesh.example.',
      '--nats', NATS, '--redis', REDIS, '--mesh', mesh, '--state-dir', dir, '--http-listen', '0.0.0.0:0',
    ]);
    await waitFor('registry up to exit', () => refused.proc.exitCode !== null, 20_000, 50);
    expect(refused.proc.exitCode).toBe(2);
    expect(refused.lines.join('\n')).toContain('--http-listen 0.0.0.0:0 is beyond loopback, and the mesh map there needs a bearer token: give --map-token-file <file> (WGMESH_MAP_TOKEN_FILE), or --map off');
  }, 30_000);
});
