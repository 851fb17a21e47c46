import { defineOptions, values } from '@wgmesh/config';
import { parseLevel, type Level } from '@wgmesh/log';

/**
 * Options of nat-probe on a member (`wgmesh nat-probe member`, and `wgmesh member up`, which runs
 * it in-process): where the STUN server is, how often to re-classify, and the path timings.
 */
export const natProbeMemberOptions = defineOptions([
  { key: 'stunServer', flag: 'stun-server', env: 'WGMESH_STUN_SERVER', value: '<ip:port>', parse: values.endpoint, description: "the registry's STUN server [default: the registry endpoint's address, port 3478]" },
  { key: 'natInterval', flag: 'nat-interval', env: 'WGMESH_NAT_INTERVAL_S', value: '<seconds>', parse: values.int(1, 86_400), default: '30', description: 'how often the NAT is classified again (also at once when this node\'s addresses or registry-observed endpoint change)' },
  { key: 'pathDeadline', flag: 'path-deadline', env: 'WGMESH_PATH_DEADLINE_S', value: '<seconds>', parse: values.int(1, 600), default: '10', description: 'how long a direct path (or attempt) may go without a handshake before the pair is relayed' },
  { key: 'pathRetry', flag: 'path-retry', env: 'WGMESH_PATH_RETRY_S', value: '<seconds>', parse: values.int(1, 86_400), default: '30', description: 'first retry of direct after a failure; doubles per failure' },
  { key: 'pathRetryMax', flag: 'path-retry-max', env: 'WGMESH_PATH_RETRY_MAX_S', value: '<seconds>', parse: values.int(1, 86_400), default: '600', description: 'longest wait between two retries of direct' },
]);

export interface NatProbeMemberConfig {
  mesh: string;
  nats?: string;
  stateDir: string;
  logLevel: Level;
  stunServer?: string;
  natInterval: number;
  pathDeadline: number;
  pathRetry: number;
  pathRetryMax: number;
  /** Persistent keepalive (s) of a peer while it is punched and attempted (peer-discovery's, for the same peer); 25 when absent. */
  keepalive?: number;
}

/** Options of the standalone `wgmesh nat-probe member`. */
export const natProbeMemberCommandOptions = defineOptions([
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), description: 'NATS [default: nats://<registry tunnel address>:4222]' },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: "this member's enrolment state (written by \"wgmesh member up\")" },
  ...natProbeMemberOptions,
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
]);

/** An "addr:port" to listen on, or off. */
const listenOrOff = (t: string) => (t === 'off' ? 'off' : values.listen(t));

/**
 * Options of nat-probe on the registry (its STUN server), in `wgmesh registry up`. The defaults
 * follow --public-endpoint: the STUN server listens on its address, port 3478, with the same
 * address port 3479 as the alternate (RFC 5780 change-port: tells endpoint-dependent mappings from
 * independent ones). With a second public address as --stun-alternate, full RFC 5780.
 */
export const natProbeServerOptions = defineOptions([
  { key: 'stunListen', flag: 'stun-listen', env: 'WGMESH_STUN_LISTEN', value: '<addr:port|off>', parse: listenOrOff, description: "the STUN server members classify their NAT with [default: --public-endpoint's address, port 3478; off without --public-endpoint]" },
  { key: 'stunAlternate', flag: 'stun-alternate', env: 'WGMESH_STUN_ALTERNATE', value: '<addr:port|off>', parse: listenOrOff, description: 'the STUN server\'s alternate address (RFC 5780): another address for full behaviour discovery [default: the --stun-listen address, port 3479]' },
]);

export interface NatProbeServerConfig {
  stunListen?: { host: string; port: number } | 'off';
  stunAlternate?: { host: string; port: number } | 'off';
}

/** The STUN server's addresses from the options and the registry's public endpoint; null when off. */
export function stunServerAddresses(c: NatProbeServerConfig, publicEndpoint: string | undefined): { listen: { host: string; port: number }; alternate?: { host: string; port: number } } | null {
  const publicHost = publicEndpoint?.replace(/^\[(.*)\]:\d+$/, '$1').replace(/:\d+$/, '');
  const listen = c.stunListen === 'off' ? null : (c.stunListen ?? (publicHost ? { host: publicHost, port: 3478 } : null));
  if (!listen) return null;
  if (c.stunAlternate === 'off') return { listen };
  return { listen, alternate: c.stunAlternate ?? { host: listen.host, port: 3479 } };
}

/**
 * How often nat-probe sends what is due: the decisions addressed to followers 30 s ago, once more
 * (MemberPaths' PATH_RESEND_MS), and changes NATS was away for. Nothing is republished
 * periodically: late subscribers ask (`paths.get`), and update consumers see gaps by `seq`.
 */
export const PATH_RESEND_CHECK_MS = 5_000;
/** Check this node's interface addresses this often (a change means a new network: classify again). */
export const INTERFACE_CHECK_MS = 5_000;
