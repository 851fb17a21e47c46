import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseName } from '@wgmesh/contracts';
import { Credentials, readCreds, writeCreds, writeSecretFile } from './creds';
import { accountClaims, createKey, encodeJwt, isPublicKey, keyFromSeed, KeyPair, KeyRole, operatorClaims, seedText, userClaims } from './jwt';
import { enrollPermissions, memberPermissions, registryPermissions } from './permissions';
import { renderServerConfig } from './server-config';

/**
 * A mesh's NATS authority, kept in the registry's state directory (`<state-dir>/nats/`):
 *
 *   operator.nk  account.nk  system-account.nk  account-signing.nk   seeds, 0600 (secrets)
 *   registry.creds  system.creds                                     the registry services' and the system user's credentials, 0600
 *   authority.json                                                   mesh and public keys
 *   operator.jwt  account.jwt  system-account.jwt  auth.conf         public: the server's trust
 *
 * The operator key signs the two accounts (the mesh's and the system account); the mesh
 * account's signing key signs every user: the registry's (all rights in the account), each
 * member's (issued at enrolment to the member's own public key, expiring) and the per-token
 * enrolment credentials. The mesh account has JetStream (the registry's store of record) and
 * lists revoked member credentials: revoking one means signing the account again with the
 * operator key and pushing it to nats-server as the system account's user (`AccountAdmin`), so a
 * registry that removes members needs the operator seed at run time. The account identity key
 * is needed only to create the authority.
 */

export const AUTH_DIR = 'nats';
export const FILES = {
  operatorSeed: 'operator.nk',
  accountSeed: 'account.nk',
  systemSeed: 'system-account.nk',
  signingSeed: 'account-signing.nk',
  registryCreds: 'registry.creds',
  systemCreds: 'system.creds',
  authority: 'authority.json',
  operatorJwt: 'operator.jwt',
  accountJwt: 'account.jwt',
  systemJwt: 'system-account.jwt',
  serverConfig: 'auth.conf',
} as const;

export class AuthorityError extends Error {
  override readonly name = 'AuthorityError';
}

export interface AuthorityInfo {
  version: 1;
  mesh: string;
  operator: string;
  account: string;
  systemAccount: string;
  signingKey: string;
}

export interface InitResult {
  info: AuthorityInfo;
  dir: string;
  created: boolean;
  /** The nats-server include file. */
  serverConfig: string;
  registryCreds: string;
}

/**
 * Creates the authority in `dir` when it has none (keys, account JWTs, the registry's credential,
 * the nats-server include file); an existing one is kept as it is (its mesh must match). The
 * server must be (re)started with `auth.conf` after a creation.
 */
export function initAuthority(dir: string, mesh: string): InitResult {
  mesh = parseName(mesh, 'mesh');
  const infoPath = join(dir, FILES.authority);
  if (existsSync(infoPath)) {
    const info = readInfo(dir);
    if (info.mesh !== mesh) throw new AuthorityError(`${dir} holds the NATS authority of mesh "${info.mesh}", not "${mesh}"`);
    for (const f of [FILES.signingSeed, FILES.registryCreds, FILES.serverConfig]) {
      if (!existsSync(join(dir, f))) throw new AuthorityError(`${join(dir, f)} is missing: restore it, or remove ${dir} and run "wgmesh registry init" again (every member must then enrol again)`);
    }
    return { info, dir, created: false, serverConfig: join(dir, FILES.serverConfig), registryCreds: join(dir, FILES.registryCreds) };
  }
  const operator = createKey('operator');
  const account = createKey('account');
  const system = createKey('account');
  const signing = createKey('account');
  const operatorJwt = encodeJwt(operatorClaims({ operator: operator.getPublicKey(), name: `wgmesh-${mesh}`, systemAccount: system.getPublicKey() }), operator);
  const accountJwt = encodeJwt(meshAccountClaims(mesh, account.getPublicKey(), signing.getPublicKey(), {}), operator);
  const systemJwt = encodeJwt(accountClaims({ account: system.getPublicKey(), name: 'SYS' }), operator);
  const info: AuthorityInfo = { version: 1, mesh, operator: operator.getPublicKey(), account: account.getPublicKey(), systemAccount: system.getPublicKey(), signingKey: signing.getPublicKey() };

  writeSecretFile(join(dir, FILES.operatorSeed), `${seedText(operator)}\n`);
  writeSecretFile(join(dir, FILES.accountSeed), `${seedText(account)}\n`);
  writeSecretFile(join(dir, FILES.systemSeed), `${seedText(system)}\n`);
  writeSecretFile(join(dir, FILES.signingSeed), `${seedText(signing)}\n`);
  const issuer = new Issuer(info, signing);
  const registryUser = createKey('user');
  writeCreds(join(dir, FILES.registryCreds), { jwt: issuer.registryJwt(registryUser.getPublicKey()), seed: seedText(registryUser) });
  writeSystemCreds(dir, system);
  const pub = (name: string, text: string) => writeFileSync(join(dir, name), text, { mode: 0o644 });
  pub(FILES.operatorJwt, `${operatorJwt}\n`);
  pub(FILES.accountJwt, `${accountJwt}\n`);
  pub(FILES.systemJwt, `${systemJwt}\n`);
  pub(FILES.serverConfig, serverConfigOf(info, operatorJwt, accountJwt, systemJwt));
  // Written last: its presence says the authority is complete.
  pub(FILES.authority, `${JSON.stringify(info, null, 2)}\n`);
  return { info, dir, created: true, serverConfig: join(dir, FILES.serverConfig), registryCreds: join(dir, FILES.registryCreds) };
}

export function hasAuthority(dir: string): boolean {
  return existsSync(join(dir, FILES.authority));
}

/** The issuer of user credentials (needs authority.json and the signing key's seed). */
export function loadIssuer(dir: string): Issuer {
  const info = readInfo(dir);
  const kp = readSeed(dir, FILES.signingSeed, 'account', 'the account signing key issues member credentials');
  if (kp.getPublicKey() !== info.signingKey) throw new AuthorityError(`${join(dir, FILES.signingSeed)} is not the signing key named in ${FILES.authority}`);
  return new Issuer(info, kp);
}

function readInfo(dir: string): AuthorityInfo {
  const path = join(dir, FILES.authority);
  let info: AuthorityInfo;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as AuthorityInfo;
  } catch (err) {
    throw new AuthorityError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const keys: Array<[keyof AuthorityInfo, KeyRole]> = [['operator', 'operator'], ['account', 'account'], ['systemAccount', 'account'], ['signingKey', 'account']];
  if (info.version !== 1 || typeof info.mesh !== 'string' || keys.some(([k, role]) => !isPublicKey(info[k], role))) throw new AuthorityError(`${path} is not a wgmesh NATS authority`);
  return info;
}

export interface MemberJwtOptions {
  /** Source addresses the member may connect from (its tunnel address: the credential is then bound to its WireGuard key). */
  src?: string[];
  /** Unix ms when it expires (the server then closes its connections; the member renews before). */
  expiresAt?: number;
}

/** Issues user JWTs signed by the mesh account's signing key. */
export class Issuer {
  constructor(
    readonly info: AuthorityInfo,
    private readonly signingKey: KeyPair,
  ) {}

  get mesh(): string {
    return this.info.mesh;
  }

  /** The registry's services: all rights in the mesh's account. */
  registryJwt(userPublicKey: string, name = 'registry'): string {
    return this.sign({ user: this.user(userPublicKey), name, permissions: registryPermissions() });
  }

  /** A member's credential, issued to the member's own key: its node's subjects (contracts' ACCESS). */
  memberJwt(node: string, userPublicKey: string, opts: MemberJwtOptions = {}): string {
    const user = this.user(userPublicKey);
    return this.sign({
      user,
      name: `member-${parseName(node, 'node')}`,
      permissions: memberPermissions(this.mesh, node, user),
      src: opts.src,
      expiresAt: opts.expiresAt === undefined ? undefined : Math.floor(opts.expiresAt / 1000),
    });
  }

  /**
   * An enrolment credential: a bearer JWT (no seed needed) that may only send `enroll` and read
   * its own inbox, expiring at `expiresAt` (unix ms, e.g. with its token).
   */
  enrollJwt(expiresAt: number, name = 'enroll'): string {
    const user = createKey('user').getPublicKey(); // its seed is never needed: the JWT is a bearer token
    return this.sign({ user, name, permissions: enrollPermissions(this.mesh, user), expiresAt: Math.ceil(expiresAt / 1000), bearer: true });
  }

  private user(key: string): string {
    if (!isPublicKey(key, 'user')) throw new AuthorityError('not a NATS user public key');
    return key;
  }

  private sign(opts: Parameters<typeof userClaims>[0]): string {
    return encodeJwt(userClaims({ ...opts, issuerAccount: this.info.account }), this.signingKey);
  }
}

/** JetStream for the mesh account: the registry's store of record (two small KV buckets per mesh). */
export const MESH_JETSTREAM = { mem_storage: 64 * 1024 * 1024, disk_storage: 1024 * 1024 * 1024, streams: 16, consumer: -1 } as const;

function meshAccountClaims(mesh: string, account: string, signingKey: string, revocations: Record<string, number>) {
  return accountClaims({ account, name: `wgmesh-${mesh}`, signingKeys: [signingKey], jetstream: { ...MESH_JETSTREAM }, revocations });
}

function serverConfigOf(info: AuthorityInfo, operatorJwt: string, accountJwt: string, systemJwt: string): string {
  return renderServerConfig({ operatorJwt, systemAccount: info.systemAccount, accounts: { [info.account]: accountJwt, [info.systemAccount]: systemJwt } });
}

/** A user of the system account (no limits): what pushes account JWT updates to nats-server. */
function systemUser(system: KeyPair): Credentials {
  const user = createKey('user');
  return { jwt: encodeJwt(userClaims({ user: user.getPublicKey(), name: 'system' }), system), seed: seedText(user) };
}

function writeSystemCreds(dir: string, system: KeyPair): void {
  writeCreds(join(dir, FILES.systemCreds), systemUser(system));
}

/**
 * What re-signs the mesh account (operator key) with the current revocations, writes it where a
 * restarted nats-server reads it (account.jwt, auth.conf), and names the system user's
 * credential that pushes it to a running one (`pushAccountJwt`).
 */
export class AccountAdmin {
  private constructor(
    readonly info: AuthorityInfo,
    private readonly dir: string,
    private readonly operator: KeyPair,
    /** The system account's user: system.creds, or one made now from the system account's seed (an authority made before system.creds). */
    readonly systemCredentials: Credentials,
  ) {}

  /** Needs the operator seed, and system.creds (or the system account's seed). Reads only. */
  static load(dir: string): AccountAdmin {
    const info = readInfo(dir);
    const operator = readSeed(dir, FILES.operatorSeed, 'operator', 'the operator key signs the account JWT that lists revoked member credentials');
    if (operator.getPublicKey() !== info.operator) throw new AuthorityError(`${join(dir, FILES.operatorSeed)} is not the operator named in ${FILES.authority}`);
    let system: Credentials;
    if (existsSync(join(dir, FILES.systemCreds))) system = readCreds(join(dir, FILES.systemCreds));
    else {
      const account = readSeed(dir, FILES.systemSeed, 'account', 'the system account signs the user that pushes account updates to nats-server');
      if (account.getPublicKey() !== info.systemAccount) throw new AuthorityError(`${join(dir, FILES.systemSeed)} is not the system account named in ${FILES.authority}`);
      system = systemUser(account);
    }
    return new AccountAdmin(info, dir, operator, system);
  }

  /** The mesh account JWT with JetStream and these revocations (user key → unix s), signed now. */
  accountJwt(revocations: Record<string, number>): string {
    return encodeJwt(meshAccountClaims(this.info.mesh, this.info.account, this.info.signingKey, revocations), this.operator);
  }

  /** Writes the account JWT into account.jwt and auth.conf (what a restarted nats-server preloads); throws when the directory is read-only. */
  save(accountJwt: string): void {
    const read = (f: string) => readFileSync(join(this.dir, f), 'utf8').trim();
    writeFileSync(join(this.dir, FILES.accountJwt), `${accountJwt}\n`, { mode: 0o644 });
    writeFileSync(join(this.dir, FILES.serverConfig), serverConfigOf(this.info, read(FILES.operatorJwt), accountJwt, read(FILES.systemJwt)), { mode: 0o644 });
  }
}

function readSeed(dir: string, file: string, role: KeyRole, why: string): KeyPair {
  const path = join(dir, file);
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) throw new AuthorityError(`${path} holds a NATS seed but others may read it: chmod 600 ${path}`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof AuthorityError) throw err;
    throw new AuthorityError(`cannot read ${path} (${why}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return keyFromSeed(text, role);
  } catch {
    throw new AuthorityError(`${path} does not hold a NATS ${role} seed`);
  }
}
