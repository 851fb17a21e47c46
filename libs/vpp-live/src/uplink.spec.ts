import { execFile, spawn } from 'node:child_process';
import { loadDefinitions, VppClient, wireguardInterfaceCreate, swInterfaceSetFlags } from '@wgmesh/vpp-api';
import { generatePrivateKey } from '@wgmesh/wireguard';
import { describeWithVpp, shareUplinkWithHost, startVpp, takeUplink, VppInstance } from './index';

// VPP owns a node's uplink and shares the node's address with the host: the host's TCP and UDP
// work both ways through VPP, VPP's own WireGuard port stays VPP's.
const sh = (cmd: string, args: string[]) =>
  new Promise<string>((resolve, reject) => execFile(cmd, args, { timeout: 15_000 }, (err, out, errOut) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${errOut || err.message}`)) : resolve(out))));

/** Runs a node snippet in a namespace; resolves with its stdout. */
function nodeIn(netns: string, script: string): Promise<string> {
  return sh('ip', ['netns', 'exec', netns, process.execPath, '-e', script]);
}

/** A one-shot TCP or UDP server in a namespace: resolves with what it received (or '' after `ms`). */
function serveOnce(netns: string, proto: 'tcp' | 'udp', port: number, ms = 8000): { ready: Promise<void>; received: Promise<string> } {
  const script =
    proto === 'tcp'
      ? `const s=require('net').createServer(c=>{c.on('data',d=>{process.stdout.write(d);c.end('pong');s.close();process.exit(0)})});s.listen(${port},()=>console.error('ready'));setTimeout(()=>process.exit(0),${ms})`
      : `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{process.stdout.write(m);s.send('upong',r.port,r.address,()=>process.exit(0))});s.bind(${port},()=>console.error('ready'));setTimeout(()=>process.exit(0),${ms})`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ready = new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  return { ready, received: new Promise((resolve) => child.once('exit', () => resolve(out))) };
}

const tcpClient = (host: string, port: number) =>
  `const c=require('net').connect(${port},'${host}',()=>c.write('ping'));c.on('data',d=>{process.stdout.write(d);process.exit(0)});setTimeout(()=>process.exit(1),5000)`;
// UDP: the first datagram can be lost while VPP resolves the neighbour (ARP): send until answered.
const udpClient = (host: string, port: number) =>
  `const s=require('dgram').createSocket('udp4');s.on('message',m=>{process.stdout.write(m);process.exit(0)});const t=setInterval(()=>s.send('uping',${port},'${host}'),200);s.send('uping',${port},'${host}');setTimeout(()=>process.exit(1),5000)`;

describeWithVpp('VPP owning the uplink, sharing the node address with the host', (install) => {
  let vpp: VppInstance;
  let client: VppClient;
  const outside = `wgvo${process.pid % 100000}`;
  beforeAll(async () => {
    vpp = await startVpp({ install: install() });
    await sh('ip', ['netns', 'add', outside]);
    await sh('ip', ['-n', outside, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', vpp.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
    await sh('ip', ['-n', outside, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
    await sh('ip', ['-n', outside, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', vpp.netns, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
    client = await VppClient.connect({ socketPath: vpp.apiSocket, definitions: loadDefinitions(install().apiDir) });
    const uplink = await takeUplink(client, vpp.netns, { ifname: 'eth0', addresses: ['192.0.2.1/24'], gateway: '192.0.2.2' });
    await shareUplinkWithHost(client, vpp.netns, uplink, ['192.0.2.1/24']);
    const wg = await wireguardInterfaceCreate(client, { privateKey: generatePrivateKey(), listenPort: 51820, srcAddress: '192.0.2.1' });
    await swInterfaceSetFlags(client, wg, true);
  });
  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await vpp?.stop();
    await sh('ip', ['netns', 'del', outside]).catch(() => undefined);
  });

  it('the host reaches out (TCP, UDP) from the node address, through VPP', async () => {
    const tcp = serveOnce(outside, 'tcp', 4222);
    await tcp.ready;
    expect(await nodeIn(vpp.netns, tcpClient('192.0.2.2', 4222))).toBe('pong');
    expect(await tcp.received).toBe('ping');
    const udp = serveOnce(outside, 'udp', 3478);
    await udp.ready;
    expect(await nodeIn(vpp.netns, udpClient('192.0.2.2', 3478))).toBe('upong');
    expect(await udp.received).toMatch(/^(uping)+$/);
  });

  it('the outside reaches the host at the node address (TCP, UDP), but not on VPP\'s WireGuard port', async () => {
    const tcp = serveOnce(vpp.netns, 'tcp', 4222);
    await tcp.ready;
    expect(await nodeIn(outside, tcpClient('192.0.2.1', 4222))).toBe('pong');
    const udp = serveOnce(vpp.netns, 'udp', 3479);
    await udp.ready;
    expect(await nodeIn(outside, udpClient('192.0.2.1', 3479))).toBe('upong');
    const wg = serveOnce(vpp.netns, 'udp', 51820, 1500);
    await wg.ready;
    await expect(nodeIn(outside, udpClient('192.0.2.1', 51820).replace('5000', '1000'))).rejects.toThrow();
    expect(await wg.received).toBe('');
  });
});
