import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Patterns, subjectFor } from '@wgmesh/contracts';
import { startService, Service, waitFor } from '@wgmesh/testing';
import { connect, NatsConnection, NatsError, Msg } from 'nats';
import { AccountAdmin, initAuthority, loadIssuer } from './authority';
import { pushAccountJwt } from './account-update';
import { writeCreds } from './creds';
import { credentialOptions, credsFileOptions } from './connect';
import { createKey, seedText } from './jwt';

// A real nats-server 2.9 of our own (free port, killed by PID) running the generated auth.conf:
// the registry's credential, two members' credentials (issued as at enrolment) and an enrolment
// credential, each held to what contracts' ACCESS table gives its role.

const MESH = 'authmesh';
const s = (pattern: Parameters<typeof subjectFor>[0], node?: string) => subjectFor(pattern, { mesh: MESH, node });
/** A subject of an addressed pattern: to `node`, from `from`. */
const to = (pattern: Parameters<typeof subjectFor>[0], node: string, from: string) => subjectFor(pattern, { mesh: MESH, node, from });

describe('NATS authentication and authorisation (real nats-server)', () => {
  let dir: string;
  let server: Service;
  let url: string;
  const conns: NatsConnection[] = [];
  let registry: NatsConnection;
  let memberA: NatsConnection;
  let memberB: NatsConnection;
  const errors = new Map<NatsConnection, string[]>();

  async function open(name: string, opts: Record<string, unknown>): Promise<NatsConnection> {
    const nc = await connect({ servers: url, name, reconnect: false, ...opts });
    conns.push(nc);
    const seen: string[] = [];
    errors.set(nc, seen);
    void (async () => {
      for await (const st of nc.status()) if (st.type === 'error') seen.push(String(st.data));
    })();
    return nc;
  }

  function member(node: string, src?: string[]) {
    const user = createKey('user');
    const jwt = loadIssuer(dir).memberJwt(node, user.getPublicKey(), { src });
    return credentialOptions({ jwt, seed: seedText(user) });
  }

  /** Publishes as `from`; resolves with what a registry subscription on the subject received. */
  async function deliver(from: NatsConnection, subject: string): Promise<Msg[]> {
    const got: Msg[] = [];
    const sub = registry.subscribe(subject, { callback: (_e, m) => got.push(m) });
    await registry.flush();
    from.publish(subject, new TextEncoder().encode('{"forged":true}'));
    await from.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150));
    sub.unsubscribe();
    return got;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wgmesh-nats-auth-'));
    const auth = initAuthority(join(dir, 'nats'), MESH);
    dir = auth.dir;
    server = startService('nats-server', ['-c', auth.serverConfig, '-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(dir, 'js')]);
    const line = await server.waitForLine(/Listening for client connections on/);
    url = `nats://${/on (\S+:\d+)/.exec(line)![1]}`;
    registry = await open('registry', credsFileOptions(auth.registryCreds));
    memberA = await open('a', member('a'));
    memberB = await open('b', member('b'));
  });

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
    rmSync(dir.replace(/\/nats$/, ''), { recursive: true, force: true });
  });

  it('refuses a connection without credentials, and one with a JWT from another authority', async () => {
    await expect(connect({ servers: url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    const other = initAuthority(join(mkdtempSync(join(tmpdir(), 'wgmesh-nats-other-')), 'nats'), MESH);
    await expect(connect({ servers: url, reconnect: false, ...credsFileOptions(other.registryCreds) })).rejects.toThrow(/Authorization Violation/i);
    rmSync(other.dir.replace(/\/nats$/, ''), { recursive: true, force: true });
  });

  it('refuses a member JWT presented without its seed (the nonce signature is checked)', async () => {
    const user = createKey('user');
    const jwt = loadIssuer(dir).memberJwt('a', user.getPublicKey());
    const impostor = createKey('user'); // signs the nonce with a key that is not the JWT's
    await expect(connect({ servers: url, reconnect: false, ...credentialOptions({ jwt, seed: seedText(impostor) }) })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: url, reconnect: false, ...credentialOptions({ jwt }) })).rejects.toThrow(/Authorization Violation/i);
  });

  it('lets the registry publish peer events that members receive', async () => {
    const got: Msg[] = [];
    memberA.subscribe(s(Patterns.peerEvents), { callback: (_e, m) => got.push(m) });
    await memberA.flush();
    registry.publish(s(Patterns.peerEvents), new TextEncoder().encode('{}'));
    await registry.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(1);
  });

  it('does not let a member forge a peer event', async () => {
    expect(await deliver(memberA, s(Patterns.peerEvents))).toHaveLength(0);
    expect(errors.get(memberA)).toContain('PERMISSIONS_VIOLATION'); // the server said why, not just dropped it
  });

  it("does not let a member send another node's dataplane request, state or path decisions", async () => {
    expect(await deliver(memberA, s(Patterns.dataplaneApply, 'b'))).toHaveLength(0);
    expect(await deliver(memberA, s(Patterns.dataplaneState, 'b'))).toHaveLength(0);
    expect(await deliver(memberA, s(Patterns.paths, 'b'))).toHaveLength(0);
    expect(await deliver(memberA, s(Patterns.memberRemove))).toHaveLength(0);
    await expect(memberA.request(s(Patterns.connect, 'b'), new TextEncoder().encode('{}'), { timeout: 1000 })).rejects.toThrow(/Permissions Violation|TIMEOUT|timeout/i);
    const served: Msg[] = [];
    memberB.subscribe(s(Patterns.connect, 'b'), { callback: (_e, m) => served.push(m) });
    await memberB.flush();
    await memberA.request(s(Patterns.connect, 'b'), new TextEncoder().encode('{}'), { timeout: 300 }).catch(() => undefined);
    expect(served).toHaveLength(0);
  });

  it('lets a member publish its own node subjects and request the snapshot', async () => {
    expect(await deliver(memberA, s(Patterns.nat, 'a'))).toHaveLength(1);
    expect(await deliver(memberA, s(Patterns.paths, 'a'))).toHaveLength(1);
    expect(await deliver(memberA, s(Patterns.dataplaneState, 'a'))).toHaveLength(1);
    const snap = registry.subscribe(s(Patterns.peerSnapshot), { callback: (_e, m) => m.respond(new TextEncoder().encode('{"revision":1}')) });
    await registry.flush();
    const reply = await memberA.request(s(Patterns.peerSnapshot), new TextEncoder().encode('{}'), { timeout: 2000 });
    expect(new TextDecoder().decode(reply.data)).toBe('{"revision":1}');
    expect(reply.subject.startsWith(`_INBOX.`)).toBe(true);
    snap.unsubscribe();
  });

  it('lets a member serve its own requests (allow responses) and the registry ask them', async () => {
    const sub = memberB.subscribe(s(Patterns.dataplaneApply, 'b'), { callback: (_e, m) => m.respond(new TextEncoder().encode('{"ok":true}')) });
    await memberB.flush();
    const reply = await registry.request(s(Patterns.dataplaneApply, 'b'), new TextEncoder().encode('{}'), { timeout: 2000 });
    expect(new TextDecoder().decode(reply.data)).toBe('{"ok":true}');
    sub.unsubscribe();
  });

  it("lets a member ask another member's path decisions (a pair's follower asks its leader)", async () => {
    const sub = memberB.subscribe(s(Patterns.pathsGet, 'b'), { callback: (_e, m) => m.respond(new TextEncoder().encode('{"node":"b"}')) });
    await memberB.flush();
    const reply = await memberA.request(s(Patterns.pathsGet, 'b'), new TextEncoder().encode('{}'), { timeout: 2000 });
    expect(new TextDecoder().decode(reply.data)).toBe('{"node":"b"}');
    sub.unsubscribe();
  });

  it('lets a member send addressed messages (leader decisions, punches) to any member only as itself', async () => {
    for (const pattern of [Patterns.pathsTo, Patterns.punch]) {
      expect(await deliver(memberA, to(pattern, 'b', 'a'))).toHaveLength(1);
      expect(await deliver(memberA, to(pattern, 'b', 'c'))).toHaveLength(0); // claiming to be c
      expect(await deliver(memberA, to(pattern, 'b', 'b'))).toHaveLength(0); // claiming to be b, to b
      expect(errors.get(memberA)).toContain('PERMISSIONS_VIOLATION'); // refused by the server, not just dropped
    }
  });

  it('lets a member receive the addressed messages for it only, and only its own path updates', async () => {
    for (const pattern of [Patterns.pathsTo, Patterns.punch]) {
      const mine: Msg[] = [];
      memberA.subscribe(to(pattern, 'a', '*'), { callback: (_e, m) => mine.push(m) });
      await memberA.flush();
      memberB.publish(to(pattern, 'a', 'b'), new TextEncoder().encode('{}'));
      await memberB.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(mine.map((m) => m.subject)).toEqual([to(pattern, 'a', 'b')]);
    }
    // Not what b's leaders send b, nor what goes between any two, nor every member's path updates.
    for (const subject of [to(Patterns.pathsTo, 'b', '*'), to(Patterns.punch, '*', '*'), to(Patterns.punch, 'b', 'c'), s(Patterns.paths, '*'), s(Patterns.paths, 'b')]) {
      const seen: Msg[] = [];
      const refused: string[] = [];
      memberA.subscribe(subject, { callback: (e, m) => (e ? refused.push(e.message) : seen.push(m)) });
      await memberA.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(refused.join('\n')).toMatch(/Permissions Violation for Subscription/);
      registry.publish(subject.replace(/\*/g, 'b'), new TextEncoder().encode('{}'));
      await registry.flush();
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toHaveLength(0);
    }
  });

  it("lets a member follow its own path updates but not others' dataplane requests, and not other inboxes", async () => {
    const paths: Msg[] = [];
    memberA.subscribe(s(Patterns.paths, 'a'), { callback: (_e, m) => paths.push(m) });
    await memberA.flush();
    memberA.publish(s(Patterns.paths, 'a'), new TextEncoder().encode('{}'));
    await memberA.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(paths).toHaveLength(1);

    for (const subject of [s(Patterns.dataplaneApply, 'b'), '_INBOX.>', s(Patterns.enroll), '>']) {
      const seen: Msg[] = [];
      const refused: string[] = [];
      memberA.subscribe(subject, { callback: (e, m) => (e ? refused.push(e.message) : seen.push(m)) });
      await memberA.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(refused.join('\n')).toMatch(/Permissions Violation for Subscription/);
      registry.publish(subject === '>' || subject === '_INBOX.>' ? '_INBOX.x.y' : subject, new TextEncoder().encode('{}'));
      await registry.flush();
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toHaveLength(0);
    }
  });

  it('lets the enrolment credential request enroll and nothing else', async () => {
    const issuer = loadIssuer(dir);
    const enroll = await open('enroll', credentialOptions({ jwt: issuer.enrollJwt(Date.now() + 60_000) }));
    const answered: Msg[] = [];
    registry.subscribe(s(Patterns.enroll), { callback: (_e, m) => { answered.push(m); m.respond(new TextEncoder().encode('{"address":"x"}')); } });
    await registry.flush();
    const reply = await enroll.request(s(Patterns.enroll), new TextEncoder().encode('{}'), { timeout: 2000 });
    expect(new TextDecoder().decode(reply.data)).toBe('{"address":"x"}');
    expect(answered).toHaveLength(1);
    expect(await deliver(enroll, s(Patterns.peerSnapshot))).toHaveLength(0);
    expect(await deliver(enroll, s(Patterns.peerEvents))).toHaveLength(0);
    expect(await deliver(enroll, s(Patterns.nat, 'a'))).toHaveLength(0);
    const refused: string[] = [];
    enroll.subscribe(s(Patterns.peerEvents), { callback: (e) => e && refused.push(e.message) });
    await enroll.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(refused.join('\n')).toMatch(/Permissions Violation for Subscription to "wgmesh\.v1\.authmesh\.peers\.events"/);
  });

  it('refuses an expired enrolment credential', async () => {
    const jwt = loadIssuer(dir).enrollJwt(Date.now() - 1000);
    // nats-server 2.9 accepts the CONNECT and closes the connection at once with "User Authentication Expired".
    const outcome = await connect({ servers: url, reconnect: false, ...credentialOptions({ jwt }) }).then(
      (nc) => nc.closed().then((err) => String(err)),
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/Authorization Violation|Authentication Expired/i);
  });

  it("holds a member's credential to its source address (its tunnel address)", async () => {
    await expect(connect({ servers: url, reconnect: false, ...member('c', ['10.99.0.7/32']) })).rejects.toThrow(/Authorization Violation/i);
    const ok = await open('c', member('c', ['127.0.0.1/32']));
    expect(ok.isClosed()).toBe(false);
  });

  it('lets members (and the enrolment credential) touch nothing of JetStream: the store of record is the registry’s', async () => {
    const js = registry.jetstream();
    const kv = await js.views.kv(`wgmesh-${MESH}-acl`, { history: 1 });
    await kv.put('members.a', '{}');
    for (const subject of ['$JS.API.INFO', `$JS.API.STREAM.INFO.KV_wgmesh-${MESH}-acl`, `$KV.wgmesh-${MESH}-acl.members.a`, '$JS.API.STREAM.CREATE.x']) {
      expect(await deliver(memberA, subject)).toHaveLength(0);
      await expect(memberA.request(subject, new TextEncoder().encode('{}'), { timeout: 500 })).rejects.toThrow(/Permissions Violation|TIMEOUT|timeout/i);
    }
    await expect(memberA.jetstream().views.kv(`wgmesh-${MESH}-acl`, { bindOnly: true }).then((k) => k.get('members.a'))).rejects.toThrow();
    expect((await kv.get('members.a'))?.string()).toBe('{}');
    await kv.destroy();
  });

  it('revokes a member’s credential within seconds: its connection is closed and a reconnect refused', async () => {
    const admin = AccountAdmin.load(dir);
    const sys = await open('system', credentialOptions(admin.systemCredentials));
    const user = createKey('user');
    const creds = { jwt: loadIssuer(dir).memberJwt('d', user.getPublicKey()), seed: seedText(user) };
    const victim = await connect({ servers: url, name: 'd', reconnectTimeWait: 100, maxReconnectAttempts: 20, ...credentialOptions(creds) });
    conns.push(victim);
    const other = await open('e', member('e'));
    await new Promise((r) => setTimeout(r, 1100)); // revocation is "issued at or before": a second after the JWT
    const at = Math.floor(Date.now() / 1000);
    const started = Date.now();
    await pushAccountJwt(sys, admin.info.account, admin.accountJwt({ [user.getPublicKey()]: at }));
    const closed = await victim.closed();
    const closedMs = Date.now() - started;
    process.stderr.write(`nats-auth int: a revoked member's connection closed ${closedMs} ms after the account update\n`);
    expect(String(closed)).toMatch(/Authorization Violation|Revoked/i);
    expect(closedMs).toBeLessThan(5000);
    await expect(connect({ servers: url, reconnect: false, ...credentialOptions(creds) })).rejects.toThrow(/Authorization Violation/i);
    // Others stay connected; a credential issued to the same key after the revocation works (re-enrolment).
    expect(other.isClosed()).toBe(false);
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await open('d2', credentialOptions({ jwt: loadIssuer(dir).memberJwt('d', user.getPublicKey()), seed: seedText(user) }));
    expect(fresh.isClosed()).toBe(false);
    // Put the account back as it was for the other tests.
    await pushAccountJwt(sys, admin.info.account, admin.accountJwt({}));
  });

  it('takes a renewed credential from the creds file at the next connection, without a restart, when the old one expires', async () => {
    const user = createKey('user');
    const issuer = loadIssuer(dir);
    const path = join(dir, 'renewing.creds');
    writeCreds(path, { jwt: issuer.memberJwt('f', user.getPublicKey(), { expiresAt: Date.now() + 2000 }), seed: seedText(user) });
    const nc = await open('f', { ...credsFileOptions(path), reconnect: true, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const statuses: string[] = [];
    void (async () => {
      for await (const st of nc.status()) statuses.push(st.type);
    })();
    writeCreds(path, { jwt: issuer.memberJwt('f', user.getPublicKey(), { expiresAt: Date.now() + 60_000 }), seed: seedText(user) });
    await waitFor('the expired credential to be replaced by the renewed one on a reconnect', () => statuses.includes('reconnect'), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(nc.isClosed()).toBe(false);
    const got: Msg[] = [];
    registry.subscribe(s(Patterns.nat, 'f'), { callback: (_e, m) => got.push(m) });
    await registry.flush();
    nc.publish(s(Patterns.nat, 'f'), new TextEncoder().encode('{}'));
    await nc.flush();
    await waitFor('the message over the renewed connection', () => got.length === 1, 5000);
    rmSync(path);
  });
});
