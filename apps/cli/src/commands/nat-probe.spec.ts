import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { freePort, Service, startWgmesh } from '@wgmesh/testing';
import { RawUdp } from '@wgmesh/nat-probe/testing';

// `wgmesh nat-probe server|classify` as real processes on loopback (127.0.0.1 and 127.0.0.2 are
// both addresses of this host): exit codes, stdout, stderr.
const BIN = resolve(__dirname, '../../../../bin/wgmesh.js');

function wgmesh(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WGMESH_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('wgmesh nat-probe (processes)', () => {
  let server: Service;
  let p1: number;
  let p2: number;

  beforeAll(async () => {
    p1 = await freePort({ hosts: ['127.0.0.1', '127.0.0.2'], tcp: false });
    do p2 = await freePort({ hosts: ['127.0.0.1', '127.0.0.2'], tcp: false });
    while (p2 === p1);
    server = startWgmesh(['nat-probe', 'server', '--listen', `127.0.0.1:${p1}`, '--alternate', `127.0.0.2:${p2}`]);
    const line = JSON.parse(await server.waitForLine(/stun server listening/));
    expect(line).toMatchObject({ level: 'info', service: 'nat-probe', mode: 'rfc5780', sockets: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`, `127.0.0.2:${p1}`, `127.0.0.2:${p2}`] });
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('classify prints the mapped address, both behaviours and how they were decided', async () => {
    const r = await wgmesh('nat-probe', 'classify', '--server', `127.0.0.1:${p1}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^server +127\.0\.0\.1:\d+$/m);
    expect(r.stdout).toMatch(/^mapped +127\.0\.0\.1:\d+$/m);
    expect(r.stdout).toMatch(/^nat +none$/m);
    expect(r.stdout).toMatch(/^mapping +endpoint-independent$/m);
    expect(r.stdout).toMatch(/^filtering +endpoint-independent$/m);
    expect(r.stdout).toContain('how:\n  test I (Binding to 127.0.0.1:');
    expect(r.stdout).toContain('filtering test II (change IP and port): answered');
  }, 20_000);

  it('classify --json prints the result object, NatReport minus node, key and time', async () => {
    const r = await wgmesh('nat-probe', 'classify', '--server', `127.0.0.1:${p1}`, '--json', '--timeout', '2000');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(Object.keys(result).sort()).toEqual(['filtering', 'mappedAddress', 'mapping', 'method', 'nat', 'server']);
    expect(result).toMatchObject({ server: `127.0.0.1:${p1}`, nat: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent' });
  }, 20_000);

  it('classify exits 1 when no server answers, within --timeout', async () => {
    const silent = await RawUdp.open();
    try {
      const started = Date.now();
      const r = await wgmesh('nat-probe', 'classify', '--server', `127.0.0.1:${silent.address.port}`, '--timeout', '400', '--json');
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ nat: 'unknown', mappedAddress: null });
      expect(r.stderr).toContain(`no answer from 127.0.0.1:${silent.address.port} within 400 ms`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  }, 20_000);

  it('--help helps, for the command and each subcommand', async () => {
    const cases: Array<[string[], string]> = [
      [['nat-probe', 'classify', '--help'], '--server <addr:port>'],
      [['nat-probe', 'server', '--help'], '--alternate <addr:port>'],
    ];
    const results = await Promise.all(cases.map(([args]) => wgmesh(...args)));
    results.forEach((r, i) => expect([cases[i][0], r.code, r.stdout.includes(cases[i][1])]).toEqual([cases[i][0], 0, true]));
  }, 30_000);

  it('usage errors exit 2 and name the problem', async () => {
    const cases: Array<[string[], string]> = [
      [['nat-probe'], 'Usage: wgmesh nat-probe <command>'],
      [['nat-probe', 'classify'], 'missing --server'],
      [['nat-probe', 'classify', '--server', 'example.com:3478'], 'invalid --server'],
      [['nat-probe', 'server', '--listen', '0.0.0.0:3478', '--alternate', '127.0.0.2:3479'], 'both addresses must be specific IPs'],
    ];
    const results = await Promise.all(cases.map(([args]) => wgmesh(...args)));
    results.forEach((r, i) => expect([cases[i][0], r.code, (r.stdout + r.stderr).includes(cases[i][1])]).toEqual([cases[i][0], 2, true]));
  }, 30_000);

  it('server serves /ready and its counters on /metrics (--http-listen)', async () => {
    const port = await freePort({ tcp: false });
    const http = await new Promise<number>((done) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => done(free));
      });
    });
    const s = startWgmesh(['nat-probe', 'server', '--listen', `127.0.0.1:${port}`, '--http-listen', `127.0.0.1:${http}`]);
    try {
      await s.waitForLine(/stun server listening/);
      const ready = await fetch(`http://127.0.0.1:${http}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ checks: { stun: { ok: true } } });
      expect((await wgmesh('nat-probe', 'classify', '--server', `127.0.0.1:${port}`, '--json')).code).toBe(0);
      const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
      const answered = Number(/^wgmesh_stun_requests_total\{result="answered"\} (\d+)$/m.exec(metrics)?.[1]);
      expect(answered).toBeGreaterThanOrEqual(1);
    } finally {
      expect(await s.stop('SIGTERM')).toBe(0);
    }
  }, 20_000);

  it('server exits 0 on SIGTERM, logging its counters', async () => {
    const port = await freePort({ tcp: false });
    const s = startWgmesh(['nat-probe', 'server', '--listen', `127.0.0.1:${port}`]);
    await s.waitForLine(/stun server listening/);
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(s.lines.some((l) => l.includes('"msg":"stun server counters"'))).toBe(true);
  }, 20_000);
});
