import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataplaneApplyResult, Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { Service, closedTcpPort, httpGet, startWgmesh, waitFor } from '@wgmesh/testing';
import { loadDefinitions } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { API_DIR, describeGolden } from '@wgmesh/vpp-api/testing';

// `wgmesh dataplane` (VPP driver, against the VPP simulator) with its HTTP endpoint: ready with
// NATS and a readable device, apply metrics from a real apply request, not ready without NATS,
// and SIGTERM ending it with 0 (also while NATS is unreachable).
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';



describeGolden('wgmesh dataplane: /metrics, /health, /ready and SIGTERM (VPP simulator)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-dp-health-'));
  const socketPath = join(dir, 'api.sock');
  const mesh = `td${Math.random().toString(36).slice(2, 8)}`;
  let sim: VppSim;
  let bus: MeshBus;
  const started: Service[] = [];
  const dataplane = (node: string, nats: string) => {
    const s = startWgmesh([
      'dataplane', '--node', node, '--mesh', mesh, '--nats', nats, '--driver', 'vpp', '--device', 'wg0', '--create', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR,
      '--vpp-src-address', '10.10.0.1', '--private-key-file', join(dir, 'key'), '--listen-port', '51830', '--state-dir', dir, '--http-listen', '127.0.0.1:0',
    ]);
    started.push(s);
    return s;
  };
  const urlOf = async (s: Service) => `http://${JSON.parse(await s.waitForLine(/"msg":"HTTP endpoint listening"/)).listen}`;

  beforeAll(async () => {
    sim = await VppSim.start({ socketPath, definitions: loadDefinitions(API_DIR) });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'dataplane-health-test' });
  });

  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop('SIGKILL')));
    await bus?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready with NATS and the device, times and counts applies, stops with 0', async () => {
    const s = dataplane('dp-a', NATS);
    const url = await urlOf(s);
    await s.waitForLine(/"msg":"dataplane-programmer ready"/, 20_000);
    const ready = await httpGet(`${url}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body).checks).toEqual({
      nats: { ok: true, detail: `${NATS}: applies subscribed, state connected` },
      device: { ok: true, detail: 'wg0 (vpp): 0 peers, listen port 51830' },
    });

    const peer = { publicKey: keyToBase64(publicKeyFromPrivate(Buffer.alloc(32, 9))), endpoint: '198.51.100.9:51820', allowedIps: ['10.99.1.9/32'] };
    const apply = (peers: (typeof peer)[]) => bus.request(Patterns.dataplaneApply, { peers, replace: true }, (v) => v as DataplaneApplyResult, { node: 'dp-a', timeoutMs: 10_000 });
    expect((await apply([peer])).added).toBe(1);
    expect((await apply([peer])).unchanged).toBe(1);
    const metrics = await waitFor('the state event counted', async () => {
      const body = (await httpGet(`${url}/metrics`)).body;
      return /^wgmesh_peers_known\{component="dataplane"\} 1$/m.test(body) ? body : null;
    });
    expect(metrics).toContain('wgmesh_dataplane_applies_total{result="changed"} 1');
    expect(metrics).toContain('wgmesh_dataplane_applies_total{result="unchanged"} 1');
    expect(metrics).toContain('wgmesh_dataplane_apply_duration_seconds_count{driver="vpp"} 2');
    expect(metrics).toContain('wgmesh_requests_received_total{request="node.{node}.dataplane.apply"} 2');
    expect(metrics).toMatch(/^wgmesh_events_published_total\{event="node\.dataplane\.state"\} [1-9]/m);

    const t0 = Date.now();
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(s.lines.some((l) => l.includes('"msg":"shutting down; the device stays as it is"'))).toBe(true);
  }, 60_000);

  it('is live but not ready while NATS is unreachable, and stops with 0', async () => {
    const nats = `nats://127.0.0.1:${await closedTcpPort()}`;
    const s = dataplane('dp-b', nats);
    const url = await urlOf(s);
    await s.waitForLine(/"msg":"device ready"/, 20_000);
    const r = await waitFor('the device check', async () => {
      const res = await httpGet(`${url}/ready`);
      return JSON.parse(res.body).checks.device ? res : null;
    });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({
      status: 'not ready',
      checks: {
        nats: { ok: false, detail: `${nats}: applies connecting, state connecting` },
        device: { ok: true, detail: expect.stringMatching(/^wg0 \(vpp\): \d+ peers, listen port 51830$/) },
      },
    });
    expect((await httpGet(`${url}/health`)).status).toBe(200);
    const t0 = Date.now();
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
  }, 60_000);
});
