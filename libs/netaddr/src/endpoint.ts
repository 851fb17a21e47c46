import { AddressError, formatIp, IpAddress, parseIp } from './ip';

/** A UDP endpoint: "198.51.100.7:51820" or "[2001:db8::1]:51820". */
export interface Endpoint {
  readonly ip: IpAddress;
  readonly port: number;
}

export function parsePort(text: string | number, what = 'port'): number {
  const s = String(text);
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) {
    throw new AddressError(`${what} "${s}" is not a port number (1-65535)`);
  }
  return Number(s);
}

export function parseEndpoint(text: string): Endpoint {
  if (typeof text !== 'string') throw new AddressError('endpoint must be a string');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new AddressError(`"${text}" is not an endpoint (ip:port or [ipv6]:port)`);
  return { ip: parseIp(m[1]), port: parsePort(m[2], `port of endpoint "${text}"`) };
}

export function formatEndpoint(ep: Endpoint): string {
  const ip = formatIp(ep.ip);
  return ep.ip.family === 6 ? `[${ip}]:${ep.port}` : `${ip}:${ep.port}`;
}
