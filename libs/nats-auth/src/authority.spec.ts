import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountAdmin, AuthorityError, FILES, hasAuthority, initAuthority, loadIssuer, MESH_JETSTREAM } from './authority';
import { credsFileOptions } from './connect';
import { CredentialsError, formatCreds, parseCreds, readCreds, writeCreds } from './creds';
import { createKey, decodeJwt, NKEY_SEED_PATTERN, seedText, verifyJwt } from './jwt';
import { renderServerConfig } from './server-config';

describe('the mesh NATS authority (files)', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'wgmesh-authority-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates keys 0600, public JWTs and a server config without any seed', () => {
    const dir = join(root, 'nats');
    expect(hasAuthority(dir)).toBe(false);
    const r = initAuthority(dir, 'lab');
    expect(r.created).toBe(true);
    expect(hasAuthority(dir)).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of [FILES.operatorSeed, FILES.accountSeed, FILES.systemSeed, FILES.signingSeed, FILES.registryCreds, FILES.systemCreds]) {
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, f), 'utf8')).toMatch(NKEY_SEED_PATTERN);
    }
    for (const f of [FILES.operatorJwt, FILES.accountJwt, FILES.systemJwt, FILES.serverConfig, FILES.authority]) {
      expect(readFileSync(join(dir, f), 'utf8')).not.toMatch(NKEY_SEED_PATTERN);
    }
    const conf = readFileSync(r.serverConfig, 'utf8');
    expect(conf).toContain('resolver: MEMORY');
    expect(conf).toContain(`system_account: "${r.info.systemAccount}"`);
    expect(conf).toContain(`${r.info.account}: "`);
    // The account JWT names the signing key; the operator signed it.
    const account = verifyJwt(readFileSync(join(dir, FILES.accountJwt), 'utf8'));
    expect(account.iss).toBe(r.info.operator);
    expect(account.nats.signing_keys).toEqual([r.info.signingKey]);
    // JetStream is on for the mesh account (the registry's store of record), bounded.
    expect(account.nats.limits).toMatchObject({ disk_storage: MESH_JETSTREAM.disk_storage, mem_storage: MESH_JETSTREAM.mem_storage, streams: MESH_JETSTREAM.streams });
    expect(account.nats.revocations).toBeUndefined();
    // The system account's user (it pushes account updates), signed by the system account.
    expect(verifyJwt(parseCreds(readFileSync(join(dir, FILES.systemCreds), 'utf8')).jwt)).toMatchObject({ iss: r.info.systemAccount });
    // The registry's credential is a user of the account, signed by the signing key.
    const reg = parseCreds(readFileSync(r.registryCreds, 'utf8'));
    expect(verifyJwt(reg.jwt)).toMatchObject({ iss: r.info.signingKey, nats: { issuer_account: r.info.account } });
    expect(readdirSync(dir).sort()).toEqual(Object.values(FILES).sort());
  });

  it('keeps an existing authority (same keys) and refuses another mesh', () => {
    const dir = join(root, 'nats');
    const first = initAuthority(dir, 'lab');
    const again = initAuthority(dir, 'lab');
    expect(again.created).toBe(false);
    expect(again.info).toEqual(first.info);
    expect(() => initAuthority(dir, 'other')).toThrow(/mesh "lab", not "other"/);
  });

  it('issues member and enrolment credentials with the signing key only', () => {
    const dir = join(root, 'nats');
    const { info } = initAuthority(dir, 'lab');
    const issuer = loadIssuer(dir);
    const user = createKey('user').getPublicKey();
    const member = verifyJwt(issuer.memberJwt('a', user, { src: ['10.99.0.2/32'] }));
    expect(member).toMatchObject({ sub: user, iss: info.signingKey, name: 'member-a', nats: { issuer_account: info.account, src: ['10.99.0.2/32'], type: 'user' } });
    expect(() => issuer.memberJwt('a', info.account)).toThrow(AuthorityError);
    const enroll = verifyJwt(issuer.enrollJwt(1_900_000_000_500, 'enroll-abc'));
    expect(enroll).toMatchObject({ exp: 1_900_000_001, name: 'enroll-abc', nats: { bearer_token: true, pub: { allow: ['wgmesh.v1.lab.enroll'] } } });
    expect(enroll.sub).not.toBe(user);
  });

  it('issues expiring member credentials', () => {
    const dir = join(root, 'nats');
    initAuthority(dir, 'lab');
    const user = createKey('user').getPublicKey();
    expect(verifyJwt(loadIssuer(dir).memberJwt('a', user, { expiresAt: 1_900_000_000_900 })).exp).toBe(1_900_000_000);
    expect(() => loadIssuer(dir).memberJwt('registry', user)).toThrow(/"registry" is reserved/);
  });

  it('re-signs the mesh account with revocations and writes it where a restarted nats-server reads it', () => {
    const dir = join(root, 'nats');
    const { info, serverConfig } = initAuthority(dir, 'lab');
    expect(verifyJwt(AccountAdmin.load(dir).systemCredentials.jwt).iss).toBe(info.systemAccount); // system.creds
    rmSync(join(dir, FILES.systemCreds)); // an authority made before system.creds: a user made from the system seed, in memory
    const admin = AccountAdmin.load(dir);
    expect(verifyJwt(admin.systemCredentials.jwt).iss).toBe(info.systemAccount);
    expect(existsSync(join(dir, FILES.systemCreds))).toBe(false);
    const user = createKey('user').getPublicKey();
    const jwt = admin.accountJwt({ [user]: 1_800_000_000 });
    expect(verifyJwt(jwt)).toMatchObject({ iss: info.operator, sub: info.account, nats: { revocations: { [user]: 1_800_000_000 }, signing_keys: [info.signingKey] } });
    admin.save(jwt);
    expect(readFileSync(join(dir, FILES.accountJwt), 'utf8').trim()).toBe(jwt);
    expect(readFileSync(serverConfig, 'utf8')).toContain(`${info.account}: "${jwt}"`);
    expect(readFileSync(serverConfig, 'utf8')).not.toMatch(NKEY_SEED_PATTERN);
    rmSync(join(dir, FILES.operatorSeed));
    expect(() => AccountAdmin.load(dir)).toThrow(/operator.nk \(the operator key signs the account JWT that lists revoked member credentials\): ENOENT/);
  });

  it('refuses a signing key others may read, or one that is not the authority\'s', () => {
    const dir = join(root, 'nats');
    initAuthority(dir, 'lab');
    chmodSync(join(dir, FILES.signingSeed), 0o644);
    expect(() => loadIssuer(dir)).toThrow(/others may read it/);
    chmodSync(join(dir, FILES.signingSeed), 0o600);
    writeFileSync(join(dir, FILES.signingSeed), `${seedText(createKey('account'))}\n`);
    expect(() => loadIssuer(dir)).toThrow(/not the signing key/);
  });

  it('reads creds files as nats tools write them, and refuses mismatched or exposed ones', () => {
    const user = createKey('user');
    const other = createKey('user');
    const { info } = initAuthority(join(root, 'nats'), 'lab');
    const jwt = loadIssuer(join(root, 'nats')).memberJwt('a', user.getPublicKey());
    const text = formatCreds({ jwt, seed: seedText(user) });
    expect(text).toMatch(/-----BEGIN NATS USER JWT-----\n.+\n------END NATS USER JWT------/);
    expect(text).toMatch(/-----BEGIN USER NKEY SEED-----\nSU.+\n------END USER NKEY SEED------/);
    expect(parseCreds(text)).toEqual({ jwt, seed: seedText(user) });
    expect(() => parseCreds(formatCreds({ jwt, seed: seedText(other) }))).toThrow(/seed is for/);
    expect(() => parseCreds(formatCreds({ jwt }))).toThrow(/not a bearer token/);
    expect(() => parseCreds('nothing')).toThrow(CredentialsError);
    const path = join(root, 'a.creds');
    writeCreds(path, { jwt, seed: seedText(user) });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readCreds(path).jwt).toBe(jwt);
    expect(credsFileOptions(path).inboxPrefix).toBe(`_INBOX.${user.getPublicKey()}`);
    chmodSync(path, 0o640);
    expect(() => readCreds(path)).toThrow(/chmod 600/);
    expect(decodeJwt(jwt).nats.issuer_account).toBe(info.account);
  });

  it('renders only safe values into the server config', () => {
    expect(() => renderServerConfig({ operatorJwt: 'a"\ninclude /etc/passwd', systemAccount: 'A', accounts: {} })).toThrow(/refusing/);
    expect(renderServerConfig({ operatorJwt: 'x.y.z', systemAccount: 'ASYS', accounts: { AACC: 'j.w.t' }, listen: '0.0.0.0:4222' })).toBe(
      [
        '# wgmesh: NATS decentralised authentication for this mesh (generated by `wgmesh registry init`).',
        '# Public material only (JWTs). Include it from nats-server.conf, or run `nats-server -c <this file>`.',
        'listen: "0.0.0.0:4222"',
        'operator: "x.y.z"',
        'system_account: "ASYS"',
        'resolver: MEMORY',
        'resolver_preload: {',
        '  AACC: "j.w.t"',
        '}',
        '',
      ].join('\n'),
    );
  });
});
