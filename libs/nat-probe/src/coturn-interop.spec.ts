import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@wgmesh/executables';
import { createLogger } from '@wgmesh/log';
import { probeNat } from './classify';
import { StunServer, startStunServer } from './stun-server';
import { StunUdpClient } from './udp-client';
import { freePort } from '@wgmesh/testing';

// Interop with a third-party STUN implementation, coturn (Debian package "coturn", ensured by
// tools/dev/ensure-packages.sh): its clients against our server, our classifier against its server.
// Everything on loopback: 127.0.0.1 and 127.0.0.2 are both addresses of this host.

const TOOLS = ['turnserver', 'turnutils_stunclient', 'turnutils_natdiscovery'];
const which = (tool: string) => findExecutable(tool);
const missing = TOOLS.filter((t) => !which(t));
const quiet = createLogger({ service: 'test', level: 'error' });

/** Runs a coturn utility to its end (at most `timeoutMs`), returning what it printed. */
function runTool(tool: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(which(tool)!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('coturn interop (STUN, RFC 5780)', () => {
  if (missing.length > 0) {
    it('has coturn installed', () => {
      throw new Error(`coturn's ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing: run tools/dev/ensure-packages.sh as root (or apt-get install coturn)`);
    });
    return;
  }

  describe("coturn's clients against our server", () => {
    let server: StunServer;
    let p1: number;
    let p2: number;
    beforeAll(async () => {
      server = await startStunServer({ listen: { host: '127.0.0.1', port: 0 }, alternate: { host: '127.0.0.2', port: 0 }, log: quiet });
      [p1, p2] = [server.addresses.primary.port, server.addresses.other!.port];
    });
    afterAll(() => server.close());

    it('turnutils_stunclient prints our mapped address, RESPONSE-ORIGIN and OTHER-ADDRESS, and its RFC 5780 follow-ups', async () => {
      const before = server.counters.answered;
      const { code, out } = await runTool('turnutils_stunclient', ['-p', String(p1), '127.0.0.1']);
      expect(code).toBe(0);
      const mapped = [...out.matchAll(/UDP reflexive addr: 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      expect(mapped.length).toBeGreaterThanOrEqual(2);
      expect(out).toContain(`Response origin: : 127.0.0.1:${p1}`);
      expect(out).toContain(`Other addr: : 127.0.0.2:${p2}`);
      // Request 2: change IP and port, RESPONSE-PORT = its port + 1 (a new socket): answered from A2:P2 to that port.
      expect(out).toContain(`Response origin: : 127.0.0.2:${p2}`);
      expect(mapped[1]).toBe(mapped[0]); // XOR-MAPPED-ADDRESS is where the request came from
      // Request 3 adds PADDING, which we refuse (420) rather than send MTU-sized replies.
      expect(out).toContain('The response is an error 420');
      const after = server.counters.answered;
      expect(after.success - before.success).toBe(2);
      expect(after['unknown-attribute'] - before['unknown-attribute']).toBe(1);
    });

    it('turnutils_natdiscovery completes mapping and filtering discovery through our change-IP and change-port sockets', async () => {
      const { code, out } = await runTool('turnutils_natdiscovery', ['-m', '-f', '-p', String(p1), '127.0.0.1']);
      expect(code).toBe(0);
      // No NAT on loopback: both behaviours are endpoint-independent.
      expect(out).toContain('NAT with Endpoint Independent Mapping!');
      expect(out).toContain('NAT with Endpoint Independent Filtering!');
      expect(out).toContain(`Response origin: : 127.0.0.2:${p1}`); // mapping test II went to A2:P1
      expect(out).toContain(`Response origin: : 127.0.0.2:${p2}`); // filtering test II answered from A2:P2
      expect(out).not.toContain('timeout');
    });
  });

  describe("our classifier against coturn's turnserver --stun-only", () => {
    let proc: ChildProcess;
    let output = '';
    let dir: string;
    let p1: number;
    let p2: number;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'wgmesh-coturn-'));
      p1 = await freePort({ hosts: ['127.0.0.1', '127.0.0.2'], tcp: false });
      do p2 = await freePort({ hosts: ['127.0.0.1', '127.0.0.2'], tcp: false });
      while (p2 === p1);
      // -n: no /etc/turnserver.conf (Debian's disables RFC 5780 and logs to syslog).
      const args = ['-n', '--stun-only', '--no-cli', '--no-tls', '--no-dtls', '--no-tcp', '--no-auth', '-L', '127.0.0.1', '-L', '127.0.0.2', '-p', String(p1), '--alt-listening-port', String(p2), '--log-file', 'stdout', '--pidfile', join(dir, 'turnserver.pid'), '--userdb', join(dir, 'turndb')];
      proc = spawn(which('turnserver')!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d) => (output += d));
      proc.stderr!.on('data', (d) => (output += d));
      // Ready when it answers a Binding request on A2:P2.
      const client = await StunUdpClient.open({ family: 4 });
      try {
        const deadline = Date.now() + 10_000;
        for (;;) {
          if (proc.exitCode !== null) throw new Error(`turnserver exited (${proc.exitCode}):\n${output}`);
          const r = await client.transaction({ to: { ip: '127.0.0.2', port: p2 }, rtoMs: 50, maxRtoMs: 100, timeoutMs: 200 });
          if (r.outcome === 'mapped') break;
          if (Date.now() > deadline) throw new Error(`turnserver did not answer on 127.0.0.2:${p2} within 10 s:\n${output}`);
        }
      } finally {
        await client.close();
      }
    }, 20_000);

    afterAll(async () => {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM'); // by PID: the process we started
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it('classifies loopback as no NAT with endpoint-independent filtering, using coturn’s OTHER-ADDRESS and change sockets', async () => {
      const p = await probeNat({ server: `127.0.0.1:${p1}` });
      expect(p.classification).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent', mappedAddress: `127.0.0.1:${p.observations.local.port}` });
      expect(p.observations.otherAddress).toEqual({ ip: '127.0.0.2', port: p2 });
      expect(p.observations.filteringChangeIpPort).toMatchObject({ outcome: 'mapped', from: { ip: '127.0.0.2', port: p2 } });
      expect(Object.values(p.ignored).every((n) => n === 0)).toBe(true);
    });
  });
});
