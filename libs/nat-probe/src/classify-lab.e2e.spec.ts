import { accessSync, constants, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { ADDR, Lab, LabProcess, missingRequirements } from '@wgmesh/lab';
import { describeE2E } from '@wgmesh/testing';
import type { NatProbe } from './classify';

// The classifier behind real Linux NATs, in network namespaces (libs/lab): member a behind
// MASQUERADE (endpoint-independent mapping), b behind MASQUERADE --random-fully (endpoint-
// dependent, random ports), c public, d behind a NAT handing out ports in sequence (seq). Our STUN server runs on the registry with its second address 203.0.113.2
// (`wgmesh nat-probe server`); coturn's turnserver and turnutils_natdiscovery check interop.
// The lab's routers drop unsolicited inbound packets, so filtering is address-and-port-dependent.

const WORKSPACE = resolve(__dirname, '../../..');
const BIN = resolve(WORKSPACE, 'bin/wgmesh.js');
const REGISTER = resolve(WORKSPACE, 'bin/register.js');
const coturnMissing = ['turnserver', 'turnutils_natdiscovery'].filter((t) => {
  try {
    accessSync(`/usr/bin/${t}`, constants.X_OK);
    return false;
  } catch {
    return true;
  }
});

describeE2E('nat-probe in the lab: classification behind MASQUERADE, --random-fully and no NAT', missingRequirements(), () => {
  let lab: Lab;
  const servers: LabProcess[] = [];

  beforeAll(async () => {
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'edm' },
        { name: 'c', nat: 'public' },
        { name: 'd', nat: 'seq' },
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (lab) rmSync(`/tmp/wgmesh-lab-${lab.id}-coturn`, { recursive: true, force: true });
    await lab?.down();
  });

  /** `wgmesh nat-probe server` on the registry, ready once it logs that it listens. */
  async function stunServer(listen: string, alternate: string): Promise<LabProcess> {
    const p = lab.spawn('registry', process.execPath, [BIN, 'nat-probe', 'server', '--listen', listen, '--alternate', alternate]);
    servers.push(p);
    await p.waitForLine(/stun server listening/, 15_000);
    return p;
  }

  /** probeNat run inside a member's namespace (a process of its own, as a member would). */
  async function probe(host: string, server: string): Promise<NatProbe> {
    const script = `require('@wgmesh/nat-probe').probeNat({ server: ${JSON.stringify(server)} }).then((p) => process.stdout.write(JSON.stringify(p)))`;
    const { stdout } = await lab.exec(host, process.execPath, ['-r', REGISTER, '-e', script], { timeoutMs: 20_000 });
    return JSON.parse(stdout) as NatProbe;
  }

  it('two-IP server (203.0.113.1 and .2): eim behind MASQUERADE, edm behind --random-fully, none when public', async () => {
    await stunServer(`${ADDR.registry}:3478`, `${ADDR.registryAlt}:3479`);
    const server = `${ADDR.registry}:3478`;
    const [a, b, c] = await Promise.all([probe('a', server), probe('b', server), probe('c', server)]);

    expect(a.classification).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', server });
    expect(a.classification.mappedAddress).toMatch(/^198\.51\.100\.11:\d+$/);
    expect(b.classification).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' });
    expect(b.classification.mappedAddress).toMatch(/^198\.51\.100\.12:\d+$/);
    expect(c.classification).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent', mappedAddress: `203.0.113.13:${c.observations.local.port}` });
    // MASQUERADE kept a's port; --random-fully gave b a new port for each destination.
    expect(a.observations.testI).toMatchObject({ mapped: { port: a.observations.local.port } });
    const bPorts = [b.observations.testI, b.observations.mappingAltIp, b.observations.mappingAltIpPort].map((t) => (t?.outcome === 'mapped' ? t.mapped.port : -1));
    expect(new Set(bPorts).size).toBe(3);
    // Behind the NATs the filtering tests waited out their timeout (1 s); without NAT it is quick.
    for (const p of [a, b]) expect(p.durationMs).toBeLessThan(2000);
    expect(c.durationMs).toBeLessThan(500);
    // --random-fully: ports at random, nothing to predict.
    expect(b.classification).not.toHaveProperty('portStep');
    expect(b.classification.method).toContain('not sequential, ports cannot be predicted');
  }, 30_000);


  it('the CLI prints the same result object with --json', async () => {
    const { stdout } = await lab.exec('a', process.execPath, [BIN, 'nat-probe', 'classify', '--server', `${ADDR.registry}:3478`, '--json'], { timeoutMs: 20_000 });
    const r = JSON.parse(stdout);
    expect(Object.keys(r).sort()).toEqual(['filtering', 'mappedAddress', 'mapping', 'method', 'nat', 'server']);
    expect(r).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent' });
  }, 30_000);

  it('one-IP server (203.0.113.1, ports 3480 and 3481): the port test still tells --random-fully (edm) from MASQUERADE (eim)', async () => {
    await stunServer(`${ADDR.registry}:3480`, `${ADDR.registry}:3481`);
    const server = `${ADDR.registry}:3480`;
    const [a, b, c] = await Promise.all([probe('a', server), probe('b', server), probe('c', server)]);
    expect(a.classification).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' });
    expect(a.classification.method).toContain('address-dependent mapping cannot be told apart');
    expect(b.classification).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent' });
    expect(c.classification).toMatchObject({ nat: 'none', filtering: 'address-dependent' });
  }, 30_000);

  it('behind a NAT that hands out ports in sequence: edm with port step +1, from both kinds of server (two IPs; one IP, two ports)', async () => {
    for (const server of [`${ADDR.registry}:3478`, `${ADDR.registry}:3480`]) {
      const d = await probe('d', server);
      expect(d.classification).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent', portStep: 1 });
      expect(d.classification.method).toMatch(/port allocation: mappings (\d+), (\d+), .*sequential, step \+1/);
      // Each new mapping (tests I, II/III and the allocation sockets') took the next port.
      const ports = [d.observations.testI, d.observations.mappingAltIp, d.observations.mappingAltIpPort, d.observations.mappingAltPort, ...(d.observations.allocation ?? [])].flatMap((t) => (t?.outcome === 'mapped' ? [t.mapped.port] : []));
      expect(ports.slice(1).map((p, i) => p - ports[i])).toEqual(ports.slice(1).map(() => 1));
    }
  }, 30_000);

  describe('coturn interop in the lab', () => {
    if (coturnMissing.length > 0) {
      it('has coturn installed', () => {
        throw new Error(`coturn's ${coturnMissing.join(', ')} missing: run tools/dev/ensure-packages.sh as root (or apt-get install coturn)`);
      });
      return;
    }

    it('turnutils_natdiscovery behind --random-fully, against our server: address-and-port-dependent mapping and filtering', async () => {
      const { stdout } = await lab.exec('b', 'turnutils_natdiscovery', ['-m', '-f', '-p', '3478', ADDR.registry], { timeoutMs: 30_000 });
      expect(stdout).toContain('NAT with Address and Port Dependent Mapping!');
      expect(stdout).toContain('NAT with Address and Port Dependent Filtering!');
      const eim = await lab.exec('a', 'turnutils_natdiscovery', ['-m', '-p', '3478', ADDR.registry], { timeoutMs: 30_000 });
      expect(eim.stdout).toContain('NAT with Endpoint Independent Mapping!');
    }, 60_000);

    it('our classifier against coturn turnserver --stun-only on the registry’s two addresses', async () => {
      const dir = `/tmp/wgmesh-lab-${lab.id}-coturn`;
      mkdirSync(dir, { recursive: true });
      const ts = lab.spawn('registry', 'turnserver', ['-n', '--stun-only', '--no-cli', '--no-tls', '--no-dtls', '--no-tcp', '--no-auth', '-L', ADDR.registry, '-L', ADDR.registryAlt, '-p', '3490', '--alt-listening-port', '3491', '--log-file', 'stdout', '--pidfile', `${dir}/turnserver.pid`, '--userdb', `${dir}/turndb`]);
      servers.push(ts);
      await ts.waitForLine(/Total General servers/, 15_000);
      const server = `${ADDR.registry}:3490`;
      // coturn logs no "listening" line: ready when the public member gets answers from all its sockets.
      let c = await probe('c', server);
      for (let i = 0; i < 10 && c.classification.filtering !== 'endpoint-independent'; i++) c = await probe('c', server);
      const [a, b] = await Promise.all([probe('a', server), probe('b', server)]);
      expect(a.classification).toMatchObject({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' });
      expect(b.classification).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' });
      expect(c.classification).toMatchObject({ nat: 'none', filtering: 'endpoint-independent' });
      expect(a.observations.otherAddress).toEqual({ ip: ADDR.registryAlt, port: 3491 });
    }, 60_000);
  });
});
