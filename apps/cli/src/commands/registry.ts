import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CommandError, ConfigError, defineOptions, EXIT, formatOptionsHelp, defineOption, pickOptions, runCommand, values } from '@wgmesh/config';
import { parseDriverKind, REGISTRY_NODE } from '@wgmesh/contracts';
import { DEFAULT_MTU, DEFAULT_STATE_DIR, vppOptions } from '@wgmesh/dataplane';
import { createLogger, parseLevel, redactUrl } from '@wgmesh/log';
import { formatIp, parseCidr } from '@wgmesh/netaddr';
import { PRIVATE_KEY_FILE } from '@wgmesh/peer-discovery';
import { explainRedisFailure, PeerStore, redisFailure } from '@wgmesh/peer-store';
import { destroyRegistryState, openRegistryState, parseDuration, PROOF_WINDOW_MS, readPrefix, RegistryState, StateError, TokenInfo, TokenStore } from '@wgmesh/registry';
import { connect, type NatsConnection } from 'nats';
import { Redis } from 'ioredis';
import { existsSync } from 'node:fs';
import { AUTH_DIR, credsFileOptions, FILES, hasAuthority, initAuthority, joinEnrollToken, loadIssuer } from '@wgmesh/nats-auth';
import { explainNatsConnectFailure, natsCredsOption, natsServers } from '@wgmesh/nats-transport';
import { startDataplaneProgrammer } from '@wgmesh/app/dataplane-programmer';
import { checkPeerDiscoveryConfig, enrols, peerDiscoveryOptions, registryAddress, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { DEFAULT_HTTP_LISTEN, httpListenOption, primaryAndWorkerMetrics, workersCheck } from '@wgmesh/health';
import { mapAccess, mapOptions, MeshMapService } from '@wgmesh/mesh-map';
import { natProbeServerOptions, startNatProbeServer, stunServerAddresses } from '@wgmesh/app/nat-probe';
import { RoleProcess } from './role-process';
import { checkResolverConfig, DnsWorkers, runDnsWorker, startResolver } from '@wgmesh/app/registry-resolver';
import { ago, CLIENT_FAILURES, formatTable } from './peers';

// `wgmesh registry …`: init, token create|list|revoke, up.

const storeOptions = defineOptions([
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name: selects the store of record and the Redis keys' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), default: 'nats://127.0.0.1:4222', description: "the registry's NATS, whose JetStream holds the store of record (members, tokens)" },
  natsCredsOption("the registry's NATS credentials [default: <state-dir>/nats/registry.creds when it exists]"),
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: "the registry's state directory (NATS authority in its nats/ folder: its credential, and the enrolment credential a token carries)" },
  { key: 'json', flag: 'json', parse: values.bool, description: 'print JSON (for scripts)' },
]);
interface StoreConfig {
  mesh: string;
  nats: string;
  natsCreds?: string;
  stateDir: string;
  redis?: string;
  json?: boolean;
}

const redisOption = defineOption({ key: 'redis', flag: 'redis', env: 'WGMESH_REDIS_URL', value: '<url>', parse: values.url(['redis', 'rediss']), default: 'redis://127.0.0.1:6379', description: "the registry's Redis (the peer table cache)" });

export const registryUsage = `Usage: wgmesh registry <command> [options]

Commands:
  init [--yes] [--nats-auth]       set up the mesh's Redis state (with --yes: clear what is there), and its NATS authority
  token create [--reusable] [--ttl 1h] [--name x]
                                   create a pre-auth token for enrolment; prints it once
  token list                       tokens (id, name, uses, expiry; never the token)
  token revoke <id>                delete a token
  up --device <dev> ...            run the registry role in the foreground (see "registry up --help")

Run "wgmesh registry <command> --help" for its options.`;

const tokenUsage = `Usage: wgmesh registry token <create|list|revoke> [options]

Pre-auth tokens for enrolment ("wgmesh member up --token"), kept in the registry's Redis as
SHA-256 hashes only:
  create [--reusable] [--ttl 1h] [--name x]   a new token, printed once
  list                                        id, name, kind, uses, state, expiry (never the token)
  revoke <id>                                 delete a token; members it enrolled stay

Run "wgmesh registry token <action> --help" for its options.`;

export async function registryCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'init':
      return initCommand(rest);
    case 'token': {
      const [action, ...more] = rest;
      if (action === 'create') return tokenCreate(more);
      if (action === 'list') return tokenList(more);
      if (action === 'revoke') return tokenRevoke(more);
      if (action === '--help' || action === '-h' || action === 'help') {
        process.stdout.write(`${tokenUsage}\n`);
        return EXIT.ok;
      }
      process.stderr.write(`wgmesh registry token: ${action === undefined ? 'missing action:' : `unknown action "${action}":`} create, list or revoke\n\n${tokenUsage}\n`);
      return EXIT.usage;
    }
    case 'up':
      return registryUpCommand(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${registryUsage}\n`);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      process.stderr.write(`wgmesh registry: unknown command "${sub}"\n\n${registryUsage}\n`);
      return EXIT.usage;
  }
}

/**
 * Runs `body` with a Redis connection. A failure says what failed (nothing answers, a password
 * wanted or refused, no permission): ioredis reports the server's reply on 'error' and then only
 * "Connection is closed" to the caller, so the first error seen is the one explained.
 */
async function withRedis<T>(url: string, body: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  let first: Error | undefined;
  redis.on('error', (err: Error) => (first ??= err));
  const explain = (err: unknown) => new CommandError(explainRedisFailure(first ?? err, url));
  try {
    await redis.connect();
  } catch (err) {
    throw explain(err);
  }
  try {
    return await body(redis);
  } catch (err) {
    // A reply such as NOPERM, or the connection lost meanwhile: explained; anything else as it is.
    if (!(err instanceof CommandError || err instanceof ConfigError) && redisFailure(first ?? err) !== 'other') throw explain(err);
    throw err;
  } finally {
    redis.disconnect();
  }
}

/** The registry's NATS (with its credential when the state directory has one), for the store of record. */
async function withNats<T>(c: StoreConfig, body: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const creds = c.natsCreds ?? (existsSync(join(c.stateDir, AUTH_DIR, FILES.registryCreds)) ? join(c.stateDir, AUTH_DIR, FILES.registryCreds) : undefined);
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsServers(c.nats), name: 'wgmesh-cli-registry', reconnect: false, timeout: 5000, ...(creds ? credsFileOptions(creds) : {}) });
  } catch (err) {
    throw new CommandError(explainNatsConnectFailure(err, { servers: redactUrl(c.nats), creds }));
  }
  try {
    return await body(nc);
  } finally {
    await nc.close();
  }
}

/** The mesh's store of record (NATS JetStream KV). */
function withState<T>(c: StoreConfig, body: (state: RegistryState, nc: NatsConnection) => Promise<T>): Promise<T> {
  return withNats(c, async (nc) => {
    const state = await openRegistryState(nc, c.mesh, { nonceTtlMs: 2 * PROOF_WINDOW_MS }).catch((err: Error) => {
      throw err instanceof StateError ? new CommandError(err.message) : err;
    });
    return body(state, nc);
  });
}

export const initOptions = defineOptions([
  ...storeOptions,
  redisOption,
  { key: 'yes', flag: 'yes', parse: values.bool, description: 'clear the mesh state that exists (members, tokens, revocations in the store of record; the peer table in Redis)' },
  { key: 'natsAuth', flag: 'nats-auth', env: 'WGMESH_NATS_AUTH', parse: values.bool, description: "also create the mesh's NATS authority in <state-dir>/nats (operator, account and signing keys 0600, the registry's registry.creds, the system user's system.creds, and auth.conf for nats-server: the mesh account with JetStream) unless it has one" },
]);

const initUsage = `Usage: wgmesh registry init [--mesh m] [--nats url] [--redis url] [--yes] [--json] [--nats-auth [--state-dir dir]]

Sets up the registry's state for a mesh: the store of record (members, tokens) in NATS
JetStream and the peer table in Redis. A new mesh needs nothing more. If the mesh already has
state (enrolled members, tokens, a peer table), it is listed and only cleared with --yes:
members must then enrol again. With --nats-auth it first creates the NATS authority: start
nats-server with its auth.conf (and JetStream), then run init again to check the state.

Options:
${formatOptionsHelp(initOptions)}`;

function initCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh registry init', usage: initUsage, options: initOptions, failures: CLIENT_FAILURES }, async (c) => {
    if (c.natsAuth) {
      const auth = initAuthority(join(c.stateDir, AUTH_DIR), c.mesh);
      if (auth.created) {
        // A new authority is a new mesh: nats-server does not know it yet, so there is no state to look at.
        process.stderr.write(`NATS authority of mesh "${c.mesh}" created in ${auth.dir}: run nats-server with ${auth.serverConfig} and JetStream (nats-server -c ${auth.serverConfig} -js -sd <dir>, or include it); registry up uses ${auth.registryCreds}\n`);
        if (c.json) process.stdout.write(`${JSON.stringify({ mesh: c.mesh, authority: auth.dir, created: true }, null, 2)}\n`);
        process.stderr.write('next: start nats-server with it, then wgmesh registry token create, then wgmesh registry up\n');
        return EXIT.ok;
      }
      process.stderr.write(`NATS authority of mesh "${c.mesh}" kept as it is in ${auth.dir}\n`);
    }
    return withRedis(c.redis!, (redis) =>
      withState(c, async (state, nc) => {
        const peers = new PeerStore(redis, c.mesh);
        const found = {
          peers: (await peers.snapshot()).peers.length,
          revision: await peers.revision(),
          tokens: (await new TokenStore(state.kv).list()).length,
          members: (await readPrefix(state.kv, 'members')).size,
        };
        const empty = found.peers + found.revision + found.tokens + found.members === 0;
        if (!empty && !c.yes) {
          const what = `mesh "${c.mesh}" has ${found.members} members and ${found.tokens} tokens (store of record, ${redactUrl(c.nats)}) and ${found.peers} peers at revision ${found.revision} (${redactUrl(c.redis!)})`;
          if (c.json) process.stdout.write(`${JSON.stringify({ mesh: c.mesh, cleared: false, found }, null, 2)}\n`);
          process.stderr.write(`${what}.\nNothing changed: run again with --yes to clear it (members must enrol again).\n`);
          return EXIT.failure;
        }
        if (!empty) await Promise.all([peers.clear(), destroyRegistryState(nc, c.mesh)]);
        if (c.json) process.stdout.write(`${JSON.stringify({ mesh: c.mesh, cleared: !empty, found }, null, 2)}\n`);
        else if (empty) process.stdout.write(`mesh "${c.mesh}": new and empty, ready (no members, no tokens, peer table at revision 0)\n`);
        else process.stdout.write(`mesh "${c.mesh}": cleared ${found.members} members, ${found.tokens} tokens, ${found.peers} peers (revision ${found.revision} → 0); ready\n`);
        process.stderr.write('next: wgmesh registry token create, then wgmesh registry up\n');
        return EXIT.ok;
      }),
    );
  });
}

const createOptions = defineOptions([
  ...storeOptions,
  { key: 'reusable', flag: 'reusable', parse: values.bool, description: 'the token may enrol any number of members until it expires (default: single use)' },
  { key: 'ttl', flag: 'ttl', env: 'WGMESH_TOKEN_TTL', value: '<duration>', parse: parseDuration, default: '1h', description: 'validity: 90s, 15m, 1h, 7d…' },
  { key: 'name', flag: 'name', value: '<label>', parse: values.string, description: 'a label to recognise the token in "token list"' },
]);

const createUsage = `Usage: wgmesh registry token create [--reusable] [--ttl 1h] [--name x] [--json]

Creates a pre-auth token for "wgmesh member up --token". The token is printed once, on stdout
(alone on its line, or in --json); the store of record keeps only its SHA-256 and the key that
checks its proofs. Single-use by default: give each member its own. Hand it over in a file
("member up --token-file", which removes it once enrolled), not on a command line.

Options:
${formatOptionsHelp(createOptions)}

Example:
  TOKEN=$(wgmesh registry token create --ttl 15m --name site-b)`;

function tokenCreate(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh registry token create', usage: createUsage, options: createOptions, failures: CLIENT_FAILURES }, async (c) => {
    const authDir = join(c.stateDir, AUTH_DIR);
    const issuer = hasAuthority(authDir) ? loadIssuer(authDir) : undefined;
    if (issuer && issuer.mesh !== c.mesh) throw new CommandError(`${authDir} is the NATS authority of mesh "${issuer.mesh}", not "${c.mesh}"`);
    return withState(c, async (state) => {
      const created = await new TokenStore(state.kv).create({ reusable: Boolean(c.reusable), ttlSeconds: c.ttl, name: c.name }).catch((err: Error) => {
        throw err.name === 'TokenError' ? new ConfigError(err.message) : err;
      });
      const info = created.info;
      // With NATS authentication: the token's own enrolment credential (may only ask `enroll`, expires with the token).
      const token = joinEnrollToken(created.token, issuer?.enrollJwt(info.expiresAt, `enroll-${info.id}`));
      if (c.json) process.stdout.write(`${JSON.stringify({ token, ...describe(info) }, null, 2)}\n`);
      else {
        process.stdout.write(`${token}\n`);
        process.stderr.write(`token ${info.id}${info.name ? ` (${info.name})` : ''}: ${info.reusable ? 'reusable' : 'single use'}, expires ${new Date(info.expiresAt).toISOString()}; shown only now\n`);
      }
      return EXIT.ok;
    });
  });
}

const listUsage = `Usage: wgmesh registry token list [--json]

Lists the mesh's tokens: id, name, single use or reusable, uses, expiry and state. Never the
tokens themselves. Expired and used-up tokens are listed for 7 days, then forgotten.

Options:
${formatOptionsHelp(storeOptions)}`;

function tokenList(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh registry token list', usage: listUsage, options: storeOptions, failures: CLIENT_FAILURES }, async (c) => {
    return withState(c, async (state) => {
      const list = (await new TokenStore(state.kv).list()).map(describe);
      if (c.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else {
        const now = Math.floor(Date.now() / 1000);
        const rows = list.map((t) => [t.id, t.name ?? '-', t.reusable ? 'reusable' : 'single', String(t.uses), t.state, t.expiresAt, ago(Math.floor(Date.parse(t.createdAt) / 1000), now)]);
        process.stdout.write(`${formatTable(['ID', 'NAME', 'KIND', 'USES', 'STATE', 'EXPIRES', 'CREATED'], rows)}\n`);
      }
      return EXIT.ok;
    });
  });
}

const revokeUsage = `Usage: wgmesh registry token revoke <id>

Deletes a token (by the id "token list" shows); members it enrolled stay enrolled.

Options:
${formatOptionsHelp(storeOptions)}`;

function tokenRevoke(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh registry token revoke', usage: revokeUsage, options: storeOptions, positionals: true, failures: CLIENT_FAILURES }, async (c, rest) => {
    if (rest.length !== 1) throw new ConfigError('give exactly one token id (see "wgmesh registry token list")');
    return withState(c, async (state) => {
      if (!(await new TokenStore(state.kv).revoke(rest[0]))) throw new CommandError(`no token with id "${rest[0]}" in mesh "${c.mesh}"`);
      if (c.json) process.stdout.write(`${JSON.stringify({ revoked: rest[0] })}\n`);
      else process.stdout.write(`token ${rest[0]} revoked\n`);
      return EXIT.ok;
    });
  });
}

function describe(t: TokenInfo) {
  const now = Date.now();
  const state = now >= t.expiresAt ? 'expired' : !t.reusable && t.uses > 0 ? 'used' : 'valid';
  return { id: t.id, name: t.name, reusable: t.reusable, uses: t.uses, state, createdAt: new Date(t.createdAt).toISOString(), expiresAt: new Date(t.expiresAt).toISOString() };
}

// ---- registry up -------------------------------------------------------------------------

/**
 * The hub's dataplane state: read every 5 s (besides a second after the last read when an apply
 * changed the hub), publishing an update with what changed (one with no change when nothing did):
 * its peers' changes reach members and DNS through the hub watcher; the updates feed the mesh map,
 * and `wgmesh status --node registry` asks for the whole state (`dataplane.state.get`).
 * Reading 10,000 peers every second cost more than DNS could spare.
 */
const HUB_STATE_INTERVAL_MS = 5000;

/** `--dns-workers auto`: one DNS worker per core, up to this many. */
export const MAX_AUTO_DNS_WORKERS = 4;

function parseDnsWorkers(text: string): number | 'auto' {
  return text === 'auto' ? 'auto' : values.int(1, 64)(text);
}

/** The DNS worker processes for `--dns-workers` on a machine with `cores` cores. */
export function dnsWorkerCount(option: number | 'auto', cores = availableParallelism()): number {
  return option === 'auto' ? Math.max(1, Math.min(cores, MAX_AUTO_DNS_WORKERS)) : option;
}

export const upOptions = defineOptions([
  { key: 'device', flag: 'device', env: 'WGMESH_DEVICE', value: '<dev>', required: true, parse: values.string, description: 'the hub WireGuard device (adopted as it is, or created with --create)' },
  { key: 'driver', flag: 'driver', env: 'WGMESH_DRIVER', value: '<uapi|wg|vpp>', parse: (t) => parseDriverKind(t, 'value'), default: 'uapi', description: 'uapi (wireguard-go, boringtun), wg (kernel WireGuard) or vpp (FD.io VPP; see --vpp-*)' },
  ...vppOptions,
  { key: 'zone', flag: 'zone', env: 'WGMESH_ZONE', value: '<zone>', repeatable: true, required: true, parse: values.zone, description: 'DNS-SD zone to serve, e.g. mesh.example.' },
  { key: 'dnsListen', flag: 'dns-listen', env: 'WGMESH_DNS_LISTEN', value: '<addr:port>', parse: values.listen, description: 'UDP and TCP address of the DNS-SD server [default: <--address>:53, the tunnel address: members pull over the tunnel, the internet cannot ask]' },
  { key: 'meshCidr', flag: 'mesh-cidr', env: 'WGMESH_MESH_CIDR', value: '<cidr>', required: true, parse: values.cidr, description: "the mesh's tunnel addresses; the hub gets --address in it, members the others" },
  { key: 'selfEndpoint', flag: 'self-endpoint', env: 'WGMESH_SELF_ENDPOINT', value: '<ip:port>', parse: values.endpoint, description: 'serve the hub device itself in DNS-SD with this endpoint (wgsd\'s self)' },
  { key: 'selfAllowed', flag: 'self-allowed', env: 'WGMESH_SELF_ALLOWED', value: '<cidr>', repeatable: true, parse: values.cidr, description: "the hub's allowed IPs in its TXT record [default: --address/32]" },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), default: 'nats://127.0.0.1:4222', description: 'NATS server (members reach it on the public address to enrol, then over the tunnel)' },
  natsCredsOption("NATS credentials of the registry's services [default: <state-dir>/nats/registry.creds when it exists, from `registry init --nats-auth`; with it, enrolment issues members their NATS credentials]"),
  { key: 'redis', flag: 'redis', env: 'WGMESH_REDIS_URL', value: '<url>', parse: values.url(['redis', 'rediss']), default: 'redis://127.0.0.1:6379', description: 'Redis, the cache of the peer table (an ACL user: redis://user:password@host:port); members and tokens live in NATS JetStream' },
  { key: 'publicEndpoint', flag: 'public-endpoint', env: 'WGMESH_PUBLIC_ENDPOINT', value: '<ip:port>', parse: values.endpoint, description: 'where members reach the hub device; enrolment is on only with it' },
  { key: 'address', flag: 'address', env: 'WGMESH_REGISTRY_ADDRESS', value: '<ip>', parse: (t) => formatIp(parseCidr(t).address), description: "the hub's tunnel address [default: first host of --mesh-cidr]" },
  { key: 'listenPort', flag: 'listen-port', env: 'WGMESH_LISTEN_PORT', value: '<port>', parse: values.int(1, 65535), description: 'UDP port of the hub device [default: 51820 with --create; an adopted device keeps its port]' },
  { key: 'create', flag: 'create', env: 'WGMESH_CREATE', parse: values.bool, default: 'false', description: 'create the device when missing (uapi: start wireguard-go), with the key in --state-dir' },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: "the hub's private key (private.key, 0600: made with --create, saved from an adopted device; a lost hub device is created again with it) and the NATS authority (nats/)" },
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name: selects the NATS subjects and Redis keys' },
  ...pickOptions(peerDiscoveryOptions, ['watchInterval', 'handshakeRefresh', 'memberCredentialTtl', 'registryNode', 'hubKeepalive', 'kvReplicas', 'leaseTtl']),
  ...natProbeServerOptions,
  { key: 'ttl', flag: 'ttl', env: 'WGMESH_DNS_TTL', value: '<seconds>', parse: values.int(0, 86400), default: '0', description: 'TTL of every DNS-SD answer' },
  { key: 'dnsWorkers', flag: 'dns-workers', env: 'WGMESH_DNS_WORKERS', value: '<n|auto>', parse: parseDnsWorkers, default: 'auto', description: `processes answering DNS-SD on --dns-listen beside the hub watcher (auto: one per core, at most ${MAX_AUTO_DNS_WORKERS}, one with port 0; 1: in the registry's own process)` },
  httpListenOption(DEFAULT_HTTP_LISTEN.registry),
  ...mapOptions,
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
]);

const upUsage = `Usage: wgmesh registry up --device <dev> --driver uapi|wg|vpp --zone <zone> [--dns-listen <addr:port>]
                          --mesh-cidr <cidr> [options]

Runs the registry role in the foreground, in one process:
  - the hub's dataplane-programmer (node id "registry"): creates or adopts the device, sets its
    key (with --create), tunnel address and listen port, and applies enrolment changes;
  - peer-discovery in registry mode: keeps the membership in NATS JetStream (the store of
    record) and programs the hub from it (also after the hub device was lost), watches the hub
    device, keeps the peer table in Redis, publishes changes on NATS, answers peers.snapshot,
    enroll (proofs of the token and of the key, one atomic claim), members.remove (revoking the
    member's NATS credential) and node.*.credential (renewals);
  - the registry-resolver: DNS-SD (wgsd-compatible) on --dns-listen, in --dns-workers processes
    of its own (forked at the start; each holds the peer table, from Redis and NATS events);
  - nat-probe's STUN server (UDP 3478, and 3479 or --stun-alternate for RFC 5780), which members
    classify their NAT with;
  - the mesh map: a live page of every member and pair (direct or relayed, and why) at
    http://<--http-listen>/map (beyond loopback only with --map-token-file; --map off).
Pointed at an existing WireGuard device with peers and no enrolment at all, it serves the same
DNS-SD answers as wgsd. NATS, with JetStream, must listen on the public address (enrolment) and
on the tunnel address (members' events); Redis only locally.

Options:
${formatOptionsHelp(upOptions)}

Example:
  wgmesh registry up --device wg0 --driver uapi --create --mesh-cidr 10.99.0.0/16 \\
    --zone mesh.example. --dns-listen 10.99.0.1:53 --public-endpoint 203.0.113.1:51820`;

export function registryUpCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh registry up', usage: upUsage, options: upOptions, failures: CLIENT_FAILURES }, async (c) => {
    // A DNS worker (forked below) runs the same command line: it answers DNS, nothing else.
    if (cluster.isWorker) {
      await runDnsWorker();
      return EXIT.ok;
    }
    const pd = checkPeerDiscoveryConfig({
      mode: 'registry', mesh: c.mesh, nats: c.nats, logLevel: c.logLevel, device: c.device, driver: c.driver, vppSocket: c.vppSocket, vppApiDir: c.vppApiDir, redis: c.redis,
      watchInterval: c.watchInterval, handshakeRefresh: c.handshakeRefresh, memberCredentialTtl: c.memberCredentialTtl, meshCidr: c.meshCidr, address: c.address,
      publicEndpoint: c.publicEndpoint, registryNode: c.registryNode, hubKeepalive: c.hubKeepalive, kvReplicas: c.kvReplicas, leaseTtl: c.leaseTtl, stateDir: c.stateDir, keepalive: 25, onDemand: false, connect: [], dnsPullInterval: 30, applyDelay: 10,
    });
    const address = registryAddress(pd)!;
    // NATS authentication: the registry's credential, and the authority that issues members theirs.
    const authDir = join(c.stateDir, AUTH_DIR);
    const natsCreds = c.natsCreds ?? (existsSync(join(authDir, FILES.registryCreds)) ? join(authDir, FILES.registryCreds) : undefined);
    pd.natsCreds = natsCreds;
    pd.natsAuth = hasAuthority(authDir) ? authDir : undefined;
    // DNS-SD on the tunnel address by default: members ask over the tunnel; nobody else can.
    const dnsListen = c.dnsListen ?? { host: address, port: 53 };
    // Workers share one port: with port 0 (any free port), auto means one, in this process.
    const dnsWorkers = dnsListen.port === 0 && c.dnsWorkers === 'auto' ? 1 : dnsWorkerCount(c.dnsWorkers);
    if (dnsWorkers > 1 && dnsListen.port === 0) throw new ConfigError('--dns-workers above 1 needs a fixed --dns-listen port');
    const prefix = parseCidr(c.meshCidr).prefixLength;
    const access = mapAccess(c);
    const log = createLogger({ service: 'registry', level: c.logLevel });
    const map = access.serve ? new MeshMapService({ mesh: c.mesh, token: access.token, log: log.child({ service: 'mesh-map' }) }) : null;
    // /ready combines every service's checks (dataplane.*, peer-discovery.*, resolver.*); it
    // answers from the start, while the services come up (and /map says "starting").
    // With DNS workers, /metrics adds theirs (summed) to this process's.
    const role = await RoleProcess.start(c.httpListen, log, map ? [map.http] : [], dnsWorkers > 1 ? primaryAndWorkerMetrics() : undefined);
    const readiness = role.readiness;
    // DNS workers first: they load while the hub is set up, and start answering once it is.
    const workers = dnsWorkers > 1 ? DnsWorkers.start({ count: dnsWorkers, log: log.child({ service: 'registry-resolver' }), name: 'DNS worker' }) : null;
    if (workers) {
      role.onClose(() => workers.close());
      readiness.scoped('resolver').add(workersCheck(dnsWorkers));
    }

    const dataplane = await startDataplaneProgrammer(
      {
        node: c.registryNode, mesh: c.mesh, nats: c.nats, natsCreds, driver: c.driver, device: c.device, create: c.create,
        privateKeyFile: c.create ? join(c.stateDir, PRIVATE_KEY_FILE) : undefined, listenPort: c.listenPort ?? (c.create ? 51820 : undefined),
        address: [`${address}/${prefix}`], route: [], protect: [], hubOf: enrols(pd) ? c.meshCidr : undefined, mtu: DEFAULT_MTU, stateInterval: HUB_STATE_INTERVAL_MS, statePoll: HUB_STATE_INTERVAL_MS, stateDir: DEFAULT_STATE_DIR, logLevel: c.logLevel,
        vppSocket: c.vppSocket, vppApiDir: c.vppApiDir, vppSrcAddress: c.vppSrcAddress, vppHostInterface: c.vppHostInterface,
      },
      log.child({ service: 'dataplane-programmer' }),
      { readiness: readiness.scoped('dataplane') },
    ).catch((err: Error) => {
      throw new CommandError(`cannot set up the hub device ${c.device}: ${err.message}`);
    });
    role.onClose(() => dataplane.close());
    try {
      if (!dataplane.publicKey) throw new CommandError(`the device ${c.device} has no private key: give --create (a key is made in ${c.stateDir}) or set one with wg`);
      if (!natsCreds) log.warn('NATS without authentication: whoever reaches it can forge peer events and program devices; run "wgmesh registry init --nats-auth" and nats-server with its auth.conf', { stateDir: c.stateDir });
      const discovery = await startPeerDiscovery(pd, log.child({ service: 'peer-discovery' }), { readiness: readiness.scoped('peer-discovery') });
      role.onClose(() => discovery.close());
      const resolverConfig = checkResolverConfig({
        zone: c.zone, listen: dnsListen, mesh: c.mesh, nats: c.nats, natsCreds, redis: c.redis, ttl: c.ttl,
        selfKey: c.selfEndpoint ? dataplane.publicKey : undefined, selfEndpoint: c.selfEndpoint,
        selfAllowed: c.selfEndpoint ? (c.selfAllowed.length ? c.selfAllowed : [`${address}/${address.includes(':') ? 128 : 32}`]) : [],
        udpPayload: 1232, workers: 1, logLevel: c.logLevel,
      });
      let dnsPort = dnsListen.port;
      if (workers) {
        workers.startConfig(resolverConfig);
        await workers.answering().catch((err: Error) => {
          throw new CommandError(`cannot serve DNS-SD on ${dnsListen.host}:${dnsListen.port}: ${err.message}`);
        });
      } else {
        const resolver = await startResolver(resolverConfig, log.child({ service: 'registry-resolver' }), { readiness: readiness.scoped('resolver') });
        role.onClose(() => resolver.close());
        dnsPort = resolver.port;
      }
      const stun = stunServerAddresses(c, c.publicEndpoint);
      if (stun) {
        const server = await startNatProbeServer(stun, log.child({ service: 'nat-probe' })).catch((err: Error) => {
          throw new CommandError(`cannot start the STUN server on ${stun.listen.host}:${stun.listen.port}: ${err.message}`);
        });
        role.onClose(() => server.close());
      }
      if (map) {
        await map.start({
          registry: { publicKey: dataplane.publicKey, address, endpoint: c.publicEndpoint ?? null, device: c.device, driver: c.driver },
          registryNode: c.registryNode, nats: c.nats, natsCreds,
        });
        role.onClose(() => map.close());
      }
      log.info('registry up', {
        registry: c.registryNode, device: c.device, publicKey: dataplane.publicKey, address, listenPort: c.listenPort ?? (c.create ? 51820 : undefined), dns: `${dnsListen.host}:${dnsPort}`, dnsWorkers, natsAuth: natsCreds ? 'on' : 'off',
        zones: c.zone, enrolment: c.publicEndpoint ? 'on' : 'off (no --public-endpoint)',
        map: map && role.url ? `${role.url}/map` : 'off',
      });
      await role.untilStopped();
    } finally {
      await role.close();
    }
    return EXIT.ok;
  });
}
