import { defineOption } from '@wgmesh/config';
import { isLoopback, parseIp } from '@wgmesh/netaddr';

/** Where the HTTP endpoint (/metrics, /health, /ready) listens; null when it is off. */
export type HttpListen = { host: string; port: number } | null;

/**
 * Default HTTP addresses, loopback only (put a Prometheus agent or kubelet on the node, or give
 * `--http-listen 0.0.0.0:<port>`). One port per role, so the services of a node never collide.
 */
export const DEFAULT_HTTP_LISTEN = {
  /** `wgmesh resolver`, and `wgmesh registry up` (which runs the resolver). */
  resolver: '127.0.0.1:9470',
  registry: '127.0.0.1:9470',
  /** `wgmesh peer-discovery`, and `wgmesh member up`. */
  peerDiscovery: '127.0.0.1:9471',
  member: '127.0.0.1:9471',
  /** `wgmesh dataplane`. */
  dataplane: '127.0.0.1:9472',
  /** nat-probe run alone. */
  natProbe: '127.0.0.1:9473',
} as const;

/** `off`, or `<address>:<port>` (`[::1]:9470` for IPv6); port 0 picks a free port (tests). */
export function parseHttpListen(text: string): HttpListen {
  if (text.trim().toLowerCase() === 'off') return null;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new Error(`"${text}" must be <address>:<port> (e.g. 127.0.0.1:9470, [::1]:9470) or off`);
  parseIp(m[1]);
  return { host: m[1], port: Number(m[2]) };
}

/** True when only this host can connect (127.0.0.0/8, ::1); 0.0.0.0 and any other address are beyond loopback. */
export function isLoopbackListen(l: { host: string }): boolean {
  return isLoopback(parseIp(l.host));
}

export function formatHttpListen(l: { host: string; port: number }): string {
  return l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

/** The `--http-listen` option (env WGMESH_HTTP_LISTEN) with a command's default. */
export function httpListenOption(defaultListen: string) {
  return defineOption({
    key: 'httpListen',
    flag: 'http-listen',
    env: 'WGMESH_HTTP_LISTEN',
    value: '<addr:port|off>',
    parse: parseHttpListen,
    default: defaultListen,
    description: 'HTTP endpoint for Prometheus /metrics and the /health (liveness) and /ready (readiness) probes; off disables it',
  });
}
