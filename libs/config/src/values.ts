import { canonicalCidr, formatEndpoint, parseEndpoint, parseIp, parsePort } from '@wgmesh/netaddr';
import { parseName, parsePublicKey } from '@wgmesh/contracts';

/** Value parsers for OptionSpec.parse: each throws an Error describing the expected form. */
export const values = {
  string: (t: string) => {
    if (t === '') throw new Error('must not be empty');
    return t;
  },
  int: (min: number, max: number) => (t: string) => {
    if (!/^-?\d+$/.test(t) || Number(t) < min || Number(t) > max) throw new Error(`"${t}" must be an integer from ${min} to ${max}`);
    return Number(t);
  },
  bool: (t: string) => {
    if (['true', '1', 'yes', 'on'].includes(t.toLowerCase())) return true;
    if (['false', '0', 'no', 'off'].includes(t.toLowerCase())) return false;
    throw new Error(`"${t}" must be true or false`);
  },
  /** "addr:port" to listen on; "[::]:53" for IPv6. */
  listen: (t: string) => {
    const ep = /^\[([^\]]+)\]:(\d+)$/.exec(t) ?? /^([^:]*):(\d+)$/.exec(t);
    if (!ep) throw new Error(`"${t}" must be <address>:<port>, e.g. 0.0.0.0:5353 or [::]:5353`);
    parseIp(ep[1]);
    return { host: ep[1], port: parsePort(ep[2]) };
  },
  endpoint: (t: string) => formatEndpoint(parseEndpoint(t)),
  cidr: (t: string) => {
    try {
      return canonicalCidr(t);
    } catch (err) {
      throw new Error(`${(err as Error).message}; expected an address prefix such as 10.99.0.0/16 or fd00::/64`);
    }
  },
  publicKey: (t: string) => parsePublicKey(t, 'value'),
  name: (t: string) => parseName(t, 'value'),
  /** A DNS zone, returned fully qualified and lowercase ("mesh.example."). */
  zone: (t: string) => {
    const z = t.endsWith('.') ? t : `${t}.`;
    if (z.length > 254 || !/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+$/i.test(z)) {
      throw new Error(`"${t}" must be a DNS domain name such as mesh.example.`);
    }
    return z.toLowerCase();
  },
  /** One URL, or several separated by commas (a NATS cluster's servers); returned as given. */
  urls: (schemes: string[]) => (t: string) => {
    const each = t.split(',').map((s) => s.trim());
    if (each.some((s) => s === '')) throw new Error(`"${t}" must be one URL or several separated by commas`);
    for (const u of each) values.url(schemes)(u);
    return t;
  },
  url: (schemes: string[]) => (t: string) => {
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw new Error(`"${t}" must be a URL such as ${schemes[0]}://127.0.0.1`);
    }
    if (!schemes.includes(u.protocol.replace(/:$/, ''))) throw new Error(`"${t}" must use ${schemes.map((s) => `${s}://`).join(' or ')}`);
    return t;
  },
};
