import { ConfigError, OptionSpec, values } from '@wgmesh/config';
import { natsCredsOption } from '@wgmesh/nats-transport';
import { DriverKind, isRegistryNodeId, parseDriverKind } from '@wgmesh/contracts';
import { vppApiOptions } from '@wgmesh/dataplane';
import { DEFAULT_HTTP_LISTEN, httpListenOption, type HttpListen } from '@wgmesh/health';
import { parseLevel, type Level } from '@wgmesh/log';
import { cidrContains, formatIp, parseCidr, parseEndpoint, parseIp } from '@wgmesh/netaddr';
import { parseDuration } from '@wgmesh/registry';

const endpointIp = (ep: string) => formatIp(parseEndpoint(ep).ip);

/** Options of peer-discovery (`wgmesh peer-discovery`), both modes. */
export const peerDiscoveryOptions: OptionSpec[] = [
  { key: 'mode', flag: 'mode', env: 'WGMESH_MODE', value: '<registry|member>', required: true, parse: (t) => oneOf(t, ['registry', 'member']), description: 'registry: watch the hub device, publish the peer table, answer enrolment; member: keep this node\'s peers in line with the table' },
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name: selects the NATS subjects and Redis keys' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), description: 'NATS server (registry default nats://127.0.0.1:4222; member default nats://<registry tunnel address>:4222)' },
  natsCredsOption('NATS credentials file (registry: the registry.creds `wgmesh registry init` writes; member: default <state-dir>/nats.creds, written at enrolment, when it exists)'),
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
  httpListenOption(DEFAULT_HTTP_LISTEN.peerDiscovery),
  // registry mode
  { key: 'device', flag: 'device', env: 'WGMESH_DEVICE', value: '<dev>', parse: values.string, description: 'registry: the hub WireGuard device to watch' },
  { key: 'driver', flag: 'driver', env: 'WGMESH_DRIVER', value: '<uapi|wg|vpp>', parse: (t) => parseDriverKind(t, 'value'), default: 'uapi', description: "registry: how to read the hub device (uapi: wireguard-go socket; wg: kernel through wireguard-tools; vpp: VPP's binary API, see --vpp-socket and --vpp-api-dir)" },
  ...vppApiOptions.map((o) => ({ ...o, description: o.description.replace('--driver vpp:', 'registry, --driver vpp:') })),
  { key: 'redis', flag: 'redis', env: 'WGMESH_REDIS_URL', value: '<url>', parse: values.url(['redis', 'rediss']), default: 'redis://127.0.0.1:6379', description: 'registry: Redis, the cache of the peer table that members and the resolver read (members and tokens live in NATS JetStream)' },
  { key: 'watchInterval', flag: 'watch-interval', env: 'WGMESH_WATCH_INTERVAL_MS', value: '<ms>', parse: values.int(50, 60_000), default: '500', description: 'registry: how often the hub device is read' },
  { key: 'handshakeRefresh', flag: 'handshake-refresh', env: 'WGMESH_HANDSHAKE_REFRESH_S', value: '<seconds>', parse: values.int(0, 86_400), default: '300', description: 'registry: least time between two publications of a peer whose only change is a new handshake' },
  { key: 'meshCidr', flag: 'mesh-cidr', env: 'WGMESH_MESH_CIDR', value: '<cidr>', parse: values.cidr, description: 'the mesh\'s tunnel addresses (registry: enrolment allocates from it; member: checked against the enrolment reply)' },
  { key: 'address', flag: 'address', env: 'WGMESH_REGISTRY_ADDRESS', value: '<ip>', parse: (t) => formatIp(parseCidr(t).address), description: 'registry: its own tunnel address, never allocated [default: first host of --mesh-cidr]' },
  { key: 'publicEndpoint', flag: 'public-endpoint', env: 'WGMESH_PUBLIC_ENDPOINT', value: '<ip:port>', parse: values.endpoint, description: 'registry: where members reach the hub device (sent in enrolment replies; enrolment is off without it)' },
  { key: 'registryNode', flag: 'registry-node', env: 'WGMESH_REGISTRY_NODE', value: '<id>', parse: parseRegistryNode, default: 'registry', description: 'registry: this registry\'s id, the node id of its hub\'s dataplane-programmer: "registry", or "registry-<x>" for a further registry of the same mesh' },
  { key: 'hubKeepalive', flag: 'hub-keepalive', env: 'WGMESH_HUB_KEEPALIVE', value: '<seconds>', parse: values.int(1, 65535), default: '25', description: 'registry: persistent keepalive of the hub towards every member; with several registries 1-2 s, so that members see within seconds that a registry is gone (the relay moves on)' },
  { key: 'kvReplicas', flag: 'kv-replicas', env: 'WGMESH_KV_REPLICAS', value: '<1|3|5>', parse: (t) => String(oneOf(t, ['1', '3', '5'])), default: '1', description: 'registry: JetStream replicas of the store of record when it is created (3 with a three-node NATS cluster)' },
  { key: 'leaseTtl', flag: 'lease-ttl', env: 'WGMESH_LEASE_TTL_MS', value: '<ms>', parse: values.int(1000, 600_000), default: '6000', description: 'registry: how long the peer-table lease lasts without renewal; another registry takes over the peer table after it' },
  { key: 'natsAuth', flag: 'nats-auth', env: 'WGMESH_NATS_AUTH_DIR', value: '<dir>', parse: values.string, description: 'registry: the mesh\'s NATS authority (`wgmesh registry init`): enrolment replies then carry a member credential, and requests without a NATS key are refused' },
  { key: 'memberCredentialTtl', flag: 'member-credential-ttl', env: 'WGMESH_MEMBER_CREDENTIAL_TTL', value: '<duration>', parse: parseDuration, default: '24h', description: 'registry: how long a member\'s NATS credential lasts (members renew it over the tunnel before; one offline longer must enrol again): 15m, 24h, 7d…' },
  // member mode
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: 'member: private key (0600) and enrolment state; registry: the hub\'s private key (private.key), with which enrolment proofs of key possession are checked' },
  { key: 'token', flag: 'token', env: 'WGMESH_TOKEN', value: '<token>', parse: values.string, description: 'member: pre-auth token for the first enrolment (prefer --token-file: a value here stays in the process\'s command line or environment)' },
  { key: 'tokenFile', flag: 'token-file', env: 'WGMESH_TOKEN_FILE', value: '<file>', parse: values.string, description: 'member: a file holding the pre-auth token ("-" for stdin): read once, and removed after the enrolment succeeded' },
  { key: 'name', flag: 'name', env: 'WGMESH_NAME', value: '<id>', parse: values.name, description: 'member: this node\'s name and node id [default: the host name, if it is a valid id]' },
  { key: 'registryKey', flag: 'registry-key', env: 'WGMESH_REGISTRY_KEY', value: '<base64>', parse: values.publicKey, description: 'member: the registry\'s public key (the enrolment reply must match it)' },
  { key: 'registryEndpoint', flag: 'registry-endpoint', env: 'WGMESH_REGISTRY_ENDPOINT', value: '<ip:port>', parse: values.endpoint, description: 'member: the registry\'s public WireGuard endpoint' },
  { key: 'enrollNats', flag: 'enroll-nats', env: 'WGMESH_ENROLL_NATS_URL', value: '<url>', parse: values.url(['nats', 'tls']), description: 'member: NATS for the enrolment request [default: nats://<registry endpoint ip>:4222]' },
  { key: 'keepalive', flag: 'keepalive', env: 'WGMESH_KEEPALIVE', value: '<seconds>', parse: values.int(0, 65535), default: '25', description: 'member: persistent keepalive for direct peers (keeps NAT mappings open)' },
  { key: 'onDemand', flag: 'on-demand', env: 'WGMESH_ON_DEMAND', parse: values.bool, default: 'false', description: 'member: on-demand mode: direct peers only for --connect and `wgmesh connect` (use it on every member of the mesh)' },
  { key: 'connect', flag: 'connect', env: 'WGMESH_CONNECT', value: '<key|address|name>', repeatable: true, parse: values.string, description: 'member: on-demand mode with these direct peers (comma-separated or repeated); more at run time with `wgmesh connect`' },
  { key: 'zone', flag: 'zone', env: 'WGMESH_ZONE', value: '<zone>', parse: values.zone, description: 'member: DNS-SD zone of the registry-resolver, for the periodic pull (no pull without it)' },
  { key: 'dnsServer', flag: 'dns-server', env: 'WGMESH_DNS_SERVER', value: '<addr:port>', parse: values.listen, description: 'member: the registry-resolver [default: <registry tunnel address>:53]' },
  { key: 'dnsPullInterval', flag: 'dns-pull-interval', env: 'WGMESH_DNS_PULL_INTERVAL_S', value: '<seconds>', parse: values.int(1, 86_400), default: '30', description: 'member: how often the DNS-SD view is compared with the NATS-fed table' },
  { key: 'applyDelay', flag: 'apply-delay', env: 'WGMESH_APPLY_DELAY_MS', value: '<ms>', parse: values.int(0, 5000), default: '10', description: 'member: how long a burst of peer events is gathered into one apply' },
];

export interface PeerDiscoveryConfig {
  mode: 'registry' | 'member';
  mesh: string;
  nats?: string;
  /** NATS credentials file (--nats-creds); member default: <state-dir>/nats.creds when it exists. */
  natsCreds?: string;
  /** Registry: directory of the mesh's NATS authority (issues member credentials at enrolment). */
  natsAuth?: string;
  /** Registry: member NATS credential lifetime, seconds. */
  memberCredentialTtl: number;
  logLevel: Level;
  /** `wgmesh peer-discovery`'s HTTP endpoint (/metrics, /health, /ready); null or absent: none. */
  httpListen?: HttpListen;
  device?: string;
  driver: DriverKind;
  /** --driver vpp: VPP's API socket and definitions (defaults: /run/vpp/api.sock, /usr/share/vpp/api). */
  vppSocket?: string;
  vppApiDir?: string;
  redis: string;
  watchInterval: number;
  handshakeRefresh: number;
  meshCidr?: string;
  address?: string;
  publicEndpoint?: string;
  registryNode: string;
  /** Registry: the hub's keepalive towards members (s). */
  hubKeepalive?: number;
  /** Registry: JetStream replicas of the store of record. */
  kvReplicas?: string;
  /** Registry: the peer-table lease's time to live (ms). */
  leaseTtl?: number;
  stateDir: string;
  token?: string;
  tokenFile?: string;
  name?: string;
  registryKey?: string;
  registryEndpoint?: string;
  enrollNats?: string;
  keepalive: number;
  onDemand: boolean;
  connect: string[];
  zone?: string;
  dnsServer?: { host: string; port: number };
  dnsPullInterval: number;
  applyDelay: number;
}

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';

/** Cross-option checks, after each option parsed on its own. */
export function checkPeerDiscoveryConfig(c: PeerDiscoveryConfig): PeerDiscoveryConfig {
  if (c.mode === 'registry') {
    if (!c.device) throw new ConfigError('--mode registry needs --device (the hub WireGuard device)');
    if (c.address && !c.meshCidr) throw new ConfigError('--address needs --mesh-cidr');
    if (c.address && c.meshCidr && !cidrContains(parseCidr(c.meshCidr), parseIp(c.address))) throw new ConfigError(`--address ${c.address} is not inside --mesh-cidr ${c.meshCidr}`);
    if (c.publicEndpoint && !c.meshCidr) throw new ConfigError('enrolment (--public-endpoint) needs --mesh-cidr');
    if (c.memberCredentialTtl < 10) throw new ConfigError(`--member-credential-ttl must be at least 10s (members renew at two thirds of it), got ${c.memberCredentialTtl}s`);
  }
  if (c.token !== undefined && c.tokenFile !== undefined) throw new ConfigError('give --token or --token-file, not both');
  c.connect = c.connect.flatMap((t) => t.split(',').map((s) => s.trim()).filter(Boolean));
  return c;
}

/** True when this registry enrols members (and so keeps a membership): --mesh-cidr and --public-endpoint. */
export function enrols(c: Pick<PeerDiscoveryConfig, 'meshCidr' | 'publicEndpoint'>): boolean {
  return Boolean(c.meshCidr && c.publicEndpoint);
}

/** The registry's tunnel address: --address, or the first host of the mesh CIDR. */
export function registryAddress(c: Pick<PeerDiscoveryConfig, 'address' | 'meshCidr'>): string | undefined {
  if (c.address) return c.address;
  if (!c.meshCidr) return undefined;
  const net = parseCidr(c.meshCidr);
  const bytes = Uint8Array.from(net.address.bytes);
  bytes[bytes.length - 1] += 1;
  return formatIp({ family: net.address.family, bytes });
}

/** The enrolment NATS URL: --enroll-nats, or port 4222 at the registry endpoint's address. */
export function enrollNatsUrl(c: Pick<PeerDiscoveryConfig, 'enrollNats' | 'registryEndpoint'>): string | undefined {
  if (c.enrollNats) return c.enrollNats;
  if (!c.registryEndpoint) return undefined;
  const ip = endpointIp(c.registryEndpoint);
  return `nats://${ip.includes(':') ? `[${ip}]` : ip}:4222`;
}

/** A registry's id: "registry" or "registry-<x>" (ids no member may take). */
export function parseRegistryNode(t: string): string {
  const name = values.name(t);
  if (!isRegistryNodeId(name)) throw new Error(`"${t}" must be "registry" or start with "registry-"`);
  return name;
}

function oneOf<T extends string>(t: string, options: readonly T[]): T {
  if (!options.includes(t as T)) throw new Error(`"${t}" must be one of ${options.join(', ')}`);
  return t as T;
}
