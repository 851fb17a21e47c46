import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { EnrollReply, parseEnrollReply, parseNodeId, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { buildEnrollRequest } from '@wgmesh/registry';
import { credentialOptions, CredentialsError, EnrollToken, splitEnrollToken } from '@wgmesh/nats-auth';
import { Enrollment, memberCredsPath, natsUserKey, nodePrivateKey, readEnrollment, writeEnrollment, writeMemberCreds } from '@wgmesh/peer-discovery';
import { canonicalCidr } from '@wgmesh/netaddr';
import { enrollNatsUrl, type PeerDiscoveryConfig } from '../config';

/** Enrolment cannot succeed as configured (refused token, wrong registry, missing option). */
export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
}

/** Codes of the registry's enrolment replies that retrying cannot fix (`busy`, `unavailable`, `dataplane_unavailable` can be retried). */
const FINAL = new Set(['enrollment_refused', 'name_taken', 'key_taken', 'mesh_full', 'enrollment_disabled', 'invalid_request', 'not_key_holder', 'stale_request', 'replayed']);

/**
 * The node's enrolment: read from the state directory, or obtained from the registry with the
 * token (over `--enroll-nats`, by default the registry's public address, port 4222) and written
 * there. The request proves the token and the node's WireGuard key without sending either (a
 * fresh time and nonce each attempt). Transient failures (registry not up yet, no responders,
 * timeouts) are retried with backoff; a refusal ends with EnrollmentError. A token file is
 * removed once enrolled: the token is needed no more.
 */
export async function ensureEnrolled(config: PeerDiscoveryConfig, publicKey: string, log: Logger, opts: { retryMaxMs?: number } = {}): Promise<Enrollment> {
  const existing = readEnrollment(config.stateDir);
  if (existing) {
    if (existing.publicKey !== publicKey) {
      throw new EnrollmentError(`${config.stateDir}: the enrolment is for key ${existing.publicKey}, but the private key is for ${publicKey}; remove enrollment.json to enrol again`);
    }
    checkReply(existing, config);
    // The credential file is rewritten from the enrolment state when it went missing.
    if (existing.natsJwt && !memberCredsPath(config.stateDir)) writeMemberCreds(config.stateDir, existing.natsJwt);
    if (config.name && config.name !== existing.name) log.warn('--name differs from the enrolled name; keeping the enrolled one', { enrolled: existing.name, given: config.name });
    return existing;
  }
  const text = readToken(config);
  if (text === undefined) throw new EnrollmentError(`not enrolled yet (no enrollment.json in ${config.stateDir}): give --token-file (or --token)`);
  if (!config.registryKey) throw new EnrollmentError('not enrolled yet: give --registry-key (the enrolment request proves this node\'s key to it)');
  const url = enrollNatsUrl(config);
  if (!url) throw new EnrollmentError('not enrolled yet: give --registry-endpoint (or --enroll-nats) to reach the registry');
  const name = config.name ?? defaultName();
  // The token may carry its NATS enrolment credential after a dot (see `wgmesh registry token create`), which names its mesh.
  let token: EnrollToken;
  try {
    token = splitEnrollToken(text);
  } catch (err) {
    throw new EnrollmentError(`the token is malformed: ${(err as Error).message}`);
  }
  if (token.mesh && token.mesh !== config.mesh) throw new EnrollmentError(`this token is for mesh '${token.mesh}', not '${config.mesh}': give --mesh ${token.mesh}`);
  if (token.expiresAt !== undefined && token.expiresAt * 1000 <= Date.now()) throw new EnrollmentError(`the token expired at ${new Date(token.expiresAt * 1000).toISOString()}; create a new one with "wgmesh registry token create"`);
  // Our NATS identity: only its public key goes to the registry, which answers with a JWT for it.
  const natsKey = natsUserKey(config.stateDir).publicKey;
  const privateKey = nodePrivateKey(config.stateDir);
  const credential = token.enrollJwt ? credentialOptions({ jwt: token.enrollJwt }) : {};
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    let bus: MeshBus | null = null;
    try {
      bus = await MeshBus.connect({ servers: url, mesh: config.mesh, name: `wgmesh-enroll-${name}`, connection: { ...credential, waitOnFirstConnect: false, maxReconnectAttempts: 0, timeout: 5000 } });
      // Made afresh each attempt: its time and nonce are accepted once.
      const request = buildEnrollRequest({ mesh: config.mesh, name, token: token.token, privateKey, publicKey, registryKey: config.registryKey, natsKey });
      const reply = await bus.request(Patterns.enroll, request, parseEnrollReply, { timeoutMs: 10_000 });
      checkReply(reply, config);
      if (reply.natsJwt) writeMemberCreds(config.stateDir, reply.natsJwt);
      const state: Enrollment = { version: 1, name, publicKey, enrolledAt: new Date().toISOString(), mesh: config.mesh, ...reply };
      writeEnrollment(config.stateDir, state);
      log.info('enrolled', { name, address: reply.address, meshCidr: reply.meshCidr, registry: reply.registry.endpoint });
      forgetTokenFile(config, log);
      return state;
    } catch (err) {
      if (err instanceof RemoteError && FINAL.has(err.code)) throw new EnrollmentError(`enrolment refused by the registry (${err.code}): ${err.message.replace(/^.*?: \w+: /, '')}`);
      if (err instanceof EnrollmentError) throw err;
      if (err instanceof CredentialsError) throw new EnrollmentError(err.message);
      if (isAuthFailure(err)) {
        throw new EnrollmentError(
          `the registry's NATS refused the connection (${(err as Error).message}): ${token.enrollJwt ? 'the token\'s NATS credential has expired or is not this mesh\'s' : 'it needs authentication, and the token carries no NATS credential (create it with "wgmesh registry token create" on the registry, whose --state-dir holds the NATS authority)'}`,
        );
      }
      if (isPermissionFailure(err)) throw new EnrollmentError(`the token's NATS credential may not enrol in mesh '${config.mesh}' (${(err as Error).message}): is --mesh right?`);
      const transient = err instanceof RequestError || err instanceof RemoteError || isConnectFailure(err);
      if (!transient) throw err;
      const hint = err instanceof RequestError && err.code === 'no_responders' ? `no registry answers enrolment for mesh '${config.mesh}' there yet (is --mesh right?)` : undefined;
      log.warn('enrolment attempt failed; retrying', { attempt, nats: url, error: (err as Error).message, hint, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, opts.retryMaxMs ?? 10_000);
    } finally {
      await bus?.close();
    }
  }
}

/** The token: --token, or --token-file read once ("-": standard input). */
function readToken(config: PeerDiscoveryConfig): string | undefined {
  if (config.token !== undefined) return config.token;
  if (config.tokenFile === undefined) return undefined;
  try {
    return readFileSync(config.tokenFile === '-' ? 0 : config.tokenFile, 'utf8').trim();
  } catch (err) {
    throw new EnrollmentError(`cannot read the token from ${config.tokenFile === '-' ? 'standard input' : config.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Enrolled: the token file goes (the token is of no more use to this node, and must not lie around). */
function forgetTokenFile(config: PeerDiscoveryConfig, log: Logger): void {
  if (config.tokenFile === undefined || config.tokenFile === '-') return;
  try {
    rmSync(config.tokenFile, { force: true });
  } catch (err) {
    log.warn('could not remove the token file after enrolling; remove it by hand', { path: config.tokenFile, error: (err as Error).message });
  }
}

/** The reply must name the registry and mesh we were told to join. */
function checkReply(reply: EnrollReply, config: PeerDiscoveryConfig): void {
  if (config.registryKey && reply.registry.publicKey !== config.registryKey) {
    throw new EnrollmentError(`the registry's key is ${reply.registry.publicKey}, not --registry-key ${config.registryKey}: wrong registry, or remove enrollment.json to enrol again`);
  }
  if (config.meshCidr && canonicalCidr(reply.meshCidr) !== config.meshCidr) {
    throw new EnrollmentError(`the mesh CIDR is ${reply.meshCidr}, not --mesh-cidr ${config.meshCidr}`);
  }
}

function defaultName(): string {
  const host = hostname().toLowerCase().split('.')[0];
  try {
    return parseNodeId(host, 'name');
  } catch (err) {
    throw new EnrollmentError(`the host name "${host}" is not a valid node id (${(err as Error).message}): give --name`);
  }
}

function isAuthFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'AUTHORIZATION_VIOLATION' || code === 'AUTHENTICATION_EXPIRED' || code === 'AUTHENTICATION_TIMEOUT' || /Authorization Violation|Authentication Expired/i.test(String((err as Error)?.message));
}

function isPermissionFailure(err: unknown): boolean {
  return /Permissions Violation/i.test(String((err as Error)?.message)) || (err as { code?: string })?.code === 'PERMISSIONS_VIOLATION';
}

function isConnectFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return typeof code === 'string' && /CONNECTION_REFUSED|CONNECTION_TIMEOUT|TIMEOUT|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET/.test(code);
}
