import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataplaneApplyRequest } from '@wgmesh/contracts';
import { Readiness } from '@wgmesh/health';
import { Enrollment, nodeKey, writeEnrollment } from '@wgmesh/peer-discovery';
import { PeerStore } from '@wgmesh/peer-store';
import { metricsRegistry } from '@wgmesh/telemetry';
import { closedTcpPort, httpGet, startWgmesh, waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { FakeDriver, key, memoryLogger } from '@wgmesh/peer-discovery/testing';

// peer-discovery's readiness and metrics: both modes in this process against the real NATS and
// Redis (the registry's hub device is in memory, the member's programmer a recorder), then the
// `wgmesh peer-discovery` process not ready (NATS or Redis unreachable) and stopping with 0.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const HUB = key(700);



/** One sample's value from this process's registry. */
async function sample(series: string): Promise<number | undefined> {
  const line = (await metricsRegistry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('peer-discovery readiness and metrics', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-pd-health-'));
  const driver = new FakeDriver('wgfake0', HUB);
  const { log } = memoryLogger();
  const applies: DataplaneApplyRequest[] = [];
  let registry: RunningPeerDiscovery | null = null;
  let member: RunningPeerDiscovery | null = null;

  afterAll(async () => {
    await member?.close();
    await registry?.close();
    await new PeerStore(redis, mesh).clear();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registry mode: ready once NATS and Redis are connected and the hub was read; counts reads and events', async () => {
    driver.set({ publicKey: key(1), allowedIps: ['10.99.0.10/32'], endpoint: '198.51.100.1:40001' });
    driver.set({ publicKey: key(2), allowedIps: ['10.99.0.11/32'], endpoint: '198.51.100.2:40002' });
    const readiness = new Readiness();
    const config = parsePeerDiscoveryArgs(['--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgfake0', '--watch-interval', '50'])!;
    registry = await startPeerDiscovery(config, log, { driver, readiness });
    const report = await waitFor('ready', async () => {
      const r = await readiness.evaluate();
      return r.ready ? r : null;
    });
    expect(report.checks).toEqual({
      nats: { ok: true, detail: `${NATS}: bus connected, server subscribed` },
      redis: { ok: true, detail: `connected (${REDIS})` },
      hub: { ok: true, detail: expect.stringMatching(/^2 peers on wgfake0 \(read \d+ times\)$/) },
    });
    expect(await sample('wgmesh_peers_known{component="registry"}')).toBe(2);
    expect(await sample('wgmesh_events_published_total{event="peers.events"}')).toBe(2);
    expect(await sample('wgmesh_hub_reads_total{result="ok"}')).toBeGreaterThanOrEqual(1);

    driver.failReads = true;
    await waitFor('a failed read counted', async () => ((await sample('wgmesh_errors_total{kind="hub_read"}')) ?? 0) >= 1);
    expect(await sample('wgmesh_hub_reads_total{result="failed"}')).toBe(await sample('wgmesh_errors_total{kind="hub_read"}'));
    expect((await readiness.evaluate()).ready).toBe(true); // the first read is done: stays ready, fail-static
    driver.failReads = false;
  });

  it('member mode: ready once enrolled, connected and the peer table is loaded; counts applies', async () => {
    const readiness = new Readiness();
    const enrollment: Enrollment = {
      version: 1, name: 'site-h', publicKey: key(1), enrolledAt: new Date().toISOString(), address: '10.99.0.10/32', meshCidr: '10.99.0.0/24',
      registry: { publicKey: HUB, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
    };
    const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS, '--state-dir', dir, '--apply-delay', '0'])!;
    member = await startPeerDiscovery(config, log, {
      enrollment,
      readiness: readiness.scoped('peer-discovery'),
      apply: async (req) => void applies.push(req),
    });
    const report = await waitFor('ready', async () => {
      const r = await readiness.evaluate();
      return r.ready ? r : null;
    });
    expect(report.checks).toEqual({
      'peer-discovery.enrolment': { ok: true, detail: 'site-h, 10.99.0.10/32' },
      'peer-discovery.nats': { ok: true, detail: `${NATS}: bus connected, server subscribed` },
      'peer-discovery.peers': { ok: true, detail: 'revision 2, 2 peers' },
    });
    await waitFor('an apply', () => applies.length > 0);
    expect(applies.at(-1)!.peers.map((p) => p.publicKey)).toEqual([key(2)]); // itself and the registry are not direct peers
    expect(await sample('wgmesh_peers_known{component="member"}')).toBe(2);
    expect(await sample('wgmesh_peer_table_revision{component="member"}')).toBe(2);
    expect(await sample('wgmesh_member_applies_total{result="applied"}')).toBe(applies.length);

    await member.close();
    member = null;
    // Closed: its checks and its gauges are gone, its counters stay.
    expect(Object.keys((await readiness.evaluate()).checks)).toEqual(['startup']);
    expect(await sample('wgmesh_peers_known{component="member"}')).toBeUndefined();
    expect(await sample('wgmesh_member_applies_total{result="applied"}')).toBe(applies.length);
  });

  it('the member process: live, not ready while NATS is unreachable, exits 0 on SIGTERM', async () => {
    const stateDir = join(dir, 'member');
    const k = nodeKey(stateDir);
    writeEnrollment(stateDir, {
      version: 1, name: 'site-x', publicKey: k.publicKey, enrolledAt: new Date().toISOString(), address: '10.99.0.20/32', meshCidr: '10.99.0.0/24',
      registry: { publicKey: HUB, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
    });
    const nats = `nats://127.0.0.1:${await closedTcpPort()}`;
    const s = startWgmesh(['peer-discovery', '--mode', 'member', '--mesh', mesh, '--nats', nats, '--state-dir', stateDir, '--http-listen', '127.0.0.1:0']);
    try {
      const url = `http://${JSON.parse(await s.waitForLine(/"msg":"HTTP endpoint listening"/)).listen}`;
      await s.waitForLine(/"msg":"peer-discovery \(member\) started"/);
      expect((await httpGet(`${url}/health`)).status).toBe(200);
      const r = await httpGet(`${url}/ready`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({
        status: 'not ready',
        checks: {
          enrolment: { ok: true, detail: 'site-x, 10.99.0.20/32' },
          nats: { ok: false, detail: `${nats}: bus connecting, server connecting` },
          peers: { ok: false, detail: 'loading the peer table (peers.snapshot)' },
        },
      });
      const started = Date.now();
      expect(await s.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await s.stop('SIGKILL');
    }
  });

  it('the registry process: not ready while the hub device cannot be read, exits 0 on SIGTERM while starting', async () => {
    const s = startWgmesh(['peer-discovery', '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgnone9', '--driver', 'uapi', '--http-listen', '127.0.0.1:0']);
    try {
      const url = `http://${JSON.parse(await s.waitForLine(/"msg":"HTTP endpoint listening"/)).listen}`;
      await s.waitForLine(/"msg":"cannot read the hub device; the peer table stays as it is"/);
      // Redis connects on its own schedule (the first device read may fail before it has, under load).
      const { r, body } = await waitFor('Redis connected', async () => {
        const res = await httpGet(`${url}/ready`);
        const parsed = JSON.parse(res.body);
        return parsed.checks.redis?.ok ? { r: res, body: parsed } : null;
      }, 10_000, 100);
      expect(r.status).toBe(503);
      expect(body.checks.redis).toEqual({ ok: true, detail: `connected (${REDIS})` });
      expect(body.checks.hub).toEqual({ ok: false, detail: expect.stringMatching(/^waiting for the first read of wgnone9 and the reconciliation with Redis \(\d+ failed reads\)$/) });
      expect((await httpGet(`${url}/health`)).status).toBe(200);
      const metrics = (await httpGet(`${url}/metrics`)).body;
      expect(metrics).toMatch(/^wgmesh_errors_total\{kind="hub_read"\} [1-9]/m);
      const started = Date.now();
      expect(await s.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await s.stop('SIGKILL');
    }
  });
});
