import { formatCidr, formatEndpoint, parseCidr, parseEndpoint } from '@wgmesh/netaddr';
import { WgInputError } from './errors';
import { isBase64Key } from './keys';
import { SecretKey } from './secret';

/**
 * A WireGuard device as read through the UAPI (`get=1`) or `wg show <dev> dump`. Keys are
 * standard base64 as `wg` shows them; secrets are `SecretKey`s, which never print.
 */
export interface WgDevice {
  /** null when the device has no private key. */
  privateKey: SecretKey | null;
  /** Derived from the private key; null without one. */
  publicKey: string | null;
  listenPort: number;
  /** 0 for off. */
  fwmark: number;
  peers: WgPeer[];
}

export interface WgPeer {
  publicKey: string;
  /** null when the peer has none (the all-zero key). */
  presharedKey: SecretKey | null;
  /** UAPI only (`wg show dump` does not report it). */
  protocolVersion?: number;
  /** "ip:port" or "[ipv6]:port" as the device prints it; null before one is set or learnt. */
  endpoint: string | null;
  /** Unix time of the latest handshake; 0 for never. */
  lastHandshakeSec: number;
  /** Nanoseconds part (UAPI only; 0 from `wg show dump`). */
  lastHandshakeNsec: number;
  txBytes: number;
  rxBytes: number;
  /** Seconds; 0 for off. */
  persistentKeepalive: number;
  /** Prefixes as the device prints them ("10.0.0.1/32"). */
  allowedIps: string[];
}

/**
 * One configuration transaction: device settings, then peers in order. Through the UAPI this is
 * a single `set=1` request; the device applies it line by line, so an invalid value half-way
 * would leave the earlier lines applied: every value is therefore checked before anything is sent.
 */
export interface WgDeviceChange {
  /** New private key; null removes it. */
  privateKey?: Uint8Array | SecretKey | null;
  /** 0 picks a random port. */
  listenPort?: number;
  /** 0 turns it off. */
  fwmark?: number;
  /** Remove every peer not listed in this change before applying it. */
  replacePeers?: boolean;
  peers?: WgPeerChange[];
}

export interface WgPeerChange {
  /** Standard base64. */
  publicKey: string;
  /** Remove this peer (no other field may be set). */
  remove?: boolean;
  /** Only change the peer if it exists; never create it. */
  updateOnly?: boolean;
  /** null removes it. */
  presharedKey?: Uint8Array | SecretKey | null;
  /** "ip:port" or "[ipv6]:port" (an address, not a host name). */
  endpoint?: string;
  /** Seconds, 0 turns it off. */
  persistentKeepalive?: number;
  /** Replace the peer's allowed IPs with `allowedIps` instead of adding them. */
  replaceAllowedIps?: boolean;
  allowedIps?: string[];
}

/** A change with every value checked and converted: keys as raw bytes, canonical text elsewhere. */
export interface CheckedChange {
  privateKey?: Buffer;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: CheckedPeerChange[];
}

export interface CheckedPeerChange {
  /** Standard base64, checked. */
  publicKey: string;
  remove: boolean;
  updateOnly: boolean;
  presharedKey?: Buffer;
  endpoint?: string;
  persistentKeepalive?: number;
  replaceAllowedIps: boolean;
  /** Canonical prefixes (the caller's array when it was canonical already). */
  allowedIps: readonly string[];
}

const ZERO_KEY = Buffer.alloc(32);

// Fast paths for the common canonical forms (a batch of 10,000 peers is checked in a few ms);
// anything else goes through netaddr's parsers, which also canonicalise.
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const IPV4_ENDPOINT = new RegExp(`^${IPV4}:([1-9]\\d{0,4})$`);
const IPV4_HOST_PREFIX = new RegExp(`^${IPV4}/32$`);

/** Validates a whole change up front; throws WgInputError naming the first bad field. */
export function checkChange(change: WgDeviceChange): CheckedChange {
  const out: CheckedChange = { replacePeers: change.replacePeers === true, peers: [] };
  if (change.privateKey !== undefined) out.privateKey = checkSecret(change.privateKey, 'privateKey');
  if (change.listenPort !== undefined) out.listenPort = checkInt(change.listenPort, 'listenPort', 0, 65535);
  if (change.fwmark !== undefined) out.fwmark = checkInt(change.fwmark, 'fwmark', 0, 0xffffffff);
  const peers = change.peers ?? [];
  for (let i = 0; i < peers.length; i++) out.peers.push(checkPeer(peers[i], i));
  return out;
}

const NO_PREFIXES: readonly string[] = [];
const REMOVE_ONLY = ['updateOnly', 'presharedKey', 'endpoint', 'persistentKeepalive', 'replaceAllowedIps', 'allowedIps'] as const;

/** Checks one peer change; the hot path of a 10,000-peer batch, so it allocates little. */
export function checkPeer(p: WgPeerChange, index: number): CheckedPeerChange {
  if (!isBase64Key(p.publicKey)) throw new WgInputError(`peers[${index}].publicKey`, 'a WireGuard key is 44 characters of base64 ending in "=" (32 bytes)');
  const out: CheckedPeerChange = {
    publicKey: p.publicKey,
    remove: p.remove === true,
    updateOnly: p.updateOnly === true,
    replaceAllowedIps: p.replaceAllowedIps === true,
    allowedIps: NO_PREFIXES,
  };
  if (out.remove) {
    const extra = REMOVE_ONLY.filter((k) => p[k] !== undefined);
    if (extra.length > 0) throw new WgInputError(`peers[${index}]`, `a removed peer takes no other settings (got ${extra.join(', ')})`);
    return out;
  }
  if (p.presharedKey !== undefined) out.presharedKey = checkSecret(p.presharedKey, `peers[${index}].presharedKey`);
  if (p.endpoint !== undefined) {
    const m = IPV4_ENDPOINT.exec(p.endpoint);
    if (m && Number(m[1]) <= 65535) out.endpoint = p.endpoint;
    else {
      try {
        out.endpoint = formatEndpoint(parseEndpoint(p.endpoint));
      } catch (err) {
        throw new WgInputError(`peers[${index}].endpoint`, (err as Error).message);
      }
    }
  }
  if (p.persistentKeepalive !== undefined) {
    const k = p.persistentKeepalive;
    out.persistentKeepalive = Number.isSafeInteger(k) && k >= 0 && k <= 65535 ? k : checkInt(k, `peers[${index}].persistentKeepalive`, 0, 65535);
  }
  const given = p.allowedIps ?? NO_PREFIXES;
  let ips = given;
  for (let j = 0; j < given.length; j++) {
    if (typeof given[j] === 'string' && IPV4_HOST_PREFIX.test(given[j])) continue;
    try {
      const canonical = formatCidr(parseCidr(given[j]));
      if (canonical !== given[j]) {
        if (ips === given) ips = [...given];
        (ips as string[])[j] = canonical;
      }
    } catch (err) {
      throw new WgInputError(`peers[${index}].allowedIps[${j}]`, (err as Error).message);
    }
  }
  out.allowedIps = ips;
  return out;
}

export function checkSecret(value: Uint8Array | SecretKey | null, field: string): Buffer {
  if (value === null) return ZERO_KEY;
  const bytes = value instanceof SecretKey ? value.reveal() : Buffer.from(value);
  if (bytes.length !== 32) throw new WgInputError(field, `a WireGuard key is 32 bytes, got ${bytes.length}`);
  return bytes;
}

export function checkInt(value: number, field: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new WgInputError(field, `must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/** Linux interface names: 1-15 characters; we allow letters, digits, "_", "-" and ".". */
export function parseDeviceName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(name) || name === '.' || name === '..') {
    throw new WgInputError('device', `"${name}" is not an interface name (1-15 letters, digits, "_", "-", ".")`);
  }
  return name;
}
