import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContractError, DriverKind, EnrollReply, object, parseDriverKind, parseEnrollReply, parseName, parsePublicKey, string } from '@wgmesh/contracts';
import { keyToBase64, loadOrCreatePrivateKey, publicKeyFromPrivate, type SecretKey } from '@wgmesh/wireguard';

/**
 * A member's local state in its state directory:
 * - `private.key`: the WireGuard private key (base64), mode 0600. It never leaves the node: only
 *   the public key is sent (in the enrolment request).
 * - `enrollment.json`: what the registry answered at enrolment (address, mesh CIDR, registry key,
 *   endpoint and tunnel address) plus our name and public key. No secret: the token is not kept.
 */
export const PRIVATE_KEY_FILE = 'private.key';
export const ENROLLMENT_FILE = 'enrollment.json';

export class MemberStateError extends Error {
  override readonly name = 'MemberStateError';
}

export interface Enrollment extends EnrollReply {
  version: 1;
  /** Our node id (the name we enrolled with). */
  name: string;
  publicKey: string;
  /** ISO time of the enrolment. */
  enrolledAt: string;
  /** The mesh enrolled in (client commands default to it). Absent in states written before it was kept. */
  mesh?: string;
  /** The device `member up` runs this node on, so `wgmesh status` on the node can read it. */
  device?: { name: string; driver: DriverKind };
}

export interface NodeKey {
  publicKey: string;
  /** Path of the private key file (the dataplane-programmer reads it to configure the device). */
  path: string;
  created: boolean;
  readableByOthers: boolean;
}

/**
 * The node's key: `private.key` in the state directory (created, 0600, when missing). Only the
 * public key leaves this function; the private key stays in the file.
 */
export function nodeKey(stateDir: string): NodeKey {
  const path = join(stateDir, PRIVATE_KEY_FILE);
  const file = loadOrCreatePrivateKey(path);
  return { publicKey: keyToBase64(publicKeyFromPrivate(file.key.reveal())), path, created: file.created, readableByOthers: file.readableByOthers };
}

/**
 * The node's private key, for the one thing that needs it besides the device: proving possession
 * at enrolment (an HMAC keyed from it; the key itself is never sent). A SecretKey: never printed.
 */
export function nodePrivateKey(stateDir: string): SecretKey {
  return loadOrCreatePrivateKey(join(stateDir, PRIVATE_KEY_FILE)).key;
}

/** The enrolment state, or null before the first enrolment. */
export function readEnrollment(stateDir: string): Enrollment | null {
  const path = join(stateDir, ENROLLMENT_FILE);
  if (!existsSync(path)) return null;
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const { version, name, publicKey, enrolledAt, mesh, device, ...reply } = value;
    if (version !== 1) throw new ContractError('version', 'must be 1');
    if (typeof enrolledAt !== 'string') throw new ContractError('enrolledAt', 'must be a string');
    const state: Enrollment = { version: 1, name: parseName(name, 'name'), publicKey: parsePublicKey(publicKey, 'publicKey'), enrolledAt, ...parseEnrollReply(reply) };
    if (mesh !== undefined) state.mesh = parseName(mesh, 'mesh');
    if (device !== undefined) {
      const d = object(device, 'device', ['name', 'driver']);
      state.device = { name: string(d.name, 'device.name', 64), driver: parseDriverKind(d.driver, 'device.driver') };
    }
    return state;
  } catch (err) {
    if (!(err instanceof ContractError || err instanceof SyntaxError)) throw err;
    throw new MemberStateError(`${path} is not a valid enrolment state (${err.message}); remove it to enrol again`);
  }
}

/** Writes the enrolment state atomically (temp file, then rename). */
export function writeEnrollment(stateDir: string, state: Enrollment): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, ENROLLMENT_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}
