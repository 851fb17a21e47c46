import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { DataplaneApplyResult, Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { encodeQuery, freePort, httpGet, metricSamples, Service, startWgmesh, udpExchange, waitFor } from '@wgmesh/testing';
import { loadDefinitions } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { keyToBase32, keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';
import { API_DIR, describeGolden } from '@wgmesh/vpp-api/testing';

// `wgmesh registry up --dns-workers 2`: DNS-SD answered by two worker processes beside the hub
// watcher. Each worker answers on its own (the other killed), a dead worker is restarted and
// answers from the peer table, a peer added on the hub reaches every worker, /ready and /metrics
// cover the workers, and SIGTERM ends the role with every worker. The hub device is a VPP
// interface in the VPP simulator (no root needed); NATS and Redis are the real ones.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ZONE = 'mesh.example.';

/** The PIDs of a process's children (its DNS workers). */
function children(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

describeGolden('wgmesh registry up --dns-workers 2 (VPP simulator, NATS, Redis)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-dns-workers-'));
  const socketPath = join(dir, 'api.sock');
  const mesh = `tw${Math.random().toString(36).slice(2, 8)}`;
  const redis = new Redis(REDIS);
  let sim: VppSim | null = null;
  let registry: Service | null = null;
  let bus: MeshBus;
  let workerPids: number[] = [];

  beforeAll(async () => {
    sim = await VppSim.start({ socketPath, definitions: loadDefinitions(API_DIR) });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'registry-dns-workers-test' });
  });

  afterAll(async () => {
    const pid = registry?.proc.pid;
    const left = pid ? children(pid) : [];
    await registry?.stop('SIGKILL');
    for (const p of [...left, ...workerPids]) if (alive(p)) process.kill(p, 'SIGKILL');
    await bus?.close();
    await sim?.close();
    await new PeerStore(redis, mesh).clear();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from each worker, restarts a dead one, and stops them all', async () => {
    const dnsPort = await freePort();
    const server = { host: '127.0.0.1', port: dnsPort };
    registry = startWgmesh([
      'registry', 'up', '--device', 'wg0', '--driver', 'vpp', '--create', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--vpp-src-address', '10.10.0.1',
      '--mesh-cidr', '10.99.0.0/24', '--zone', ZONE, '--dns-listen', `127.0.0.1:${dnsPort}`, '--dns-workers', '2', '--nats', NATS, '--redis', REDIS, '--mesh', mesh,
      '--state-dir', dir, '--watch-interval', '100', '--http-listen', '127.0.0.1:0', '--map', 'off',
    ]);
    const url = `http://${JSON.parse(await registry.waitForLine(/"msg":"HTTP endpoint listening"/)).listen}`;
    const up = JSON.parse(await registry.waitForLine(/"msg":"registry up"/, 60_000));
    expect(up).toMatchObject({ dns: `127.0.0.1:${dnsPort}`, dnsWorkers: 2 });
    const readyLines = () => registry!.lines.filter((l) => l.includes('"msg":"resolver ready"')).map((l) => JSON.parse(l) as { worker?: number });
    expect(readyLines().map((l) => l.worker).sort()).toEqual([1, 2]);
    workerPids = children(registry.proc.pid!);
    expect(workerPids).toHaveLength(2);

    const ready = await waitFor('ready', async () => {
      const r = await httpGet(`${url}/ready`);
      return r.status === 200 ? JSON.parse(r.body) : null;
    }, 20_000, 100);
    expect(ready.checks['resolver.workers']).toEqual({ ok: true, detail: '2 of 2 workers ready' });
    expect(Object.keys(ready.checks)).not.toContain('resolver.dns'); // no resolver in the primary

    // A peer added on the hub: the hub watcher publishes it, every worker takes it from NATS.
    const peerKey = publicKeyFromPrivate(Buffer.alloc(32, 9));
    const result = await bus.request(Patterns.dataplaneApply, { replace: false, peers: [{ publicKey: keyToBase64(peerKey), endpoint: '198.51.100.9:41000', allowedIps: ['10.99.0.9/32'] }] }, (v) => v as DataplaneApplyResult, { node: 'registry', timeoutMs: 10_000 });
    expect(result.added).toBe(1);
    const name = `${keyToBase32(peerKey)}._wireguard._udp.${ZONE}`;
    /** SRV answers' ports for `count` queries (null: no answer). */
    const ask = async (count: number) => {
      const ports: (number | null)[] = [];
      for (let i = 0; i < count; i++) {
        const reply = await udpExchange(server, encodeQuery(name, 'SRV', i + 1));
        const srv = reply ? dnsPacket.decode(reply).answers?.find((a) => a.type === 'SRV') : undefined;
        ports.push(srv && srv.type === 'SRV' ? srv.data.port : null);
      }
      return ports;
    };
    const all = (ports: (number | null)[]) => ports.every((p) => p === 41000);
    // Both workers have it (queries land on either: 40 in a row all answer it).
    await waitFor('the new peer in DNS-SD', async () => all(await ask(40)), 20_000, 100);

    // One worker killed: the other answers alone; the supervisor starts another, which loads the table.
    process.kill(workerPids[0], 'SIGKILL');
    await waitFor('worker gone', () => !alive(workerPids[0]), 5000, 20);
    expect(all(await ask(20))).toBe(true);
    await waitFor('a third "resolver ready"', () => readyLines().length === 3, 30_000, 100);
    // The first survivor killed too: now only the restarted worker answers, with the peer.
    process.kill(workerPids[1], 'SIGKILL');
    await waitFor('worker gone', () => !alive(workerPids[1]), 5000, 20);
    expect(all(await ask(20))).toBe(true);
    await waitFor('a fourth "resolver ready"', () => readyLines().length === 4, 30_000, 100);

    // /metrics: the primary's services and the workers' DNS counters (summed).
    const m = metricSamples((await httpGet(`${url}/metrics`)).body);
    expect(m.get('wgmesh_hub_reads_total{result="ok"}')).toBeGreaterThan(1);
    expect(m.get('wgmesh_dns_queries_total{transport="udp",qtype="SRV",rcode="NOERROR"}')).toBeGreaterThanOrEqual(20);

    const now = children(registry.proc.pid!);
    expect(now).toHaveLength(2);
    expect(await registry.stop('SIGTERM')).toBe(0);
    expect(now.filter(alive)).toEqual([]);
  }, 180_000);

  it('fails to start, naming the DNS address, when the workers cannot bind it; leaves no worker behind', async () => {
    const failing = startWgmesh([
      'registry', 'up', '--device', 'wg1', '--driver', 'vpp', '--create', '--vpp-socket', socketPath, '--vpp-api-dir', API_DIR, '--vpp-src-address', '10.10.0.1',
      '--mesh-cidr', '10.99.0.0/24', '--zone', ZONE, '--dns-listen', '192.0.2.77:5399', '--dns-workers', '2', '--nats', NATS, '--redis', REDIS, '--mesh', mesh,
      '--state-dir', dir, '--http-listen', 'off', '--map', 'off',
    ]);
    await waitFor('registry up to exit', () => failing.proc.exitCode !== null, 60_000, 100);
    expect(failing.proc.exitCode).toBe(1);
    expect(failing.lines.join('\n')).toMatch(/cannot serve DNS-SD on 192\.0\.2\.77:5399: DNS worker \d+ exited before answering DNS/);
    expect(failing.lines.join('\n')).not.toContain('"msg":"registry up"');
    // No worker of it left (a worker runs the same command line).
    const ours = () =>
      readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (() => {
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          return cmd.includes('192.0.2.77:5399') && cmd.includes(mesh);
        } catch (err) {
          if (['ENOENT', 'ESRCH'].includes((err as NodeJS.ErrnoException).code ?? '')) return false; // gone meanwhile
          throw err;
        }
      })());
    await waitFor('its workers gone', () => ours().length === 0, 10_000, 100);
  }, 90_000);
});
