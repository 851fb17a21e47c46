import { UapiError, UapiProtocolError } from './errors';
import { checkInt, checkPeer, checkSecret, WgDevice, WgDeviceChange, WgPeer } from './device';
import { keyToBase64, publicKeyFromPrivate } from './keys';
import { isZeroKey, SecretKey } from './secret';

/**
 * The WireGuard cross-platform configuration protocol (wireguard.com/xplatform), as pure
 * functions over text: `get=1` / `set=1` requests of `key=value` lines ending with an empty
 * line, answered by `errno=N` and an empty line (after the device's lines, for get).
 */

/** The get request. */
export const GET_REQUEST = 'get=1\n\n';

/** Builds one `set=1` transaction for the whole change; validates every value first (WgInputError). */
export function encodeSet(change: WgDeviceChange): string {
  let out = 'set=1\n';
  if (change.privateKey !== undefined) out += `private_key=${checkSecret(change.privateKey, 'privateKey').toString('hex')}\n`;
  if (change.listenPort !== undefined) out += `listen_port=${checkInt(change.listenPort, 'listenPort', 0, 65535)}\n`;
  if (change.fwmark !== undefined) out += `fwmark=${checkInt(change.fwmark, 'fwmark', 0, 0xffffffff)}\n`;
  if (change.replacePeers) out += 'replace_peers=true\n';
  const peers = change.peers ?? [];
  for (let i = 0; i < peers.length; i++) {
    const p = checkPeer(peers[i], i);
    out += `public_key=${Buffer.from(p.publicKey, 'base64').toString('hex')}\n`;
    if (p.remove) {
      out += 'remove=true\n';
      continue;
    }
    // update_only must come first: wireguard-go creates the peer on public_key unless told here.
    if (p.updateOnly) out += 'update_only=true\n';
    if (p.presharedKey) out += `preshared_key=${p.presharedKey.toString('hex')}\n`;
    if (p.endpoint !== undefined) out += `endpoint=${p.endpoint}\n`;
    if (p.persistentKeepalive !== undefined) out += `persistent_keepalive_interval=${p.persistentKeepalive}\n`;
    if (p.replaceAllowedIps) out += 'replace_allowed_ips=true\n';
    for (const ip of p.allowedIps) out += `allowed_ip=${ip}\n`;
  }
  // The string is only sent once whole: a bad value anywhere means nothing was sent.
  return `${out}\n`;
}

const ZERO_HEX = '0'.repeat(64);
const ENDPOINT = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]):\d{1,5}$/;
const PREFIX = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\/\d{1,3}$/;
const ERRNO = /^errno=(-?\d{1,10})$/;

/**
 * Parses the full response to `get=1` (up to and including `errno=N` and the empty line).
 * A non-zero errno throws UapiError; anything malformed throws UapiProtocolError. Unknown keys
 * are skipped (later protocol versions may add some).
 *
 * A scanner over the text rather than split lines: 10,000 peers are 110,000 lines, and this
 * allocates only the values it keeps (the device's state is read before every apply).
 */
export function parseGet(text: string, device = 'device'): WgDevice {
  if (typeof text !== 'string') throw new UapiProtocolError('response is not text');
  if (!text.endsWith('\n\n')) throw new UapiProtocolError('response does not end with an empty line (truncated?)');
  // The last line (before the empty one) is errno=N.
  const errnoEnd = text.length - 2;
  const errnoStart = text.lastIndexOf('\n', errnoEnd - 1) + 1;
  const errno = parseErrnoLine(text.slice(errnoStart, errnoEnd), () => text.slice(0, errnoStart).split('\n').length);
  if (errno !== 0) throw new UapiError(device, 'get', errno);

  const dev: WgDevice = { privateKey: null, publicKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let peer: WgPeer | null = null;
  let pos = 0;
  let line = 1;
  const is = (key: string, eq: number) => eq - pos === key.length && text.startsWith(key, pos);
  while (pos < errnoStart) {
    const nl = text.indexOf('\n', pos);
    if (nl === pos) throw new UapiProtocolError('empty line before the end of the response', line);
    const eq = text.indexOf('=', pos);
    if (eq <= pos || eq > nl) throw new UapiProtocolError(`expected key=value, got ${quote(text.slice(pos, Math.min(nl, pos + 16)))}`, line);
    const v = eq + 1;
    if (is('public_key', eq)) {
      peer = {
        publicKey: publicKeyBase64(text, v, nl, line),
        presharedKey: null,
        endpoint: null,
        lastHandshakeSec: 0,
        lastHandshakeNsec: 0,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepalive: 0,
        allowedIps: [],
      };
      dev.peers.push(peer);
    } else if (peer === null) {
      if (is('private_key', eq)) {
        const bytes = hexKey(text, v, nl, 'private_key', line);
        dev.privateKey = isZeroKey(bytes) ? null : new SecretKey(bytes);
      } else if (is('listen_port', eq)) dev.listenPort = uint(text, v, nl, 'listen_port', line, 65535);
      else if (is('fwmark', eq)) dev.fwmark = uint(text, v, nl, 'fwmark', line, 0xffffffff);
      // else: an unknown device key, skipped
    } else if (is('allowed_ip', eq)) {
      const value = text.slice(v, nl);
      if (!PREFIX.test(value)) throw new UapiProtocolError(`allowed_ip ${quote(value)} is not a prefix`, line);
      peer.allowedIps.push(value);
    } else if (is('endpoint', eq)) {
      const value = text.slice(v, nl);
      if (!ENDPOINT.test(value)) throw new UapiProtocolError(`endpoint ${quote(value)} is not ip:port or [ipv6]:port`, line);
      peer.endpoint = value;
    } else if (is('preshared_key', eq)) {
      peer.presharedKey = nl - v === 64 && text.startsWith(ZERO_HEX, v) ? null : presharedKey(hexKey(text, v, nl, 'preshared_key', line));
    } else if (is('protocol_version', eq)) peer.protocolVersion = uint(text, v, nl, 'protocol_version', line, 0xffffffff);
    else if (is('last_handshake_time_sec', eq)) peer.lastHandshakeSec = uint(text, v, nl, 'last_handshake_time_sec', line);
    else if (is('last_handshake_time_nsec', eq)) peer.lastHandshakeNsec = uint(text, v, nl, 'last_handshake_time_nsec', line, 999_999_999);
    else if (is('tx_bytes', eq)) peer.txBytes = uint(text, v, nl, 'tx_bytes', line);
    else if (is('rx_bytes', eq)) peer.rxBytes = uint(text, v, nl, 'rx_bytes', line);
    else if (is('persistent_keepalive_interval', eq)) peer.persistentKeepalive = uint(text, v, nl, 'persistent_keepalive_interval', line, 65535);
    else if (is('private_key', eq) || is('listen_port', eq) || is('fwmark', eq)) {
      throw new UapiProtocolError(`device key ${text.slice(pos, eq)} after the first peer`, line);
    }
    // else: an unknown peer key, skipped
    pos = nl + 1;
    line++;
  }
  if (dev.privateKey) dev.publicKey = keyToBase64(publicKeyFromPrivate(dev.privateKey.reveal()));
  return dev;
}

/** Parses the response to `set=1`: `errno=0` and an empty line, or throws. */
export function parseSetResponse(text: string, device = 'device'): void {
  const lines = splitResponse(text);
  if (lines.length !== 1) throw new UapiProtocolError(`expected only errno=N in the answer to set, got ${lines.length} lines`);
  const errno = parseErrnoLine(lines[0], () => 1);
  if (errno !== 0) throw new UapiError(device, 'set', errno);
}

function splitResponse(text: string): string[] {
  if (typeof text !== 'string') throw new UapiProtocolError('response is not text');
  if (!text.endsWith('\n\n')) throw new UapiProtocolError('response does not end with an empty line (truncated?)');
  const lines = text.slice(0, -2).split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') throw new UapiProtocolError('empty line before the end of the response', i + 1);
  }
  return lines;
}

function parseErrnoLine(line: string, at: () => number): number {
  const m = ERRNO.exec(line);
  if (!m) throw new UapiProtocolError(`expected errno=N as the last line, got ${quote(line)}`, at());
  return Number(m[1]);
}

/**
 * Peer public keys seen in get responses, hex → base64: a device is read again and again (the
 * registry's hub watcher reads 10,000 peers twice a second), and its keys rarely change. A pure
 * memo (public keys only, never secrets), emptied when it grows past a bound.
 */
const publicKeys = new Map<string, string>();
const PUBLIC_KEYS_MAX = 200_000;

function publicKeyBase64(text: string, from: number, to: number, at: number): string {
  const hex = text.slice(from, to);
  const known = publicKeys.get(hex);
  if (known !== undefined) return known;
  const b64 = hexKey(text, from, to, 'public_key', at).toString('base64');
  if (publicKeys.size >= PUBLIC_KEYS_MAX) publicKeys.clear();
  publicKeys.set(hex, b64);
  return b64;
}

function hexKey(text: string, from: number, to: number, key: string, at: number): Buffer {
  if (to - from !== 64) throw new UapiProtocolError(`${key} is not 64 hex digits`, at);
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) | 0x20; // lowercase letters; digits unchanged
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) throw new UapiProtocolError(`${key} is not 64 hex digits`, at);
  }
  return Buffer.from(text.slice(from, to), 'hex');
}

function presharedKey(bytes: Buffer): SecretKey | null {
  return isZeroKey(bytes) ? null : new SecretKey(bytes);
}

/** An unsigned decimal of at most 20 digits, parsed in place. */
function uint(text: string, from: number, to: number, key: string, at: number, max = Number.MAX_SAFE_INTEGER): number {
  if (to - from === 1 && text.charCodeAt(from) === 0x30) return 0; // most counters and times of an idle peer
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) n = NaN;
    n = n * 10 + d;
  }
  if (to === from || to - from > 20 || Number.isNaN(n)) throw new UapiProtocolError(`${key} ${quote(text.slice(from, to))} is not an unsigned integer`, at);
  if (n > max) throw new UapiProtocolError(`${key} ${text.slice(from, to)} is above ${max}`, at);
  return n;
}

/** A value for an error message, bounded (secret values are never quoted). */
function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
