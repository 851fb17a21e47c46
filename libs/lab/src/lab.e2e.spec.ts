import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor, describeE2E } from '@wgmesh/testing';
import { Lab } from './lab';
import { isRunning } from './procfs';
import { missingRequirements } from './requirements';
import { NETNS_DIR, StateStore } from './state';

const WORKSPACE = resolve(__dirname, '../../..');
const describeLab = (name: string, body: () => void) => describeE2E(name, missingRequirements(), body);

/** Sends one UDP datagram from `sourcePort` to each destination (port 9), from one socket. */
function sendUdp(lab: Lab, host: string, sourcePort: number, destinations: string[]) {
  const script = `const s = require('node:dgram').createSocket('udp4');
s.bind(${sourcePort}, () => { let n = 0; for (const d of ${JSON.stringify(destinations)}) s.send('x', 9, d, () => { if (++n === ${destinations.length}) s.close(); }); });`;
  return lab.exec(host, process.execPath, ['-e', script]);
}

const udpFlows = async (lab: Lab, member: string, sourcePort: number) => (await lab.natMappings(member)).filter((m) => m.proto === 'udp' && m.sourcePort === sourcePort);

describeLab('lab topology (registry, eim, edm and public members)', () => {
  let lab: Lab;
  let upMs: number;

  beforeAll(async () => {
    const started = Date.now();
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'edm' },
        { name: 'c', nat: 'public' },
        { name: 'd', nat: 'eim' },
      ],
    });
    upMs = Date.now() - started;
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('comes up quickly with one namespace per host, named for the lab', () => {
    expect(upMs).toBeLessThan(3000);
    const status = lab.status();
    expect(status.hosts.map((h) => [h.name, h.role, h.address, h.publicAddress, h.present])).toEqual([
      ['internet', 'internet', '203.0.113.254', '203.0.113.254', true],
      ['registry', 'registry', '203.0.113.1', '203.0.113.1', true],
      ['nat-a', 'router', '198.51.100.11', '198.51.100.11', true],
      ['a', 'member', '172.16.1.2', '198.51.100.11', true],
      ['nat-b', 'router', '198.51.100.12', '198.51.100.12', true],
      ['b', 'member', '172.16.2.2', '198.51.100.12', true],
      ['c', 'member', '203.0.113.13', '203.0.113.13', true],
      ['nat-d', 'router', '198.51.100.14', '198.51.100.14', true],
      ['d', 'member', '172.16.4.2', '198.51.100.14', true],
    ]);
    for (const h of status.hosts) expect(h.ns).toBe(`wgl-${lab.id}-${h.name}`);
    expect(status.hosts.filter((h) => h.mode).map((h) => [h.name, h.mode])).toEqual([
      ['nat-a', 'eim'],
      ['nat-b', 'edm'],
      ['nat-d', 'eim'],
    ]);
    expect(lab.deviceName('registry')).toBe(`wl${lab.id}-r`);
    expect(lab.deviceName('b', '1')).toBe(`wl${lab.id}-m21`);
  });

  it('routes members to the internet, and nothing unsolicited to them', async () => {
    const reach = async (from: string, to: string) => (await lab.ping(from, to, { timeoutMs: 300 })).ok;
    expect(await reach('a', lab.addressOf('registry'))).toBe(true); // through its NAT
    expect(await reach('b', lab.addressOf('c'))).toBe(true);
    expect(await reach('c', lab.addressOf('registry'))).toBe(true); // public member
    expect(await reach('registry', lab.addressOf('c'))).toBe(true);
    expect(await reach('registry', lab.addressOf('a'))).toBe(false); // a private address: no route
    expect(await reach('registry', lab.publicAddressOf('a'))).toBe(false); // the router drops new inbound
    expect(await reach('d', lab.publicAddressOf('a'))).toBe(false);
  });

  it('sets forwarding on the registry (relay) and the routers', async () => {
    const sysctl = async (host: string, key: string) => (await lab.exec(host, 'sysctl', ['-n', key])).stdout.trim();
    expect(await sysctl('registry', 'net.ipv4.ip_forward')).toBe('1');
    expect(await sysctl('registry', 'net.ipv4.conf.all.send_redirects')).toBe('0');
    expect(await sysctl('registry', 'net.ipv4.conf.eth0.send_redirects')).toBe('0');
    expect(await sysctl('nat-a', 'net.ipv4.ip_forward')).toBe('1');
    expect(await sysctl('a', 'net.ipv4.ip_forward')).toBe('0');
  });

  it('eim keeps one external port per socket for every destination; edm does not', async () => {
    const destinations = [lab.addressOf('registry'), lab.addressOf('c')];
    await Promise.all([sendUdp(lab, 'a', 40000, destinations), sendUdp(lab, 'b', 40000, destinations)]);
    const a = await udpFlows(lab, 'a', 40000);
    expect(a.map((m) => [m.destination, m.externalAddress, m.externalPort]).sort()).toEqual([
      [lab.addressOf('registry'), lab.publicAddressOf('a'), 40000],
      [lab.addressOf('c'), lab.publicAddressOf('a'), 40000],
    ]);
    const b = await udpFlows(lab, 'b', 40000);
    expect(b).toHaveLength(2);
    expect(b[0].externalPort).not.toBe(b[1].externalPort);
  });

  it('rebindNat gives an eim member a new external port, still the same for every destination', async () => {
    const destinations = [lab.addressOf('registry'), lab.addressOf('c')];
    await sendUdp(lab, 'd', 41000, destinations);
    const rebinds = await lab.rebindNat('d');
    expect(rebinds).toEqual([{ sourcePort: 41000, before: [41000], after: expect.any(Number) }]);
    expect(await udpFlows(lab, 'd', 41000)).toEqual([]); // conntrack was flushed
    await sendUdp(lab, 'd', 41000, destinations);
    const after = await udpFlows(lab, 'd', 41000);
    expect(after.map((m) => m.externalPort)).toEqual([rebinds[0].after, rebinds[0].after]);

    // flushNat alone is a NAT reboot: under eim the free port is taken again (the pin stays).
    await lab.flushNat('d');
    await sendUdp(lab, 'd', 41000, destinations.slice(0, 1));
    expect((await udpFlows(lab, 'd', 41000)).map((m) => m.externalPort)).toEqual([rebinds[0].after]);
  });

  it('setNatMode switches a router at run time', async () => {
    await lab.setNatMode('a', 'edm');
    expect(lab.natMode('nat-a')).toBe('edm');
    expect((await lab.exec('nat-a', 'iptables', ['-t', 'nat', '-S', 'POSTROUTING'])).stdout).toContain('--random-fully');
    await lab.setNatMode('nat-a', 'eim');
    expect((await lab.exec('nat-a', 'iptables', ['-t', 'nat', '-S', 'POSTROUTING'])).stdout).not.toContain('--random-fully');
    await expect(lab.setNatMode('c', 'edm')).rejects.toThrow('c is not behind a NAT (it is a public member)');
  });

  it('tracks spawned processes and WireGuard devices, and down() ends them', async () => {
    const sleeper = lab.spawn('a', 'sleep', ['60']);
    const wg = await lab.startWireguardGo('b');
    expect(wg.dev).toBe(`wl${lab.id}-m2`);
    expect(existsSync(wg.socket)).toBe(true);
    expect((await lab.exec('b', 'ip', ['-o', 'link', 'show', wg.dev])).stdout).toContain(wg.dev);
    expect(lab.status().processes.map((p) => [p.pid, p.host, p.running])).toEqual(
      expect.arrayContaining([
        [sleeper.pid, 'a', true],
        [wg.process.pid, 'b', true],
      ]),
    );
    await expect(lab.startWireguardGo('b', 'wg0')).rejects.toThrow(`must start with "wl${lab.id}-"`);
    await expect(lab.startWireguardGo('b')).rejects.toThrow('already running');

    await sleeper.stop();
    await waitFor('the state file to forget the stopped process', () => !lab.status().processes.some((p) => p.pid === sleeper.pid));
  });
});

describeLab('cleanup after the owner dies', () => {
  let stateDir: string;
  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'wgmesh-lab-state-'));
  });
  afterAll(async () => {
    await Lab.downAll({ stateDir });
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** A child process that brings up a lab, starts a sleep and wireguard-go in it, and waits. */
  async function ownerProcess(detach: boolean) {
    const script = `const { Lab } = require(${JSON.stringify(join(WORKSPACE, 'libs/lab/src/index.ts'))});
Lab.up({ members: [{ name: 'a', nat: 'eim' }] }, { detach: ${detach} }).then(async (lab) => {
  const sleeper = lab.spawn('a', 'sleep', ['60']);
  const wg = await lab.startWireguardGo('a');
  console.log(JSON.stringify({ id: lab.id, pids: [sleeper.pid, wg.process.pid], socket: wg.socket }));
  setInterval(() => undefined, 1000);
});`;
    const child = spawn(process.execPath, ['-r', join(WORKSPACE, 'bin/register.js'), '-e', script], {
      env: { ...process.env, WGMESH_LAB_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
    const line = await new Promise<string>((res, rej) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) res(buf.split('\n')[0]);
      });
      void exited.then((code) => rej(new Error(`lab owner exited (${code}) before bringing the lab up`)));
    });
    const info = JSON.parse(line) as { id: string; pids: number[]; socket: string };
    const namespaces = [`wgl-${info.id}-internet`, `wgl-${info.id}-registry`, `wgl-${info.id}-nat-a`, `wgl-${info.id}-a`];
    return { child, exited, ...info, namespaces };
  }

  const gone = (o: { pids: number[]; namespaces: string[]; socket: string; id: string }) =>
    o.pids.every((p) => !isRunning(p)) && o.namespaces.every((ns) => !existsSync(join(NETNS_DIR, ns))) && !existsSync(o.socket) && !new StateStore(stateDir).read(o.id);

  it('SIGTERM to the owner tears its lab down', async () => {
    const owner = await ownerProcess(false);
    owner.child.kill('SIGTERM');
    expect(await owner.exited).toBe(143);
    expect(gone(owner)).toBe(true);
  });

  it('a lab whose owner was SIGKILLed is torn down by Lab.prune (which Lab.up runs)', async () => {
    const owner = await ownerProcess(false);
    owner.child.kill('SIGKILL');
    await owner.exited;
    expect(owner.pids.every(isRunning)).toBe(true); // detached process groups outlive the owner
    expect(owner.namespaces.every((ns) => existsSync(join(NETNS_DIR, ns)))).toBe(true);
    expect(Lab.prune({ stateDir })).toEqual([owner.id]);
    expect(gone(owner)).toBe(true);
  });

  it('a detached lab survives its owner until Lab.down(id)', async () => {
    const owner = await ownerProcess(true);
    owner.child.kill('SIGKILL');
    await owner.exited;
    expect(Lab.prune({ stateDir })).toEqual([]);
    expect(Lab.list({ stateDir }).map((s) => [s.id, s.detached, s.owner.alive, s.processes.length])).toEqual([[owner.id, true, false, 2]]);
    const report = await Lab.down(owner.id, { stateDir });
    expect(report?.namespaces.sort()).toEqual([...owner.namespaces].sort());
    expect(gone(owner)).toBe(true);
  });
});
