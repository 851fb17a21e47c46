import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subjectFor, Patterns, REGISTRY_NODE } from '@wgmesh/contracts';
import { createKey, parseCreds, splitEnrollToken, type Credentials } from '@wgmesh/nats-auth';
import { NATS_CREDS_FILE } from '@wgmesh/peer-discovery';
import { buildEnrollRequest } from '@wgmesh/registry';
import { describeE2E, waitFor } from '@wgmesh/testing';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { Lab } from './lab';
import { Mesh, MESH, missingMeshTools, startMesh, WORKSPACE } from './mesh';
import { NATS_CLIENT_SCRIPT, NatsClientJob, NatsClientReply, runNatsClient } from './nats-client';
import { meshView, MeshView } from './mesh-view';
import { findExecutable, missingRequirements } from './requirements';

/**
 * Issue 11: enrolment attacked as an attacker with one valid (reusable) token would, over the
 * public protocol (the registry's public NATS address, from a namespace on the "internet"), in a
 * lab of three members with real wireguard-go. Each attack gets a clear refusal from the registry
 * and changes nothing: the peer table (`wgmesh peers`), DNS-SD, and every device (the hub's and
 * each member's) are as before. Last, a removed member's NATS credential is refused: its open
 * connection is closed by the server within seconds, and a new one is refused, from the very
 * address it was bound to. Member credentials last 20 s here: members renew them over the tunnel
 * and keep working through their expiry, without a restart.
 */
const problems = [...missingRequirements(), ...missingMeshTools(), ...(findExecutable('dig') ? [] : ['dig is missing (DNS-SD checks): apt-get install dnsutils'])];
const report = (line: string) => process.stderr.write(`enrolment e2e: ${line}\n`);
const REGISTER = join(WORKSPACE, 'bin/register.js');
const SCRIPT = join(WORKSPACE, NATS_CLIENT_SCRIPT);
const CREDENTIAL_TTL_S = 20;

describeE2E('enrolment attacked with a real token, in a lab (issue 11)', problems, () => {
  let lab: Lab;
  let mesh: Mesh;
  let token: ReturnType<typeof splitEnrollToken>;
  let before: MeshView;
  const publicNats = () => `nats://${lab.addressOf('registry')}:${MESH.nats}`;
  const attacker = () => {
    const priv = generatePrivateKey();
    return { privateKey: new SecretKey(priv), publicKey: keyToBase64(publicKeyFromPrivate(priv)) };
  };
  /** An enrolment request made as a real client makes it (both proofs), for whatever key pair and name. */
  const request = (name: string, pair: ReturnType<typeof attacker>, overrides: { publicKey?: string } = {}) =>
    buildEnrollRequest({ mesh: MESH.name, name, token: token.token, privateKey: pair.privateKey, publicKey: overrides.publicKey ?? pair.publicKey, registryKey: mesh.registry.publicKey, natsKey: createKey('user').getPublicKey() });
  const enrollSubject = subjectFor(Patterns.enroll, { mesh: MESH.name });

  /** Runs NATS requests from a lab host's namespace with a credential; the replies, in order. */
  const send = (host: string, job: NatsClientJob) => runNatsClient(lab, host, job, WORKSPACE);
  /** Enrolment requests as the attacker sends them: from c's namespace to the registry's public address, with the token's enrolment credential. */
  const enrol = (bodies: unknown[], parallel = false) => send('c', { url: publicNats(), creds: { jwt: token.enrollJwt! }, requests: bodies.map((body) => ({ subject: enrollSubject, body })), parallel });
  const errorOf = (r: NatsClientReply) => ('reply' in r ? (r.reply as { error?: { code: string; message: string } }).error : undefined);

  beforeAll(async () => {
    lab = await Lab.up({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'eim' }, { name: 'c', nat: 'public' }] });
    // Member credentials that last 20 s: every member renews twice or more while the file runs.
    mesh = await startMesh(lab, { registryArgs: ['--member-credential-ttl', `${CREDENTIAL_TTL_S}s`] });
    await mesh.waitForMesh(30_000);
    token = splitEnrollToken(await mesh.createToken('attacker', { reusable: true }));
    await waitFor('every member in DNS-SD with an endpoint', async () => (await meshView(mesh, 'a')).dns.ptr.length === 4, 15_000); // 3 members and the registry (self)
    before = await meshView(mesh, 'a');
  }, 120_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('member credentials expire and are renewed over the tunnel: the members keep working without a restart', async () => {
    const pids = mesh.memberNames().map((n) => mesh.member(n).process!.pid);
    const renewals = (n: string) => mesh.member(n).log.messages('NATS credential renewed').length;
    // Two lifetimes: each member's first credential has expired (the server closed its connections) and it renewed twice.
    await waitFor('every member to renew its credential twice', () => mesh.memberNames().every((n) => renewals(n) >= 2), 3 * CREDENTIAL_TTL_S * 1000, 200);
    const current = parseCreds(readFileSync(join(mesh.member('a').stateDir, NATS_CREDS_FILE), 'utf8'));
    const claims = JSON.parse(Buffer.from(current.jwt.split('.')[1], 'base64url').toString('utf8')) as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(CREDENTIAL_TTL_S);
    // Still a working mesh over NATS: a change at the hub (a peer the operator adds by hand) reaches every member's device.
    const extra = attacker().publicKey;
    await lab.exec('registry', 'wg', ['set', mesh.registry.device, 'peer', extra, 'allowed-ips', '10.99.250.9/32', 'endpoint', `${lab.addressOf('registry')}:9`]);
    await waitFor('every member to apply the hub change', async () => (await Promise.all(mesh.memberNames().map((n) => mesh.devicePeers(n)))).every((d) => d.has(extra)), 15_000);
    await lab.exec('registry', 'wg', ['set', mesh.registry.device, 'peer', extra, 'remove']);
    await waitFor('and its removal', async () => (await Promise.all(mesh.memberNames().map((n) => mesh.devicePeers(n)))).every((d) => !d.has(extra)), 15_000);
    expect(mesh.memberNames().map((n) => mesh.member(n).process!.pid)).toEqual(pids);
    expect(mesh.memberNames().every((n) => mesh.member(n).process!.running)).toBe(true);
    report(`credentials renewed per member: ${mesh.memberNames().map((n) => `${n} ${renewals(n)}`).join(', ')} (lifetime ${CREDENTIAL_TTL_S} s)`);
    before = await meshView(mesh, 'a');
  }, 120_000);

  it('enrolling as the registry’s name is refused, naming the rule; nothing changes', async () => {
    const [r] = await enrol([request(REGISTRY_NODE, attacker())]);
    expect(errorOf(r)).toEqual({ code: 'invalid_request', message: expect.stringContaining(`name: "${REGISTRY_NODE}" is reserved: it is the registry's own node id`) });
    expect(await meshView(mesh, 'a')).toEqual(before);
  }, 60_000);

  it('enrolling another member’s public key without its private key is refused, naming the key; nothing changes, and its NAT reports are still taken', async () => {
    const b = mesh.member('b');
    const rejected = () => mesh.registry.log.messages('rejected a NAT report').length;
    const rejectedBefore = rejected();
    const [asNew, asItself] = await enrol([request('evil', attacker(), { publicKey: b.publicKey }), request('b', attacker(), { publicKey: b.publicKey })]);
    for (const r of [asNew, asItself]) expect(errorOf(r)).toEqual({ code: 'not_key_holder', message: `the request is not signed by the holder of the private key of ${b.publicKey}` });
    expect(await meshView(mesh, 'a')).toEqual(before);
    // b is still b: pinged through its own tunnel, and its NAT reports (every 3 s) are not rejected.
    expect((await lab.ping('a', b.address, { count: 3, intervalMs: 200, timeoutMs: 1000 })).received).toBe(3);
    expect(rejected()).toBe(rejectedBefore);
  }, 60_000);

  it('the raw token is refused by name; nothing changes', async () => {
    const pair = attacker();
    const [r] = await enrol([{ publicKey: pair.publicKey, name: 'raw', token: token.token }]);
    expect(errorOf(r)).toEqual({ code: 'invalid_request', message: expect.stringContaining('token: the raw token is never accepted') });
    expect(await meshView(mesh, 'a')).toEqual(before);
  }, 60_000);

  it('concurrent enrolments of one name, and of one key, have exactly one winner; the members are untouched', async () => {
    const names = await enrol([attacker(), attacker(), attacker(), attacker()].map((p) => request('contested', p)), true);
    const key = attacker();
    const keys = await enrol(['k1', 'k2', 'k3', 'k4'].map((n) => request(n, key)), true);
    const won = (rs: NatsClientReply[]) => rs.filter((r) => 'reply' in r && !errorOf(r));
    report(`one name by 4 keys: ${names.map((r) => errorOf(r)?.code ?? 'enrolled').join(', ')}; one key under 4 names: ${keys.map((r) => errorOf(r)?.code ?? 'enrolled').join(', ')}`);
    expect(won(names)).toHaveLength(1);
    expect(names.filter((r) => errorOf(r)?.code === 'name_taken')).toHaveLength(3);
    expect(won(keys)).toHaveLength(1);
    expect(keys.filter((r) => errorOf(r)?.code === 'key_taken')).toHaveLength(3);
    // Exactly the two winners more at the registry; DNS-SD and every member's device as before (the newcomers never handshook).
    const after = await meshView(mesh, 'a');
    const added = after.peers.filter((p) => !before.peers.some((q) => q.publicKey === p.publicKey));
    expect(added.map((p) => p.name).sort()).toEqual(['contested', `k${keys.findIndex((r) => !errorOf(r)) + 1}`]);
    expect(added.find((p) => p.name !== 'contested')?.publicKey).toBe(key.publicKey);
    expect(after.dns.ptr).toEqual(before.dns.ptr); // (no endpoint yet: not browsable)
    for (const [name, srv] of Object.entries(before.dns.srv)) expect(after.dns.srv[name]).toEqual(srv);
    for (const m of mesh.memberNames()) expect(after.devices[m]).toEqual(before.devices[m]);
    for (const p of added) await mesh.wgmesh('registry', ['member', 'remove', p.name!, '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    await waitFor('the table as before', async () => JSON.stringify((await meshView(mesh, 'a')).peers) === JSON.stringify(before.peers), 10_000);
  }, 60_000);

  it('a peer with someone else’s address never reaches the hub: a member’s credential may not ask, and the hub’s programmer refuses it from anyone', async () => {
    const a = mesh.member('a');
    const applySubject = subjectFor(Patterns.dataplaneApply, { mesh: MESH.name, node: REGISTRY_NODE });
    const evil = { replace: false, peers: [{ publicKey: attacker().publicKey, endpoint: `${lab.addressOf('c')}:51820`, allowedIps: [`${a.address}/32`] }] };
    // As member c (its own credential, over its tunnel): NATS refuses the publish.
    const c = mesh.member('c');
    const cCreds: Credentials = parseCreds(readFileSync(join(c.stateDir, NATS_CREDS_FILE), 'utf8'));
    const [asMember] = await send('c', { url: `nats://${MESH.registryAddress}:${MESH.nats}`, creds: cCreds, requests: [{ subject: applySubject, body: evil }], timeoutMs: 2000 });
    expect('error' in asMember && asMember.error).toMatch(/Permissions Violation for Publish to "wgmesh\.v1\.lab\.node\.registry\.dataplane\.apply"/);
    // With the registry's own credential (whatever reached it): the hub's programmer checks the membership and refuses.
    const registryCreds = parseCreds(readFileSync(mesh.natsAuth.registryCreds, 'utf8'));
    const asB = { replace: false, peers: [{ ...evil.peers[0], publicKey: mesh.member('b').publicKey }] }; // b's key with a's address
    const [stranger, member] = await send('registry', { url: `nats://127.0.0.1:${MESH.nats}`, creds: registryCreds, requests: [{ subject: applySubject, body: evil }, { subject: applySubject, body: asB }] });
    expect(errorOf(stranger)).toEqual({ code: 'apply_refused', message: expect.stringMatching(/is not an enrolled member: only members go on the hub device/) });
    expect(errorOf(member)).toEqual({ code: 'apply_refused', message: expect.stringContaining(`are not its allocated address ${mesh.member('b').address}/32 (member "b")`) });
    expect(await meshView(mesh, 'a')).toEqual(before);
    expect((await lab.ping('b', a.address, { count: 3, intervalMs: 200, timeoutMs: 1000 })).received).toBe(3);
  }, 60_000);

  it('a removed member’s credential is refused: its open connection is closed within seconds, a new one refused, from the very address it was bound to', async () => {
    const b = mesh.member('b');
    const creds = parseCreds(readFileSync(join(b.stateDir, NATS_CREDS_FILE), 'utf8'));
    // b's credential is bound to b's tunnel address. Someone who holds it (b compromised, or the
    // address handed to someone else) connects from that address: put it on the registry's loopback
    // and connect to it, so the server sees b's address as the source.
    await lab.exec('registry', 'ip', ['addr', 'add', `${b.address}/32`, 'dev', 'lo']);
    const jobFile = join(mesh.dir, 'hold-b.json');
    writeFileSync(jobFile, JSON.stringify({ url: `nats://${b.address}:${MESH.nats}`, creds, hold: true } satisfies NatsClientJob), { mode: 0o600 });
    const holder = lab.spawn('registry', process.execPath, ['-r', REGISTER, SCRIPT, jobFile], {}, { cwd: WORKSPACE });
    try {
      await holder.waitForLine(/^connected$/, 15_000); // the credential works from there: the control
      const removedAt = Date.now();
      await mesh.removeMember('b');
      const closed = JSON.parse(await holder.waitForLine(/^\{"closed"/, 15_000)) as { closed: string };
      const closedMs = Date.now() - removedAt;
      const again = JSON.parse(await holder.waitForLine(/^\{"reconnect"/, 15_000)) as { reconnect: string };
      report(`removed member's connection closed ${closedMs} ms after "member remove" (${closed.closed}); a new connection: ${again.reconnect}`);
      expect(closed.closed).toMatch(/Authorization Violation|Revoked/i);
      expect(closedMs).toBeLessThan(10_000);
      expect(again.reconnect).toMatch(/Authorization Violation/i);
    } finally {
      await holder.stop('SIGTERM', 3000);
      rmSync(jobFile, { force: true });
      await lab.exec('registry', 'ip', ['addr', 'del', `${b.address}/32`, 'dev', 'lo']);
    }
    // b is gone from the table, DNS-SD and the other devices; a and c are as they were with each other.
    await waitFor('b gone from the other devices', async () => !(await mesh.devicePeers('a')).has(b.publicKey) && !(await mesh.devicePeers('c')).has(b.publicKey), 10_000);
    const after = await meshView(mesh, 'a');
    expect(after.peers.map((p) => p.name)).not.toContain('b');
    expect(after.dns.ptr).toHaveLength(before.dns.ptr.length - 1);
    for (const m of ['a', 'c']) {
      const { [b.publicKey]: _gone, ...rest } = before.devices[m];
      expect(after.devices[m]).toEqual(rest);
    }
  }, 60_000);
});
