import type { OptionSpec, Options } from '@wgmesh/config';
import { memberUpOptions, natProbeServerOptions as stunServerOptions, registryInitOptions, registryUpOptions } from '@wgmesh/app/cli';
import { dataplaneOptions } from '@wgmesh/app/dataplane-programmer';
import { checkPeerDiscoveryConfig, type PeerDiscoveryConfig, peerDiscoveryOptions } from '@wgmesh/app/peer-discovery';
import { checkResolverConfig, type ResolverConfig, resolverOptions } from '@wgmesh/app/registry-resolver';

/**
 * The wgmesh commands a container may run, with the options each one takes: the OptionSpec
 * arrays imported from the apps, so a new option is known here the moment it exists, and an
 * environment variable that no option reads is an error in a manifest.
 */
export interface CommandSpec {
  /** The words after `wgmesh`, e.g. ['peer-discovery'] or ['member', 'up']. */
  words: string[];
  /** What it is, for the configuration reference. */
  summary: string;
  options: readonly OptionSpec[];
  /** The command's cross-option checks (throw ConfigError), after each option parsed alone. */
  check?: (options: Options) => void;
  /** What the command needs from its container, given its options. */
  needs: (options: Options) => Needs;
  /** Listener options whose flag does not tell their kind (see listenersOf): flag → kind. */
  listeners?: Record<string, Listener['kind']>;
  /** Runs to completion before the services (compose: restart "no"; Kubernetes: a plain init container). */
  oneShot?: boolean;
}

export interface Needs {
  /** Changes network configuration (device, addresses, routes): CAP_NET_ADMIN. */
  netAdmin?: boolean;
  /** Opens /dev/net/tun (starts wireguard-go itself). */
  tun?: boolean;
  /** Talks to a userspace device over its UAPI socket in /var/run/wireguard. */
  uapiSocket?: boolean;
  /** The WireGuard device it uses, and whether it creates it. */
  device?: { name: string; driver: string; create: boolean };
  /** Debian packages the image must have. */
  packages?: string[];
}

/** A command that owns a device (dataplane-programmer, and the roles that run one). */
function managesDevice(o: Options): Needs {
  const driver = String(o.driver);
  const create = o.create === true;
  const device = { name: String(o.device), driver, create };
  if (driver === 'uapi') return { netAdmin: true, uapiSocket: true, tun: create, device, packages: ['iproute2', ...(create ? ['wireguard-go'] : [])] };
  if (driver === 'wg') return { netAdmin: true, device, packages: ['iproute2', 'wireguard-tools'] };
  return { device }; // vpp: VPP's API socket
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    words: ['resolver'],
    summary: 'registry-resolver: the DNS-SD server (UDP and TCP) on the registry',
    options: resolverOptions,
    check: (o) => void checkResolverConfig(o as unknown as ResolverConfig),
    needs: () => ({}),
  },
  {
    words: ['peer-discovery'],
    summary: 'peer-discovery: registry mode (hub watcher, peer table, enrolment) or member mode',
    options: peerDiscoveryOptions,
    check: (o) => void checkPeerDiscoveryConfig({ ...(o as unknown as PeerDiscoveryConfig), connect: [...((o.connect as string[]) ?? [])] }),
    needs: (o) => {
      if (o.mode !== 'registry') return {};
      const device = { name: String(o.device), driver: String(o.driver), create: false };
      if (o.driver === 'uapi') return { uapiSocket: true, device };
      if (o.driver === 'wg') return { netAdmin: true, device, packages: ['wireguard-tools'] };
      return { device };
    },
  },
  {
    words: ['dataplane'],
    summary: 'dataplane-programmer: owns one WireGuard device and applies desired peers to it',
    options: dataplaneOptions,
    needs: managesDevice,
  },
  {
    words: ['nat-probe', 'server'],
    summary: "nat-probe's STUN server on the registry (RFC 8489; RFC 5780 behaviour discovery with --alternate)",
    options: stunServerOptions,
    needs: () => ({}),
    listeners: { listen: 'stun', alternate: 'stun' },
  },
  {
    words: ['registry', 'up'],
    summary: 'the registry role in one process: hub dataplane-programmer, peer-discovery (registry), resolver, STUN server, the mesh map',
    options: registryUpOptions,
    needs: managesDevice,
  },
  {
    words: ['registry', 'init'],
    summary: "one-shot set-up of the registry (an init container or service, before NATS): checks the mesh's Redis state and, with --nats-auth, creates the mesh's NATS authority in <state-dir>/nats unless it has one",
    options: registryInitOptions,
    needs: () => ({}),
    oneShot: true,
  },
  {
    words: ['member', 'up'],
    summary: 'the member role in one process: key, enrolment, dataplane-programmer, peer-discovery (member), nat-probe',
    options: memberUpOptions,
    needs: managesDevice,
  },
];

/** The command an argument list (after `wgmesh`) runs: the longest match of words. */
export function findCommand(args: readonly string[]): { command: CommandSpec; rest: string[] } | null {
  const matches = COMMANDS.filter((c) => c.words.every((w, i) => args[i] === w)).sort((a, b) => b.words.length - a.words.length);
  return matches.length ? { command: matches[0], rest: args.slice(matches[0].words.length) } : null;
}

export type Protocol = 'tcp' | 'udp';

export interface Listener {
  /** The option it comes from (flag without dashes). */
  flag: string;
  host: string;
  port: number;
  protocols: Protocol[];
  /** wireguard: the device's UDP port; stun; http: /metrics, /health, /ready; dns. */
  kind: 'wireguard' | 'stun' | 'http' | 'dns' | 'other';
}

/**
 * The sockets a command listens on, from its parsed options. Which options are listeners is read
 * from their flags, so new ones are found without a change here: `…listen-port` (the WireGuard
 * device's UDP port), `…http-listen` (TCP), `stun-…` addresses (UDP), and any other `…listen`
 * (DNS: UDP and TCP). Only values parsed to a port or an {host, port} count: a listener that is
 * off (null, "off") or unset is none, and a client's server address is a string.
 */
export function listenersOf(options: readonly OptionSpec[], parsed: Options, kinds: Record<string, Listener['kind']> = {}): Listener[] {
  const out: Listener[] = [];
  for (const spec of options) {
    const kind = kinds[spec.flag] ?? listenerKind(spec.flag);
    if (!kind) continue;
    const value = parsed[spec.key];
    let host = '0.0.0.0';
    let port: number;
    if (typeof value === 'number') port = value;
    else if (value && typeof value === 'object' && typeof (value as { port?: unknown }).port === 'number') {
      host = String((value as { host: string }).host);
      port = (value as { port: number }).port;
    } else continue;
    const protocols: Protocol[] = kind === 'http' ? ['tcp'] : kind === 'wireguard' || kind === 'stun' ? ['udp'] : ['udp', 'tcp'];
    out.push({ flag: spec.flag, host, port, protocols, kind });
  }
  return out;
}

function listenerKind(flag: string): Listener['kind'] | null {
  if (/(^|-)listen-port$/.test(flag)) return 'wireguard';
  if (/^stun-/.test(flag)) return 'stun'; // stun-listen, stun-alternate (a client's stun-server is a string, not an address to bind)
  if (!/(^|-)listen$/.test(flag)) return null;
  if (/http/.test(flag)) return 'http';
  return /dns|^listen$/.test(flag) ? 'dns' : 'other';
}

/** Environment variables every wgmesh command reads besides its options. */
export const COMMON_ENV = new Set([
  'WGMESH_CONFIG',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_SDK_DISABLED',
  'NODE_OPTIONS',
  'NODE_EXTRA_CA_CERTS',
  'TZ',
]);
