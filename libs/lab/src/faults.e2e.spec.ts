import { Patterns, PeerState, subjectFor } from '@wgmesh/contracts';
import { readDaemonRecord } from '@wgmesh/dataplane';
import { createKey, splitEnrollToken } from '@wgmesh/nats-auth';
import { buildEnrollRequest } from '@wgmesh/registry';
import { describeE2E, parseDig, waitFor } from '@wgmesh/testing';
import { generatePrivateKey, keyFromBase64, keyToBase32, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { Lab } from './lab';
import { DAEMON_STATE_DIR, Mesh, MESH, missingMeshTools, startMesh, WORKSPACE } from './mesh';
import { NatsClientJob, NatsClientReply, runNatsClient } from './nats-client';
import { logMessage } from './mesh-log';
import { toolEnv } from './exec';
import { findExecutable, missingRequirements } from './requirements';

/**
 * Faults under a running mesh (issue 7, "Hardening"), in the lab with real wireguard-go: members
 * a and b behind endpoint-independent NATs, c public. In order, on one mesh:
 * - NATS killed and restarted: no tunnel drops (continuous pings, direct), a peer change made on
 *   the hub while NATS was down reaches every member's device within 5 s of NATS being back,
 *   and every service is connected again (the next change flows as an event).
 * - the registry role SIGKILLed and restarted: direct tunnels keep passing traffic the whole time
 *   (fail-static), and the state converges after the restart without touching any member.
 * - a member's process (its dataplane-programmer and peer-discovery) SIGKILLed: its device keeps
 *   its peers and passes traffic; restarted, it adopts the device as it is (same wireguard-go,
 *   no peer removed and re-added: counters and handshakes kept).
 * - Redis killed and restarted (empty: the lab runs it without persistence): DNS-SD keeps
 *   answering from memory, the peer table in Redis equals the hub device again within one watch
 *   interval (+ slack), tunnels untouched; membership and tokens (in the store of record, NATS
 *   JetStream) intact: no member's NAT report is rejected, no new key can take a member's name.
 * - the hub lost (issue 11): `registry up` and the hub's wireguard-go SIGKILLed (a crash, a
 *   reboot), `registry up --create` started again: the hub is rebuilt from the membership (every
 *   member with its last endpoint, dialled at once), DNS-SD complete, within 5 s; members ping
 *   each other directly the whole time and no member device changes.
 * Timing limits carry slack for a loaded 2-core machine; the measured figures are reported.
 */
const problems = [...missingRequirements(), ...missingMeshTools(), ...(findExecutable('dig') ? [] : ['dig is missing (DNS-SD checks): apt-get install dnsutils'])];
const describeLab = (name: string, body: () => void) => describeE2E(name, problems, body);
const report = (line: string) => process.stderr.write(`faults e2e: ${line}\n`);

/** 50 ms apart: `count` pings last count/20 s. */
const pingsOf = (count: number) => ({ count, intervalMs: 50, size: 1000, timeoutMs: 1000 });
/** One ping or reply of 1000 bytes as an IP packet (what a tunnel carries, before WireGuard's own overhead). */
const PING_PACKET = 1028;
const WATCH_MS = 500; // the registry's default --watch-interval
const SLACK_MS = 1500;

describeLab('faults in a lab: NATS, the registry, a member, Redis killed under a running mesh', () => {
  let lab: Lab;
  let mesh: Mesh;
  const members = ['a', 'b', 'c'];

  /**
   * The bytes `from`'s device sent to and received from its direct peer `to`. Grown by at least
   * every ping and reply (count × PING_PACKET each way), they prove the pings took the direct
   * tunnel, all of them: one that fell back to the registry relay would not be counted there.
   */
  const direct = async (from: string, to: string) => {
    const p = (await mesh.devicePeers(from)).get(mesh.member(to).publicKey);
    return { tx: p?.txBytes ?? 0, rx: p?.rxBytes ?? 0 };
  };
  const expectDirect = (before: { tx: number; rx: number }, after: { tx: number; rx: number }, pings: number) => {
    expect(after.tx - before.tx).toBeGreaterThanOrEqual(pings * PING_PACKET);
    expect(after.rx - before.rx).toBeGreaterThanOrEqual(pings * PING_PACKET);
  };
  const instance = (publicKey: string) => `${keyToBase32(keyFromBase64(publicKey))}._wireguard._udp.${MESH.zone}`;
  const srv = async (from: string, publicKey: string) => {
    const r = parseDig((await lab.exec(from, 'dig', [`@${MESH.registryAddress}`, '-p', '53', instance(publicKey), 'SRV', '+norecurse', '+time=1', '+tries=1', '+nocookie'], { timeoutMs: 5000 }).catch((e: { result?: { stdout: string } }) => e.result ?? { stdout: '' })).stdout);
    return r.status === 'NOERROR' && r.answer.some((a) => a.type === 'SRV');
  };
  /** Every member's device peers (key → endpoint), to compare before and after a fault. */
  const devices = async () => Object.fromEntries(await Promise.all(members.map(async (n) => [n, Object.fromEntries([...(await mesh.devicePeers(n))].map(([k, p]) => [k, p.endpoint]))] as const)));
  /** The members' programmers' "applied" lines (logged only when the device changed). */
  const applied = () => members.map((n) => mesh.member(n).log.messages('applied').length);

  /** A peer added on the hub device by hand (as a member whose handshake the hub saw): endpoint on the registry host itself. */
  const extraPeer = { publicKey: keyToBase64(publicKeyFromPrivate(generatePrivateKey())), address: '10.99.250.1' };
  const addExtraPeer = () => lab.exec('registry', 'wg', ['set', mesh.registry.device, 'peer', extraPeer.publicKey, 'allowed-ips', `${extraPeer.address}/32`, 'endpoint', `${lab.addressOf('registry')}:9`]);
  const removeExtraPeer = () => lab.exec('registry', 'wg', ['set', mesh.registry.device, 'peer', extraPeer.publicKey, 'remove']);
  const everyMemberHas = async (key: string, present: boolean) => (await Promise.all(members.map((n) => mesh.devicePeers(n)))).every((d) => d.has(key) === present);

  /** An enrolment under `name` by a new key with a real (reusable) token, over the public protocol from c's namespace. */
  async function enrolAs(name: string): Promise<NatsClientReply[]> {
    const token = splitEnrollToken(await mesh.createToken(`faults-${name}`, { reusable: true }));
    const priv = generatePrivateKey();
    const body = buildEnrollRequest({ mesh: MESH.name, name, token: token.token, privateKey: new SecretKey(priv), publicKey: keyToBase64(publicKeyFromPrivate(priv)), registryKey: mesh.registry.publicKey, natsKey: createKey('user').getPublicKey() });
    const job: NatsClientJob = { url: `nats://${lab.addressOf('registry')}:${MESH.nats}`, creds: { jwt: token.enrollJwt! }, requests: [{ subject: subjectFor(Patterns.enroll, { mesh: MESH.name }), body }] };
    return runNatsClient(lab, 'c', job, WORKSPACE);
  }

  beforeAll(async () => {
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'eim' },
        { name: 'c', nat: 'public' },
      ],
    });
    mesh = await startMesh(lab, { natIntervalS: 3 }); // members report their NAT every 3 s (as lab up): the Redis test counts refusals
    await mesh.waitForMesh(20_000);
  }, 90_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('NATS killed and restarted: no tunnel drops, a change made meanwhile reaches every member within 5 s of its return', async () => {
    const before = await devices();
    const bytes = await direct('a', 'b');
    const pings = lab.ping('a', mesh.member('b').address, pingsOf(100));
    await new Promise((r) => setTimeout(r, 300));
    await mesh.stopService('nats-server', 'SIGKILL');
    const downAt = Date.now();
    await addExtraPeer(); // the hub sees a new peer while NATS is down
    await new Promise((r) => setTimeout(r, 2000));
    expect(await everyMemberHas(extraPeer.publicKey, false)).toBe(true);
    const backAt = await mesh.startService('nats-server');
    await waitFor('every member device to have the peer added while NATS was down', () => everyMemberHas(extraPeer.publicKey, true), 15_000, 20);
    const recoveryMs = Date.now() - backAt;
    const ping = await pings;

    // Every service is connected again: a change now arrives as an event, in well under a second
    // plus one watch interval, through every member's peer-discovery and dataplane-programmer.
    const removedAt = Date.now();
    await removeExtraPeer();
    await waitFor('every member device to drop it', () => everyMemberHas(extraPeer.publicKey, false), 5000, 20);
    const eventMs = Date.now() - removedAt;
    const { stdout } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    expect((JSON.parse(stdout) as { peers: Array<{ name?: string }> }).peers.map((p) => p.name).sort()).toEqual(members);

    report(`NATS down ${backAt - downAt} ms; the hub change made meanwhile was on every member device ${recoveryMs} ms after NATS was back; next change applied in ${eventMs} ms; a → b ${ping.received}/${ping.sent} pings, all direct`);
    expect(recoveryMs).toBeLessThan(5000);
    expect(ping.received).toBe(ping.sent);
    expectDirect(bytes, await direct('a', 'b'), ping.sent); // direct the whole time, not relayed
    expect(await devices()).toEqual(before);
  }, 60_000);

  it('the registry role SIGKILLed and restarted: direct tunnels pass traffic the whole time, the state converges, no member changes', async () => {
    const before = await devices();
    const appliedBefore = applied();
    const bytes = [await direct('a', 'b'), await direct('c', 'a')];
    const registryLog = mesh.registry.log;
    registryLog.poll();
    const from = registryLog.length;
    const pings = [lab.ping('a', mesh.member('b').address, pingsOf(100)), lab.ping('c', mesh.member('a').address, pingsOf(100))];
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    await mesh.stopRegistry('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500)); // down a while: members run on what they have
    await mesh.startRegistry();
    const upMs = Date.now() - killedAt;
    // Converged: DNS-SD answers every member, the peer table is whole.
    await waitFor('DNS-SD to answer for every member', async () => (await Promise.all(members.map((n) => srv('b', mesh.member(n).publicKey)))).every(Boolean), 10_000, 50);
    const { stdout } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    const table = JSON.parse(stdout) as { peers: Array<{ name?: string; endpoint: string | null }> };
    const convergedMs = Date.now() - killedAt;
    const results = await Promise.all(pings);
    registryLog.poll();
    report(
      `registry SIGKILLed, down 1.5 s, "registry up" again ${upMs} ms after the kill, DNS and peer table whole ${convergedMs} ms after; pings a → b ${results[0].received}/${results[0].sent}, c → a ${results[1].received}/${results[1].sent}, all direct`,
    );
    for (const r of results) expect(r.received).toBe(r.sent);
    expectDirect(bytes[0], await direct('a', 'b'), results[0].sent);
    expectDirect(bytes[1], await direct('c', 'a'), results[1].sent);
    expect(table.peers.map((p) => p.name).sort()).toEqual(members);
    expect(table.peers.every((p) => p.endpoint !== null)).toBe(true);
    expect(await devices()).toEqual(before);
    expect(applied()).toEqual(appliedBefore);
    expect(registryLog.entries.slice(from).filter((e) => e.json?.msg === 'peer removed from the table')).toEqual([]);
  }, 60_000);

  it('a member’s process SIGKILLed: its device keeps working; restarted, it adopts the device as it is', async () => {
    const a = mesh.member('a');
    const daemon = readDaemonRecord(a.device, DAEMON_STATE_DIR);
    expect(daemon).not.toBeNull();
    const before = await mesh.devicePeers('a');
    const others = await devices();
    const bytes = [await direct('b', 'a'), await direct('a', 'c')];
    const pings = [lab.ping('b', a.address, pingsOf(120)), lab.ping('a', mesh.member('c').address, pingsOf(120))];
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await mesh.stopMember('a', 'SIGKILL');
    // Killed: the device is untouched and still passes traffic (the pings above run on).
    const whileDown = await mesh.devicePeers('a');
    expect([...whileDown.keys()].sort()).toEqual([...before.keys()].sort());
    await new Promise((r) => setTimeout(r, 1500));
    a.log.poll();
    const from = a.log.length;
    await mesh.startMember('a');
    const upMs = Date.now() - killedAt;
    const results = await Promise.all(pings);
    // Give the restarted member time to apply the desired set (it must change nothing).
    await new Promise((r) => setTimeout(r, 1000));
    const after = await mesh.devicePeers('a');
    const restartLines = a.log.entries.slice(from);
    report(
      `member a SIGKILLed, "member up" again ${upMs} ms later; pings b → a ${results[0].received}/${results[0].sent}, a → c ${results[1].received}/${results[1].sent}; ` +
        `wireguard-go pid ${daemon!.pid} kept: ${readDaemonRecord(a.device, DAEMON_STATE_DIR)?.pid === daemon!.pid}`,
    );
    for (const r of results) expect(r.received).toBe(r.sent);
    expectDirect(bytes[0], await direct('b', 'a'), results[0].sent);
    expectDirect(bytes[1], await direct('a', 'c'), results[1].sent);
    // Adopted, not recreated: the same wireguard-go, the same peers, none removed and re-added
    // (a re-added peer starts again from 0 bytes and no handshake).
    expect(readDaemonRecord(a.device, DAEMON_STATE_DIR)?.pid).toBe(daemon!.pid);
    expect(restartLines.filter((e) => /started wireguard-go|device configured/.test(e.line))).toEqual([]);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [k, p] of before) {
      const now = after.get(k) as PeerState;
      expect(now.endpoint).toBe(p.endpoint);
      expect(now.rxBytes).toBeGreaterThanOrEqual(p.rxBytes);
      expect(now.txBytes).toBeGreaterThanOrEqual(p.txBytes);
      if (p.latestHandshake > 0) expect(now.latestHandshake).toBeGreaterThanOrEqual(p.latestHandshake);
    }
    expect(await devices()).toEqual(others);
  }, 60_000);

  it('Redis killed and restarted empty: DNS-SD answers from memory, the table equals the hub device again within one watch interval; membership and tokens intact', async () => {
    const before = await devices();
    const appliedBefore = applied();
    const tokenList = async () => (await mesh.wgmesh('registry', ['registry', 'token', 'list', '--json', '--mesh', MESH.name, '--state-dir', mesh.registryStateDir])).stdout;
    const tokensBefore = await tokenList();
    const rejectedNat = () => mesh.registry.log.messages('rejected a NAT report').length;
    const rejectedBefore = rejectedNat();
    const bytes = await direct('a', 'b');
    const registryLog = mesh.registry.log;
    registryLog.poll();
    const from = registryLog.length;
    const pings = lab.ping('a', mesh.member('b').address, pingsOf(100));
    let dnsChecks = 0;
    const dnsMisses: string[] = [];
    let probing = true;
    const dnsProbe = (async () => {
      while (probing) {
        dnsChecks++;
        const ok = await Promise.all(members.map((n) => srv('c', mesh.member(n).publicKey)));
        ok.forEach((v, i) => v || dnsMisses.push(`${members[i]} at check ${dnsChecks}`));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await mesh.stopService('redis-server', 'SIGKILL');
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const backAt = await mesh.startService('redis-server');
    await waitFor('the Redis peer table to equal the hub device', () => redisMatchesHub(), WATCH_MS + SLACK_MS + 5000, 20);
    const rebuiltMs = Date.now() - backAt;
    // At least one round of NAT reports (every 3 s) from every member after Redis came back: none refused.
    const natReportersSince = (at: number) => {
      mesh.paths.poll();
      return new Set(mesh.paths.nats.filter((e) => e.at >= at).map((e) => e.report.node)).size;
    };
    await waitFor('a NAT report from every member after Redis came back', () => natReportersSince(backAt) === members.length, 15_000, 50);
    const ping = await pings;
    probing = false;
    await dnsProbe;
    registryLog.poll();
    report(
      `Redis down ${backAt - downAt} ms; the peer table equal to the hub device ${rebuiltMs} ms after it was back (watch interval ${WATCH_MS} ms); ` +
        `${dnsChecks} DNS-SD rounds, ${dnsMisses.length} misses; a → b ${ping.received}/${ping.sent} pings; NAT reports rejected meanwhile: ${rejectedNat() - rejectedBefore}`,
    );
    expect(rejectedNat()).toBe(rejectedBefore);
    expect(await tokenList()).toBe(tokensBefore);
    // The names are still taken: a new key cannot enrol as a member (the membership did not live in Redis).
    const [refusal] = await enrolAs('a');
    expect(refusal).toMatchObject({ reply: { error: { code: 'name_taken', message: expect.stringContaining('the name "a" belongs to another member') } } });
    // One watch interval once the registry is connected again (it retries Redis at most every 500 ms).
    expect(rebuiltMs).toBeLessThanOrEqual(WATCH_MS + 500 + SLACK_MS);
    expect(registryLog.entries.slice(from).some((e) => e.json?.msg === 'the peer table was missing from Redis (flushed, or restarted empty); wrote it back from memory')).toBe(true);
    expect(dnsMisses).toEqual([]);
    expect(ping.received).toBe(ping.sent);
    expectDirect(bytes, await direct('a', 'b'), ping.sent);
    expect(await devices()).toEqual(before);
    expect(applied()).toEqual(appliedBefore);
  }, 60_000);

  it('the hub’s wireguard-go alone SIGKILLed (registry up keeps running): the device is created again and programmed from the membership within 5 s; no direct ping lost', async () => {
    const before = await devices();
    const bytes = await direct('a', 'b');
    const registryLog = mesh.registry.log;
    registryLog.poll();
    const from = registryLog.length;
    const pings = lab.ping('a', mesh.member('b').address, pingsOf(100));
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    const hubPid = await mesh.killHubDevice();
    await waitFor('every member back on the hub, handshaken', async () => {
      const hub = await mesh.devicePeers('registry').catch(() => new Map<string, PeerState>());
      return members.every((n) => (hub.get(mesh.member(n).publicKey)?.latestHandshake ?? 0) > 0);
    }, 15_000, 20);
    const backMs = Date.now() - killedAt;
    await waitFor('DNS-SD to answer for every member', async () => (await Promise.all(members.map((n) => srv('b', mesh.member(n).publicKey)))).every(Boolean), 15_000, 50);
    const dnsMs = Date.now() - killedAt;
    const ping = await pings;
    registryLog.poll();
    const lines = registryLog.entries.slice(from);
    report(`hub wireguard-go ${hubPid} SIGKILLed under a running registry: created again and every member back, handshaken, ${backMs} ms after the kill; DNS-SD complete ${dnsMs} ms; a → b ${ping.received}/${ping.sent} pings, all direct`);
    expect(lines.some((e) => e.json?.msg === 'the device was gone; created it again as it was')).toBe(true);
    expect(lines.some((e) => e.json?.msg === 'hub device programmed from the membership')).toBe(true);
    expect(lines.filter((e) => e.json?.msg === 'peer removed from the table')).toEqual([]);
    expect(backMs).toBeLessThan(5000);
    expect(ping.received).toBe(ping.sent);
    expectDirect(bytes, await direct('a', 'b'), ping.sent);
    expect(await devices()).toEqual(before);
  }, 60_000);

  it('the hub lost (registry up and its wireguard-go SIGKILLed), registry up started again: the hub rebuilt from the membership, every member back with its endpoint and DNS-SD complete within 5 s of it running; no direct ping lost', async () => {
    const before = await devices();
    const appliedBefore = applied();
    const { stdout: tableBefore } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    const endpoints = Object.fromEntries((JSON.parse(tableBefore) as { peers: Array<{ name?: string; endpoint: string | null }> }).peers.map((p) => [p.name, p.endpoint]));
    const bytes = [await direct('a', 'b'), await direct('c', 'a')];
    const registryLog = mesh.registry.log;
    registryLog.poll();
    const from = registryLog.length;
    const pings = [lab.ping('a', mesh.member('b').address, pingsOf(160)), lab.ping('c', mesh.member('a').address, pingsOf(160))];
    await new Promise((r) => setTimeout(r, 500));
    await mesh.stopRegistry('SIGKILL');
    const hubPid = await mesh.killHubDevice();
    await waitFor('the hub device gone with its wireguard-go', async () => !(await lab.exec('registry', 'ip', ['-o', 'link', 'show'])).stdout.includes(mesh.registry.device), 5000, 20);
    await new Promise((r) => setTimeout(r, 1500)); // down a while: members run on their direct tunnels
    const startedAt = Date.now();
    await mesh.startRegistry();
    const upMs = Date.now() - startedAt;
    // Back: the hub holds every member with the endpoint it had, and has handshaken with each; DNS-SD answers for each, over the tunnels.
    const back = async () => {
      const hub = await mesh.devicePeers('registry');
      return members.every((n) => {
        const p = hub.get(mesh.member(n).publicKey);
        return p !== undefined && p.endpoint === endpoints[n] && p.latestHandshake > 0 && p.allowedIps.join() === `${mesh.member(n).address}/32`;
      });
    };
    await waitFor('every member back on the rebuilt hub with its endpoint, handshaken', back, 15_000, 20);
    const hubMs = Date.now() - startedAt;
    await waitFor('DNS-SD to answer for every member', async () => (await Promise.all(members.map((n) => srv('b', mesh.member(n).publicKey)))).every(Boolean), 15_000, 50);
    const dnsMs = Date.now() - startedAt;
    const results = await Promise.all(pings);
    registryLog.poll();
    // The bound is on what registry up does once it runs: from its first log line, after node loaded
    // (and swc compiled) its modules, which a loaded machine can stretch to seconds of its own.
    const runningMs = (registryLog.entries.slice(from).find((e) => e.at >= startedAt)?.at ?? startedAt) - startedAt;
    const { stdout } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    const table = JSON.parse(stdout) as { peers: Array<{ name?: string; endpoint: string | null }> };
    report(
      `hub lost (registry and wireguard-go ${hubPid} SIGKILLed), "registry up" again: running ${runningMs} ms (modules loaded) and up ${upMs} ms after it was started; every member back on the hub with its endpoint and handshaken ${hubMs} ms, ` +
        `DNS-SD complete ${dnsMs} ms after the start; pings a → b ${results[0].received}/${results[0].sent}, c → a ${results[1].received}/${results[1].sent}, all direct`,
    );
    expect(dnsMs - runningMs).toBeLessThan(5000);
    expect(hubMs - runningMs).toBeLessThan(5000);
    for (const r of results) expect(r.received).toBe(r.sent);
    expectDirect(bytes[0], await direct('a', 'b'), results[0].sent);
    expectDirect(bytes[1], await direct('c', 'a'), results[1].sent);
    expect(Object.fromEntries(table.peers.map((p) => [p.name, p.endpoint]))).toEqual(endpoints);
    expect(await devices()).toEqual(before);
    expect(applied()).toEqual(appliedBefore);
    const lines = registryLog.entries.slice(from);
    expect(lines.filter((e) => e.json?.msg === 'peer removed from the table')).toEqual([]);
    expect(lines.some((e) => e.json?.msg === 'hub device programmed from the membership')).toBe(true);
  }, 90_000);

  /** HGETALL of the mesh's peer table in the lab's Redis (as the registry's ACL user) equals the hub's peers (key, endpoint, allowed IPs). */
  async function redisMatchesHub(): Promise<boolean> {
    const { stdout } = await lab.exec('registry', 'redis-cli', ['--no-auth-warning', '--user', 'wgmesh-registry', '-p', String(MESH.redis), 'HGETALL', `wgmesh:${MESH.name}:peers`], {
      env: toolEnv({ REDISCLI_AUTH: mesh.redisPassword }),
    });
    const lines = stdout.split('\n').filter((l) => l !== '');
    const stored = new Map<string, { endpoint: string | null; allowedIps: string[] }>();
    for (let i = 0; i + 1 < lines.length; i += 2) stored.set(lines[i], JSON.parse(lines[i + 1]));
    const hub = await mesh.devicePeers('registry');
    if (stored.size !== hub.size || hub.size === 0) return false;
    for (const [k, p] of hub) {
      const s = stored.get(k);
      if (!s || s.endpoint !== p.endpoint || JSON.stringify([...s.allowedIps].sort()) !== JSON.stringify([...p.allowedIps].sort())) return false;
    }
    return true;
  }
});
