import { ConfigError, OptionSpec, values } from '@wgmesh/config';
import { natsCredsOption } from '@wgmesh/nats-transport';
import { DEFAULT_HTTP_LISTEN, httpListenOption, type HttpListen } from '@wgmesh/health';
import { parseLevel, type Level } from '@wgmesh/log';

/** Options of the registry-resolver (`wgmesh resolver`): flags, environment variables, config file keys. */
export const resolverOptions: OptionSpec[] = [
  { key: 'zone', flag: 'zone', env: 'WGMESH_ZONE', value: '<zone>', repeatable: true, required: true, parse: values.zone, description: 'DNS zone to serve, e.g. mesh.example. (several zones: repeat, or comma-separate in the env var)' },
  { key: 'listen', flag: 'listen', env: 'WGMESH_DNS_LISTEN', value: '<addr:port>', parse: values.listen, default: '0.0.0.0:5353', description: 'UDP and TCP address to answer on; bind to the tunnel address to serve members only' },
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name: selects the NATS subjects and Redis keys' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), default: 'nats://127.0.0.1:4222', description: 'NATS server for peer events' },
  natsCredsOption(),
  { key: 'redis', flag: 'redis', env: 'WGMESH_REDIS_URL', value: '<url>', parse: values.url(['redis', 'rediss']), default: 'redis://127.0.0.1:6379', description: 'Redis server holding the peer table snapshot' },
  { key: 'ttl', flag: 'ttl', env: 'WGMESH_DNS_TTL', value: '<seconds>', parse: values.int(0, 86400), default: '0', description: 'TTL of every answer' },
  { key: 'selfKey', flag: 'self-key', env: 'WGMESH_SELF_KEY', value: '<base64>', parse: values.publicKey, description: "the registry device's public key, to serve it as a peer (with --self-endpoint)" },
  { key: 'selfEndpoint', flag: 'self-endpoint', env: 'WGMESH_SELF_ENDPOINT', value: '<ip:port>', parse: values.endpoint, description: "the registry device's public endpoint, served like a peer's" },
  { key: 'selfAllowed', flag: 'self-allowed', env: 'WGMESH_SELF_ALLOWED', value: '<cidr>', repeatable: true, parse: values.cidr, description: "the registry device's allowed IPs, served in its TXT record" },
  { key: 'udpPayload', flag: 'udp-payload', env: 'WGMESH_DNS_UDP_PAYLOAD', value: '<bytes>', parse: values.int(512, 4096), default: '1232', description: 'largest UDP response we send to EDNS clients (clients without EDNS get 512)' },
  { key: 'workers', flag: 'workers', env: 'WGMESH_DNS_WORKERS', value: '<n>', parse: values.int(1, 64), default: '1', description: 'processes answering DNS on the same port (one per core for the highest query rate)' },
  httpListenOption(DEFAULT_HTTP_LISTEN.resolver),
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
];

export interface ResolverConfig {
  zone: string[];
  listen: { host: string; port: number };
  mesh: string;
  nats: string;
  /** NATS credentials file (--nats-creds). */
  natsCreds?: string;
  redis: string;
  ttl: number;
  selfKey?: string;
  selfEndpoint?: string;
  selfAllowed: string[];
  udpPayload: number;
  workers: number;
  /** The HTTP endpoint (/metrics, /health, /ready) of `wgmesh resolver`; null or absent: none. */
  httpListen?: HttpListen;
  logLevel: Level;
}

/** Cross-option checks, after each option parsed on its own. */
export function checkResolverConfig(c: ResolverConfig): ResolverConfig {
  const self = [c.selfKey, c.selfEndpoint].filter((v) => v !== undefined).length;
  if (self === 1) throw new ConfigError('--self-key and --self-endpoint go together: give both to serve the registry device, or neither');
  if (self === 0 && c.selfAllowed.length > 0) throw new ConfigError('--self-allowed needs --self-key and --self-endpoint');
  if (c.workers > 1 && c.listen.port === 0) throw new ConfigError('--workers above 1 needs a fixed --listen port');
  return c;
}
