import { ConfigError, formatOptionsHelp, OptionSpec, parseOptions, values } from '@wgmesh/config';
import { parsePeerSnapshot, Patterns, PeerRecord } from '@wgmesh/contracts';
import { explainNatsConnectFailure, MeshBus, natsConnectFailure, natsCredsOption, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { Enrollment, MemberStateError, NATS_CREDS_FILE, readEnrollment } from '@wgmesh/peer-discovery';
import { AUTH_DIR, CredentialsError, FILES } from '@wgmesh/nats-auth';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { natsOverTunnel } from '@wgmesh/app/peer-discovery';

// `wgmesh peers`, and what the small client commands (peers, status, connect) share: options to
// reach the mesh's NATS, reading the node's enrolment, the usage/exit-code convention, tables.

/** Exit codes of every wgmesh command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A failure to report on stderr with exit code 1 (not a usage error). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

export const clientOptions: OptionSpec[] = [
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, description: 'mesh name [default: the mesh this node enrolled in (--state-dir), else "default"]' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), description: "NATS server [default: the registry's over the tunnel when this node is enrolled (--state-dir), else nats://127.0.0.1:4222]" },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: "this node's enrolment state (node id, registry address)" },
  natsCredsOption("NATS credentials [default: <state-dir>/nats.creds on a member, <state-dir>/nats/registry.creds on the registry, when it exists]"),
  { key: 'timeout', flag: 'timeout', env: 'WGMESH_TIMEOUT_MS', value: '<ms>', parse: values.int(100, 120_000), default: '5000', description: 'how long to wait for an answer' },
  { key: 'json', flag: 'json', parse: values.bool, description: 'print JSON (for scripts)' },
];

export interface ClientConfig {
  mesh?: string;
  nats?: string;
  natsCreds?: string;
  stateDir: string;
  timeout: number;
  json?: boolean;
}

/** Runs a command body with the wgmesh conventions: --help, usage errors → 2, failures → 1. */
export async function runCommand(name: string, usage: string, specs: OptionSpec[], argv: string[], body: (options: Record<string, unknown>, rest: string[]) => Promise<number>): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(specs, { argv, configEnv: 'WGMESH_CONFIG' });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`wgmesh ${name}: ${err.message}\n`);
    return EXIT.usage;
  }
  if (parsed.help) {
    process.stdout.write(`${usage}\n`);
    return EXIT.ok;
  }
  try {
    return await body(parsed.options, parsed.rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wgmesh ${name}: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof CommandError || err instanceof CredentialsError || err instanceof RemoteError || err instanceof RequestError || err instanceof MemberStateError) {
      process.stderr.write(`wgmesh ${name}: ${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
}

/** This node's enrolment, if its state directory has one. */
export function localEnrollment(c: ClientConfig): Enrollment | null {
  return readEnrollment(c.stateDir);
}

/**
 * Connects to the mesh's NATS (failing after the timeout rather than waiting forever). A failure
 * says what failed: nothing answered, or NATS refused the credential (naming the file).
 */
export async function connectClient(c: ClientConfig, enrollment: Enrollment | null): Promise<MeshBus> {
  const servers = c.nats ?? (enrollment ? natsOverTunnel(enrollment) : 'nats://127.0.0.1:4222');
  const creds = c.natsCreds ?? defaultClientCreds(c.stateDir);
  try {
    return await MeshBus.connect({ servers, creds, mesh: c.mesh ?? enrollment?.mesh ?? 'default', name: 'wgmesh-cli', connection: { waitOnFirstConnect: false, maxReconnectAttempts: 0, timeout: c.timeout } });
  } catch (err) {
    if (err instanceof CredentialsError) throw err;
    let hint = '';
    if (!c.nats && natsConnectFailure(err, creds) === 'unreachable') {
      hint = enrollment
        ? ` (${enrollment.name} reaches the registry's NATS over its tunnel: is its "wgmesh member up" running, and does "wg show" show a handshake with the registry?)`
        : ` (${c.stateDir} holds no enrolment, so ${servers} was tried: on a member, give its --state-dir)`;
    }
    throw new CommandError(`${explainNatsConnectFailure(err, { servers, creds })}${hint}`);
  }
}

/** The credential a client command on this host uses by default: the member's, else the registry's. */
export function defaultClientCreds(stateDir: string): string | undefined {
  return [join(stateDir, NATS_CREDS_FILE), join(stateDir, AUTH_DIR, FILES.registryCreds)].find((p) => existsSync(p));
}

/** The registry's whole peer table over `peers.snapshot` (pages, restarted if the table moves). */
export async function fetchPeerTable(bus: MeshBus, timeoutMs: number): Promise<{ revision: number; peers: PeerRecord[] }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const peers: PeerRecord[] = [];
    let cursor: number | null = 0;
    let revision: number | null = null;
    while (cursor !== null) {
      const page: { revision: number; peers: PeerRecord[]; nextCursor: number | null } = await bus.request(Patterns.peerSnapshot, { cursor, limit: 2000 }, parsePeerSnapshot, { timeoutMs });
      if (revision !== null && page.revision !== revision) break;
      revision = page.revision;
      peers.push(...page.peers);
      cursor = page.nextCursor;
    }
    if (cursor === null && revision !== null) return { revision, peers };
  }
  throw new CommandError('the peer table kept changing while it was read; try again');
}

/** Fixed-width columns, header first. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : (cell ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** "12s ago", "3m ago", "never". */
export function ago(unixSeconds: number | undefined, nowSeconds = Math.floor(Date.now() / 1000)): string {
  if (!unixSeconds) return 'never';
  const s = Math.max(0, nowSeconds - unixSeconds);
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const peersUsage = `Usage: wgmesh peers [--json] [options]

Prints the registry's peer table (over NATS, peers.snapshot): each member's name, tunnel
addresses, registry-observed endpoint, last handshake with the registry and NAT type.

Options:
${formatOptionsHelp(clientOptions)}`;

export function peersCommand(argv: string[]): Promise<number> {
  return runCommand('peers', peersUsage, clientOptions, argv, async (options, rest) => {
    if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}" (see --help)`);
    const c = options as unknown as ClientConfig;
    const bus = await connectClient(c, localEnrollment(c));
    try {
      const table = await fetchPeerTable(bus, c.timeout);
      const peers = [...table.peers].sort((a, b) => (a.name ?? '~').localeCompare(b.name ?? '~') || a.publicKey.localeCompare(b.publicKey));
      if (c.json) process.stdout.write(`${JSON.stringify({ revision: table.revision, peers }, null, 2)}\n`);
      else {
        const rows = peers.map((p) => [p.name ?? '-', p.allowedIps.join(',') || '-', p.endpoint ?? '(none yet)', ago(p.latestHandshake), p.nat ?? '-', p.publicKey]);
        process.stdout.write(`${formatTable(['NAME', 'ADDRESSES', 'ENDPOINT', 'HANDSHAKE', 'NAT', 'PUBLIC KEY'], rows)}\n`);
        process.stderr.write(`${peers.length} peers, revision ${table.revision}\n`);
      }
      return EXIT.ok;
    } finally {
      await bus.close();
    }
  });
}
