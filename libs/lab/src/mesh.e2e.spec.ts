import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import { parseDig, waitFor, describeE2E } from '@wgmesh/testing';
import { Lab } from './lab';
import { run, toolEnv } from './exec';
import { Mesh, MESH, missingMeshTools, startMesh, WORKSPACE } from './mesh';
import { logMessage } from './mesh-log';
import { findExecutable, missingRequirements } from './requirements';

/**
 * The real wgmesh in a lab, from nothing: NATS, Redis and `wgmesh registry up` in the registry's
 * namespace, `wgmesh member up` behind three endpoint-independent NATs and on one public host.
 * The tests run in order on one mesh (a removal, then a NAT rebinding, then a registry restart).
 */
const PING = { count: 5, intervalMs: 20, size: 1000, timeoutMs: 1000 };
const PING_BYTES = PING.count * 2 * (PING.size + 28);

const problems = [...missingRequirements(), ...missingMeshTools(), ...(findExecutable('dig') ? [] : ['dig is missing (DNS-SD checks): apt-get install dnsutils'])];
const describeLab = (name: string, body: () => void) => describeE2E(name, problems, body);

const report = (line: string) => process.stderr.write(`mesh e2e: ${line}\n`);

/**
 * How long after the last enrolment (or a member's restart) every pair may take to settle: both
 * ends apply the leader's decision and the tunnel agrees. Measured 0.8–1.6 s here with one core
 * kept busy; a decision lost to ordering waited for the leader's next report, up to 30 s.
 */
const SETTLE_BOUND_MS = 10_000;

describeLab('wgmesh in a lab: registry, 3 members behind eim NATs, 1 public member', () => {
  let lab: Lab;
  let mesh: Mesh;

  /**
   * rx+tx of `from`'s direct peer entry for `to`: grows by a ping's bytes only when the ping goes
   * direct (a relayed ping takes the registry peer). The hub's own counters are no measure: NATS
   * runs over the members' tunnels to it, so control traffic (NAT reports, path decisions, state)
   * moves them by tens of kilobytes at times.
   */
  const directBytes = async (from: string, to: string) => {
    const p = (await mesh.devicePeers(from)).get(mesh.member(to).publicKey);
    return (p?.rxBytes ?? 0) + (p?.txBytes ?? 0);
  };
  const dig = async (from: string, name: string, type: string) =>
    parseDig((await lab.exec(from, 'dig', [`@${MESH.registryAddress}`, '-p', '53', name, type, '+norecurse', '+time=1', '+tries=2', '+nocookie'])).stdout);
  const instance = (publicKey: string) => `${keyToBase32(keyFromBase64(publicKey))}._wireguard._udp.${MESH.zone}`;
  const pingOk = async (from: string, to: string) => (await lab.ping(from, mesh.member(to).address, { count: 1, timeoutMs: 250 })).ok;

  beforeAll(async () => {
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'eim' },
        { name: 'c', nat: 'eim' },
        { name: 'd', nat: 'public' },
      ],
    });
    mesh = await startMesh(lab);
  }, 60_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('forms the full mesh from nothing: every pair direct within 5 s of the last enrolment, and settled within 10 s', async () => {
    // Both measured from the start, side by side: tunnels (handshakes and a ping), and settled
    // pairs (both ends apply the leader's decision, and pings agree).
    const [{ convergeMs, handshakesMs, pairs }, settled] = await Promise.all([mesh.waitForMesh(15_000), mesh.waitForPaths({ timeoutMs: 40_000 })]);
    expect(pairs).toHaveLength(6);
    report(`full mesh of 4: every pair handshaken ${handshakesMs} ms and pinging ${convergeMs} ms after the last member enrolled; every pair settled after ${settled.convergeMs} ms`);
    expect(convergeMs).toBeLessThan(5000);
    expect(settled.rows.map((r) => r.path)).toEqual(['direct', 'direct', 'direct', 'direct', 'direct', 'direct']);
    expect(settled.convergeMs).toBeLessThan(SETTLE_BOUND_MS);

    for (const [a, b] of pairs) {
      const before = await directBytes(a, b);
      const ping = await lab.ping(a, mesh.member(b).address, PING);
      expect(ping.received).toBe(PING.count);
      // Direct: every ping and reply crossed a's direct peer entry for b.
      expect((await directBytes(a, b)) - before).toBeGreaterThanOrEqual(PING_BYTES);
    }
    const table = await mesh.pairTable();
    expect(table.map((r) => [r.a, r.b, r.path])).toEqual(pairs.map(([a, b]) => [a, b, 'direct']));
    expect(table.every((r) => r.rttMs !== null && r.rttMs < 50)).toBe(true);

    // `wgmesh status` on a member, given only its state directory: the registry's table, the
    // node's own device (recorded by `member up`), every other member direct.
    const a = mesh.member('a');
    const { stdout } = await mesh.wgmesh('a', ['status', '--json', '--state-dir', a.stateDir]);
    const status = JSON.parse(stdout) as { node: string; peers: Array<{ publicKey: string; path: string }> };
    expect(status.node).toBe('a');
    const others = ['b', 'c', 'd'].map((n) => mesh.member(n).publicKey);
    expect(status.peers.filter((p) => others.includes(p.publicKey)).map((p) => p.path)).toEqual(['direct', 'direct', 'direct']);
  });

  it('lets an operator in: "wgmesh lab exec" runs status and watch on a member, token list and watch on the registry', async () => {
    // As from a shell: the CLI, in another process, finds the lab's files by its id. The
    // environment is emptied of the variables lab exec sets, so nothing comes from this test's.
    const env = toolEnv();
    for (const k of Object.keys(env)) if (k.startsWith('WGMESH_')) delete env[k];
    const exec = (...args: string[]) => run(process.execPath, [`${WORKSPACE}/bin/wgmesh.js`, 'lab', 'exec', lab.id, ...args], { env, timeoutMs: 30_000 });
    const status = JSON.parse((await exec('a', '--', 'status', '--json')).stdout) as { node: string; nat: string; peers: Array<{ name?: string; path: string; reason: string | null }> };
    expect(status.node).toBe('a');
    expect(status.nat).toBe('eim');
    expect(status.peers.filter((p) => p.name !== 'registry').map((p) => [p.name, p.path, p.reason === null])).toEqual(expect.arrayContaining([['b', 'direct', false], ['c', 'direct', false], ['d', 'direct', false]]));
    // (the lab's own enrolment tokens: Redis with its ACL user's password, from the lab's files)
    const tokens = JSON.parse((await exec('registry', '--', 'registry', 'token', 'list', '--json')).stdout) as Array<{ id: string; uses: number }>;
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.reduce((n, t) => n + t.uses, 0)).toBeGreaterThanOrEqual(4);
    // watch, with the registry's credential (every node) and a member's (its own device state).
    const records = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; node: string; changes: string[] });
    const onRegistry = records((await exec('registry', '--', 'watch', '--json', '--subject', 'node.*.dataplane.state', '--count', '4')).stdout);
    expect(new Set(onRegistry.map((r) => r.node)).size).toBeGreaterThanOrEqual(3); // four nodes and the hub report every 5 s
    expect(onRegistry[0].changes[0]).toMatch(/^\S+: uapi device \S+, port 51820, \d+ peers/);
    const onA = records((await exec('a', '--', 'watch', '--json', '--subject', 'node.a.>', '--count', '1')).stdout);
    expect(onA[0]).toMatchObject({ node: 'a' });
    // The command's own exit status and message come through; a host that runs no wgmesh is a usage error.
    await expect(exec('registry', '--', 'registry', 'token', 'revoke', 'nope')).rejects.toMatchObject({ code: 1, result: { stderr: expect.stringContaining('no token with id "nope"') } });
    await expect(exec('nat-a', '--', 'status')).rejects.toMatchObject({ code: 2, result: { stderr: expect.stringContaining(`lab ${lab.id} has no host "nat-a" that runs wgmesh: registry, a, b, c, d`) } });
  }, 120_000); // six CLI processes, two of them waiting for state events (every 5 s)

  it("a restarted member follows its leaders' decisions at once, not at their next report (up to 30 s later)", async () => {
    // The member with the largest key follows every pair it is in: its leaders decided long ago
    // and have nothing new to publish when it comes back.
    const follower = mesh.memberNames().reduce((x, y) => (mesh.member(x).publicKey > mesh.member(y).publicKey ? x : y));
    await mesh.stopMember(follower);
    const restarted = Date.now();
    await mesh.startMember(follower);
    await waitFor(`a path report from the restarted ${follower}`, () => (mesh.paths.reports().get(follower)?.at ?? 0) > restarted, 15_000);
    const { settledAt } = await mesh.waitForPaths({ timeoutMs: 40_000 });
    const settleMs = Math.max(...Object.entries(settledAt).filter(([pair]) => pair.split('-').includes(follower)).map(([, at]) => at)) - restarted;
    report(`${follower} restarted: every pair with it settled ${settleMs} ms after the restart began`);
    expect(settleMs).toBeLessThan(SETTLE_BOUND_MS);
  });

  it('drops a member removed at the registry: gone from DNS-SD and from every other device', async () => {
    const c = mesh.member('c');
    const name = instance(c.publicKey);
    expect((await dig('a', `_wireguard._udp.${MESH.zone}`, 'PTR')).answer.map((r) => r.data.toLowerCase())).toContain(name);
    expect((await dig('a', name, 'SRV')).status).toBe('NOERROR');

    const started = Date.now();
    const reply = await mesh.removeMember('c');
    expect(reply).toMatchObject({ publicKey: c.publicKey, name: 'c', address: c.address });
    await waitFor('c gone from a, b and d', async () => (await Promise.all(['a', 'b', 'd'].map((n) => mesh.devicePeers(n)))).every((p) => !p.has(c.publicKey)), 5000, 10);
    const gone = Date.now();
    const removedAt = (await mesh.registry.log.waitFor(logMessage('member removed', { name: 'c' }))).at;
    expect((await mesh.devicePeers('registry')).has(c.publicKey)).toBe(false);
    expect((await dig('b', `_wireguard._udp.${MESH.zone}`, 'PTR')).answer.map((r) => r.data.toLowerCase())).not.toContain(name);
    expect((await dig('b', name, 'SRV')).status).toBe('NXDOMAIN');
    expect((await dig('d', `${c.address}._wireguard._udp.${MESH.zone}`, 'SRV')).status).toBe('NXDOMAIN');
    // c's own process, cut off from the registry, still stops on SIGTERM.
    const stopping = Date.now();
    const exit = await mesh.removed.get('c')!.process!.stop('SIGTERM', 15_000);
    report(`member c removed (wgmesh member remove, CLI start-up included): the registry removed it ${removedAt - started} ms after the command started, every other device dropped it ${gone - removedAt} ms later; its process then stopped in ${Date.now() - stopping} ms (${JSON.stringify(exit)})`);
    // It ended on the SIGTERM (its NATS connections, cut without a FIN, are not waited for), not on
    // the SIGKILL 15 s later. (Its status is not asserted: once in a CI run it was 1, cause not
    // logged; a service whose close fails no longer leaves the others open, see role-process.spec.)
    expect(exit.signal).toBeNull();
    // The rest of the mesh is untouched.
    expect((await mesh.pairTable()).map((r) => [r.a, r.b, r.path])).toEqual([
      ['a', 'b', 'direct'],
      ['a', 'd', 'direct'],
      ['b', 'd', 'direct'],
    ]);
  });

  it('follows a NAT rebinding: the registry sees the new endpoint, the others apply it, the pairs are direct again', async () => {
    const a = mesh.member('a');
    const others = ['b', 'd'];
    const started = Date.now();
    const listenPort = Number((await lab.exec('a', 'wg', ['show', a.device, 'listen-port'])).stdout.trim());
    // a's other sockets (nat-probe's STUN client) may be rebound too: follow its WireGuard port.
    const rebind = (await lab.rebindNat('a')).find((r) => r.sourcePort === listenPort);
    expect(rebind?.after).toBeDefined();
    if (!rebind?.after) return;
    const moved = `${lab.publicAddressOf('a')}:${rebind.after}`;

    // Nothing is sent for the test: a's own traffic to the hub (NATS over the tunnel, its
    // dataplane state every 5 s) carries the new port there.
    await waitFor('the hub device to see a’s new endpoint', async () => (await mesh.devicePeers('registry')).get(a.publicKey)?.endpoint === moved, 15_000, 20);
    const seenMs = Date.now() - started;
    await waitFor('every other member to apply it', async () => (await Promise.all(others.map((n) => mesh.devicePeers(n)))).every((p) => p.get(a.publicKey)?.endpoint === moved), 5000, 10);
    const followMs = Date.now() - started - seenMs;

    // Idle pairs too: nothing has been sent to a since, yet a's NAT lets the others in at once,
    // because a poked every direct peer from its new port when it saw its own endpoint move (and
    // each peer poked a when it applied it). Without that, the first packet would wait for a's
    // next keepalive (up to 25 s).
    for (const n of others) {
      await waitFor(`a first ping ${n} → a, idle pair, right after the rebind`, () => pingOk(n, 'a'), 2000, 0);
    }
    const idleMs = Date.now() - started;

    // Direct again once both ends send (traffic both ways, as an application's would be): a's
    // packets open its NAT towards each peer, the peer's reach a's new port.
    await waitFor('direct pings between a and every other member', async () => {
      const results = await Promise.all(others.flatMap((n) => [pingOk('a', n), pingOk(n, 'a')]));
      return results.every(Boolean);
    }, 30_000, 0);
    const directMs = Date.now() - started;
    report(`rebind of a (port ${rebind.before.join(',')} → ${rebind.after}): hub saw it after ${seenMs} ms, the others applied it ${followMs} ms later, idle pairs answered ${idleMs} ms after the rebind, all pairs with a pinging directly ${directMs} ms after the rebind`);
    expect(followMs).toBeLessThan(1500);

    for (const n of others) {
      const before = await directBytes(n, 'a');
      expect((await lab.ping(n, a.address, PING)).received).toBe(PING.count);
      expect((await directBytes(n, 'a')) - before).toBeGreaterThanOrEqual(PING_BYTES);
      expect((await mesh.devicePeers(n)).get(a.publicKey)?.endpoint).toBe(moved);
    }
  });

  it('restarts the registry role (peer-discovery, resolver) without dropping a tunnel; its state comes back', async () => {
    const members = ['a', 'b', 'd'];
    const devicesBefore = await Promise.all(members.map((n) => mesh.devicePeers(n)));
    // The programmer logs "applied" at info only when the device changed (peer-discovery's own
    // "desired peers applied" also comes every DNS-SD pull, which re-sends the same set).
    const applied = () => members.map((n) => mesh.member(n).log.messages('applied').length);
    const appliedBefore = applied();
    const registryLog = mesh.registry.log;
    registryLog.poll();
    const from = registryLog.length;

    // 50 ms apart for the whole restart, a → b over their direct tunnel.
    const pings = lab.ping('a', mesh.member('b').address, { count: 160, intervalMs: 50, timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    await mesh.stopRegistry('SIGTERM');
    const stoppedMs = Date.now() - started;
    await mesh.startRegistry();
    const upMs = Date.now() - started;
    const ping = await pings;
    report(`registry role restarted (SIGTERM, exit after ${stoppedMs} ms, "registry up" again after ${upMs} ms): a → b ping ${ping.received}/${ping.sent} answered`);
    expect(ping.sent).toBe(160);
    expect(ping.sent - ping.received).toBeLessThanOrEqual(1);

    // State comes back: DNS-SD answers for every member, the peer table is whole, no peer was
    // removed or re-added anywhere, and the members applied nothing new.
    const ptr = (await dig('a', `_wireguard._udp.${MESH.zone}`, 'PTR')).answer.map((r) => r.data.toLowerCase());
    for (const n of members) expect(ptr).toContain(instance(mesh.member(n).publicKey));
    const { stdout } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    const table = JSON.parse(stdout) as { peers: Array<{ name?: string; endpoint: string | null }> };
    expect(table.peers.map((p) => p.name).sort()).toEqual(members);
    expect(table.peers.every((p) => p.endpoint !== null)).toBe(true);
    const devicesAfter = await Promise.all(members.map((n) => mesh.devicePeers(n)));
    devicesAfter.forEach((after, i) => {
      expect([...after.keys()].sort()).toEqual([...devicesBefore[i].keys()].sort());
      for (const [key, p] of after) expect(p.endpoint).toBe(devicesBefore[i].get(key)?.endpoint);
    });
    expect(registryLog.entries.slice(from).filter((e) => e.json?.msg === 'peer removed from the table')).toEqual([]);
    expect(applied()).toEqual(appliedBefore);
  });
});
