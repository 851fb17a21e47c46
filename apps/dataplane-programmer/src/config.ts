import { parseDriverKind, type DriverKind } from '@wgmesh/contracts';
import { defineOptions, values } from '@wgmesh/config';
import { natsCredsOption } from '@wgmesh/nats-transport';
import { DEFAULT_MTU, DEFAULT_STATE_DIR, DriverOptions, parseInterfaceAddress, vppOptions } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { parseLevel, type Level } from '@wgmesh/log';
import { DEFAULT_HTTP_LISTEN, httpListenOption, type HttpListen } from '@wgmesh/health';
import { parseDeviceName } from '@wgmesh/wireguard';

/** Options of the dataplane-programmer (`wgmesh dataplane`): flags, environment variables, config file keys. */
export const dataplaneOptions = defineOptions([
  { key: 'node', flag: 'node', env: 'WGMESH_NODE', value: '<id>', required: true, parse: values.name, description: 'this node\'s id: apply requests arrive on node.<id>.dataplane.apply' },
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name: selects the NATS subjects' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  natsCredsOption(),
  { key: 'driver', flag: 'driver', env: 'WGMESH_DRIVER', value: '<kind>', parse: (t) => parseDriverKind(t, 'value'), default: 'uapi', description: 'uapi (wireguard-go, boringtun), wg (kernel WireGuard through wg) or vpp' },
  { key: 'device', flag: 'device', env: 'WGMESH_DEVICE', value: '<name>', parse: parseDeviceName, default: 'wg0', description: 'the WireGuard interface this service owns' },
  { key: 'create', flag: 'create', env: 'WGMESH_CREATE', parse: values.bool, default: 'false', description: 'create the device when missing (uapi: start wireguard-go, which outlives this service; vpp: create the wireguard interface)' },
  { key: 'privateKeyFile', flag: 'private-key-file', env: 'WGMESH_PRIVATE_KEY_FILE', value: '<path>', parse: values.string, description: "the device's private key (base64, as wg genkey writes it); created with a new key, mode 0600, when missing. Without it the device keeps its key" },
  { key: 'listenPort', flag: 'listen-port', env: 'WGMESH_LISTEN_PORT', value: '<port>', parse: values.int(1, 65535), description: 'UDP port of the device (without it the device keeps its port)' },
  { key: 'address', flag: 'address', env: 'WGMESH_ADDRESS', value: '<cidr>', repeatable: true, parse: parseInterfaceAddress, description: 'interface address with prefix length, e.g. 10.99.0.5/16' },
  { key: 'route', flag: 'route', env: 'WGMESH_ROUTE', value: '<cidr>', repeatable: true, parse: values.cidr, description: 'extra route through the device, e.g. the mesh CIDR' },
  { key: 'hubOf', flag: 'hub-of', env: 'WGMESH_HUB_OF', value: '<mesh cidr>', parse: values.cidr, description: "this device is the registry's hub for the mesh: every peer an apply request puts on it must be an enrolled member at exactly its address (checked against the registry's store of record in NATS JetStream), whoever asks" },
  { key: 'protect', flag: 'protect', env: 'WGMESH_PROTECT', value: '<public key>', repeatable: true, parse: values.publicKey, description: 'peer never removed, whatever a request says (the registry / bootstrap peer)' },
  { key: 'mtu', flag: 'mtu', env: 'WGMESH_MTU', value: '<bytes>', parse: values.int(1280, 9000), default: String(DEFAULT_MTU), description: 'interface MTU' },
  { key: 'stateInterval', flag: 'state-interval', env: 'WGMESH_STATE_INTERVAL', value: '<ms>', parse: values.int(100, 3_600_000), default: '5000', description: 'publish a device state update at least this often, with no change when nothing changed (changes are published within a second)' },
  { key: 'netns', flag: 'netns', env: 'WGMESH_NETNS', value: '<name>', parse: netnsName, description: 'network namespace holding the interface (default: this process\'s own)' },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: DEFAULT_STATE_DIR, description: 'where the PID and log of a wireguard-go we start are kept' },
  ...vppOptions,
  httpListenOption(DEFAULT_HTTP_LISTEN.dataplane),
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
]);

function netnsName(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(text) || text === '.' || text === '..') throw new Error(`"${text}" is not a network namespace name`);
  return text;
}

export interface DataplaneConfig {
  node: string;
  mesh: string;
  nats: string;
  /** NATS credentials file (--nats-creds). */
  natsCreds?: string;
  driver: DriverKind;
  device: string;
  create: boolean;
  privateKeyFile?: string;
  listenPort?: number;
  address: string[];
  route: string[];
  protect: string[];
  /** The mesh CIDR this device is the registry's hub of (its apply requests are checked against the membership). */
  hubOf?: string;
  mtu: number;
  stateInterval: number;
  /**
   * How often to read the device for changes to report (ms) [default: min(1000, stateInterval)].
   * The registry's hub sets it to its state interval: its peers' changes reach everyone through
   * the hub watcher, and reading 10,000 peers every second costs more than the report is worth.
   */
  statePoll?: number;
  netns?: string;
  stateDir: string;
  /** Optional for configs built in code (cli member/registry): the driver's defaults apply. */
  vppSocket?: string;
  vppApiDir?: string;
  vppSrcAddress?: string;
  vppHostInterface?: string;
  /** `wgmesh dataplane`'s HTTP endpoint (/metrics, /health, /ready); null or absent: none. */
  httpListen?: HttpListen;
  logLevel: Level;
}

/** What createDriver needs from the configuration (each driver reads only its own options). */
export function driverOptions(config: DataplaneConfig, log: Logger): DriverOptions {
  return {
    netns: config.netns,
    stateDir: config.stateDir,
    log,
    vppSocket: config.vppSocket,
    vppApiDir: config.vppApiDir,
    vppSrcAddress: config.vppSrcAddress,
    vppHostInterface: config.vppHostInterface,
  };
}
