import { hostname } from 'node:os';
import { EnrollReply, parseEnrollReply, parseName, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { enrollProof } from '@wgmesh/registry';
import { credentialOptions, CredentialsError, decodeJwt, EnrollToken, splitEnrollToken } from '@wgmesh/nats-auth';
import { Enrollment, memberCredsPath, natsUserKey, readEnrollment, writeEnrollment, writeMemberCreds } from '@wgmesh/peer-discovery';
import { canonicalCidr } from '@wgmesh/netaddr';
import { enrollNatsUrl, type PeerDiscoveryConfig } from '../config';

/** Enrolment cannot succeed as configured (refused token, wrong registry, missing option). */
export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
}

/** Codes of the registry's enrolment replies that retrying cannot fix. */
const FINAL = new Set(['enrollment_refused', 'name_taken', 'mesh_full', 'enrollment_disabled', 'invalid_request']);

/**
 * The node's enrolment: read from the state directory, or obtained from the registry with the
 * token (over `--enroll-nats`, by default the registry's public address, port 4222) and written
 * there. Transient failures (registry not up yet, no responders, timeouts) are retried with
 * backoff; a refusal ends with EnrollmentError.
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
  if (!config.token) throw new EnrollmentError(`not enrolled yet (no enrollment.json in ${config.stateDir}): give --token`);
  const url = enrollNatsUrl(config);
  if (!url) throw new EnrollmentError('not enrolled yet: give --registry-endpoint (or --enroll-nats) to reach the registry');
  const name = config.name ?? defaultName();
  // The token may carry its NATS enrolment credential after a dot (see `wgmesh registry token create`).
  let token: EnrollToken;
  let expires: number | undefined;
  try {
    token = splitEnrollToken(config.token);
    expires = token.enrollJwt ? decodeJwt(token.enrollJwt).exp : undefined;
  } catch (err) {
    throw new EnrollmentError(`the token is malformed: ${(err as Error).message}`);
  }
  // Our NATS identity: only its public key goes to the registry, which answers with a JWT for it.
  // The token itself is not sent: a signature with the key derived from it proves it (libs/registry token-proof).
  const natsKey = natsUserKey(config.stateDir).publicKey;
  const request = { publicKey, proof: enrollProof(token.token, { mesh: config.mesh, publicKey, name, natsKey }), name, natsKey };
  const credential = token.enrollJwt ? credentialOptions({ jwt: token.enrollJwt }) : {};
  if (expires !== undefined && expires * 1000 <= Date.now()) throw new EnrollmentError(`the token expired at ${new Date(expires * 1000).toISOString()}; create a new one with "wgmesh registry token create"`);
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    let bus: MeshBus | null = null;
    try {
      bus = await MeshBus.connect({ servers: url, mesh: config.mesh, name: `wgmesh-enroll-${name}`, connection: { ...credential, waitOnFirstConnect: false, maxReconnectAttempts: 0, timeout: 5000 } });
      const reply = await bus.request(Patterns.enroll, request, parseEnrollReply, { timeoutMs: 10_000 });
      checkReply(reply, config);
      if (reply.natsJwt) writeMemberCreds(config.stateDir, reply.natsJwt);
      const state: Enrollment = { version: 1, name, publicKey, enrolledAt: new Date().toISOString(), mesh: config.mesh, ...reply };
      writeEnrollment(config.stateDir, state);
      log.info('enrolled', { name, address: reply.address, meshCidr: reply.meshCidr, registry: reply.registry.endpoint });
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
      const transient = err instanceof RequestError || err instanceof RemoteError || isConnectFailure(err);
      if (!transient) throw err;
      log.warn('enrolment attempt failed; retrying', { attempt, nats: url, error: (err as Error).message, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, opts.retryMaxMs ?? 10_000);
    } finally {
      await bus?.close();
    }
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
    return parseName(host, 'name');
  } catch {
    throw new EnrollmentError(`the host name "${host}" is not a valid node id: give --name`);
  }
}

function isAuthFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'AUTHORIZATION_VIOLATION' || code === 'AUTHENTICATION_EXPIRED' || code === 'AUTHENTICATION_TIMEOUT' || /Authorization Violation|Authentication Expired/i.test(String((err as Error)?.message));
}

function isConnectFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return typeof code === 'string' && /CONNECTION_REFUSED|CONNECTION_TIMEOUT|TIMEOUT|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET/.test(code);
}
