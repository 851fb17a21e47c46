import { spawn } from 'node:child_process';
import { CheckedPeerChange, checkChange, parseDeviceName, WgDevice, WgDeviceChange, WgPeer, WgPeerChange } from './device';
import { NoDeviceError, WgInputError, WgToolsError } from './errors';
import { isBase64Key, keyFromBase64, keyToBase64 } from './keys';
import { SecretKey } from './secret';

/**
 * How peer changes are sent: `addconf` writes every peer that replaces its allowed IPs as one
 * `wg addconf <dev> /dev/stdin` (no argv limit); `set` puts them on `wg set` command lines of
 * at most `maxArgvBytes` each. Removals and peers that keep their allowed IPs always use `wg set`.
 */
export type WgPeerBatch = 'addconf' | 'set';

export interface WgToolsOptions {
  /** The wg binary ("wg"). */
  wgPath?: string;
  /** Run wg in this network namespace (`ip netns exec <netns> wg …`); kernel devices live in one. */
  netns?: string;
  /** Per wg invocation; 30 s by default. */
  timeoutMs?: number;
  /** Largest `wg set` command line; 64 KiB by default (Linux allows 128 KiB per argument, ~2 MiB in all). */
  maxArgvBytes?: number;
  peerBatch?: WgPeerBatch;
}

export const DEFAULT_MAX_ARGV_BYTES = 64 * 1024;

/**
 * The `wg` command (wireguard-tools) as a driver: reads `wg show <dev> dump`, changes with
 * `wg set` / `wg addconf`. Works for kernel WireGuard (netlink) and userspace daemons (wg uses
 * their UAPI socket). Private keys go through stdin, never the command line.
 */
export class WgTools {
  private readonly wgPath: string;
  private readonly netns?: string;
  private readonly timeoutMs: number;
  private readonly maxArgvBytes: number;
  private readonly peerBatch: WgPeerBatch;

  constructor(
    readonly device: string,
    opts: WgToolsOptions = {},
  ) {
    parseDeviceName(device);
    this.wgPath = opts.wgPath ?? 'wg';
    this.netns = opts.netns;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxArgvBytes = opts.maxArgvBytes ?? DEFAULT_MAX_ARGV_BYTES;
    this.peerBatch = opts.peerBatch ?? 'addconf';
  }

  /** `wg show <dev> dump`, parsed. */
  async show(): Promise<WgDevice> {
    try {
      return parseWgDump(await this.run(['show', this.device, 'dump']));
    } catch (err) {
      if (err instanceof WgToolsError && /No such device|Protocol not supported|Unable to access interface/.test(err.stderr)) {
        throw new NoDeviceError(this.device, `wg show: ${err.stderr.trim()}`);
      }
      throw err;
    }
  }

  /**
   * Applies a change with as few wg invocations as possible (see WgPeerBatch). Not one
   * transaction when split: device settings, then removals, then the other peers.
   * `wg` cannot express replacePeers, updateOnly or removing the private key.
   */
  async set(change: WgDeviceChange): Promise<void> {
    for (const step of planWgSet(this.device, change, { maxArgvBytes: this.maxArgvBytes, peerBatch: this.peerBatch })) {
      await this.run(step.args, step.stdin);
    }
  }

  /**
   * Peer changes in exactly the given order, in one `wg set` (the same peer may appear several
   * times: removed, then created again). For short ordered sequences such as hole punching;
   * no preshared keys (they travel through files), no updateOnly.
   */
  async setInOrder(peers: WgPeerChange[]): Promise<void> {
    const c = checkChange({ peers });
    const args = ['set', this.device];
    c.peers.forEach((p, i) => {
      if (p.updateOnly) throw new WgInputError(`peers[${i}].updateOnly`, 'wg cannot update a peer only if it exists');
      if (p.presharedKey) throw new WgInputError(`peers[${i}].presharedKey`, 'not in an ordered wg set');
      args.push(...(p.remove ? ['peer', p.publicKey, 'remove'] : peerArgs(p)));
    });
    if (c.peers.length > 0) await this.run(args);
  }

  private run(args: string[], stdin?: string): Promise<string> {
    // wg opens "/dev/stdin" by path, which fails on the socketpair node gives a child as stdin
    // (ENXIO): with input, wg runs behind `cat |`, a real pipe. Arguments pass through "$@".
    const wg = stdin === undefined ? [this.wgPath, ...args] : ['sh', '-c', 'cat | "$0" "$@"', this.wgPath, ...args];
    const [cmd, ...argv] = this.netns ? ['ip', 'netns', 'exec', this.netns, ...wg] : wg;
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new WgToolsError(args, null, `cannot run ${cmd}: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new WgToolsError(args, code, signal === 'SIGKILL' ? `timed out after ${this.timeoutMs} ms` : Buffer.concat(err).toString('utf8')));
      });
      child.stdin.on('error', () => undefined); // wg exited before reading stdin: its exit code tells why
      child.stdin.end(stdin ?? '');
    });
  }
}

/** One wg invocation of a plan. */
export interface WgStep {
  args: string[];
  stdin?: string;
}

/** Splits a change into wg invocations; pure (validates everything first). */
export function planWgSet(device: string, change: WgDeviceChange, opts: { maxArgvBytes?: number; peerBatch?: WgPeerBatch } = {}): WgStep[] {
  const max = opts.maxArgvBytes ?? DEFAULT_MAX_ARGV_BYTES;
  const c = checkChange(change);
  if (c.replacePeers) throw new WgInputError('replacePeers', 'wg set cannot replace all peers; remove them explicitly');
  if (change.privateKey === null) throw new WgInputError('privateKey', 'wg set cannot remove the private key');
  const steps: WgStep[] = [];

  const head = ['set', device];
  const deviceArgs: string[] = [];
  let stdin: string | undefined;
  if (c.privateKey) {
    deviceArgs.push('private-key', '/dev/stdin');
    stdin = `${c.privateKey.toString('base64')}\n`;
  }
  if (c.listenPort !== undefined) deviceArgs.push('listen-port', String(c.listenPort));
  if (c.fwmark !== undefined) deviceArgs.push('fwmark', c.fwmark === 0 ? 'off' : `0x${c.fwmark.toString(16)}`);
  if (deviceArgs.length > 0) steps.push({ args: [...head, ...deviceArgs], stdin });

  const viaConf: CheckedPeerChange[] = [];
  const removes: string[][] = [];
  const sets: string[][] = [];
  for (let i = 0; i < c.peers.length; i++) {
    const p = c.peers[i];
    if (p.updateOnly) throw new WgInputError(`peers[${i}].updateOnly`, 'wg cannot update a peer only if it exists');
    if (p.remove) {
      removes.push(['peer', p.publicKey, 'remove']);
      continue;
    }
    if (!p.replaceAllowedIps && p.allowedIps.length > 0) {
      throw new WgInputError(`peers[${i}].allowedIps`, 'wg always replaces a peer\'s allowed IPs: set replaceAllowedIps');
    }
    if (p.replaceAllowedIps && (opts.peerBatch ?? 'addconf') === 'addconf') {
      viaConf.push(p);
      continue;
    }
    if (p.presharedKey) throw new WgInputError(`peers[${i}].presharedKey`, 'wg set takes preshared keys from files: use replaceAllowedIps (sent with wg addconf)');
    sets.push(peerArgs(p));
  }
  for (const group of [removes, sets]) {
    let args = [...head];
    let size = argvBytes(args);
    for (const peer of group) {
      const n = argvBytes(peer);
      if (args.length > head.length && size + n > max) {
        steps.push({ args });
        args = [...head];
        size = argvBytes(args);
      }
      args.push(...peer);
      size += n;
    }
    if (args.length > head.length) steps.push({ args });
  }
  if (viaConf.length > 0) steps.push({ args: ['addconf', device, '/dev/stdin'], stdin: encodeConf(viaConf) });
  return steps;
}

function peerArgs(p: CheckedPeerChange): string[] {
  const args = ['peer', p.publicKey];
  if (p.endpoint !== undefined) args.push('endpoint', p.endpoint);
  if (p.persistentKeepalive !== undefined) args.push('persistent-keepalive', p.persistentKeepalive === 0 ? 'off' : String(p.persistentKeepalive));
  if (p.replaceAllowedIps) args.push('allowed-ips', p.allowedIps.join(','));
  return args;
}

function argvBytes(args: string[]): number {
  let n = 0;
  for (const a of args) n += Buffer.byteLength(a) + 1;
  return n;
}

/** `[Peer]` sections for `wg addconf`; every listed peer gets exactly the listed allowed IPs. */
function encodeConf(peers: CheckedPeerChange[]): string {
  const out: string[] = [];
  for (const p of peers) {
    out.push('[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.presharedKey) out.push(`PresharedKey = ${p.presharedKey.toString('base64')}`);
    if (p.endpoint !== undefined) out.push(`Endpoint = ${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) out.push(`PersistentKeepalive = ${p.persistentKeepalive === 0 ? 'off' : p.persistentKeepalive}`);
    if (p.allowedIps.length > 0) out.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * Parses `wg show <dev> dump`: the interface line (private key, public key, listen port, fwmark)
 * then one line per peer (public key, preshared key, endpoint, allowed IPs, latest handshake,
 * rx bytes, tx bytes, persistent keepalive), tab-separated, "(none)" / "off" for empty values.
 */
export function parseWgDump(text: string): WgDevice {
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length === 0) throw new WgDumpError('empty output');
  const head = fields(lines[0], 4, 1);
  const dev: WgDevice = {
    privateKey: head[0] === '(none)' ? null : new SecretKey(dumpKey(head[0], 'private key', 1)),
    publicKey: head[1] === '(none)' ? null : keyToBase64(dumpKey(head[1], 'public key', 1)),
    listenPort: dumpUint(head[2], 'listen port', 1, 65535),
    fwmark: head[3] === 'off' ? 0 : dumpFwmark(head[3], 1),
    peers: [],
  };
  for (let i = 1; i < lines.length; i++) {
    const at = i + 1;
    const f = fields(lines[i], 8, at);
    const peer: WgPeer = {
      publicKey: keyToBase64(dumpKey(f[0], 'peer public key', at)),
      presharedKey: f[1] === '(none)' ? null : new SecretKey(dumpKey(f[1], 'preshared key', at)),
      endpoint: f[2] === '(none)' ? null : f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      lastHandshakeSec: dumpUint(f[4], 'latest handshake', at),
      lastHandshakeNsec: 0,
      rxBytes: dumpUint(f[5], 'rx bytes', at),
      txBytes: dumpUint(f[6], 'tx bytes', at),
      persistentKeepalive: f[7] === 'off' ? 0 : dumpUint(f[7], 'persistent keepalive', at, 65535),
    };
    dev.peers.push(peer);
  }
  return dev;
}

/** `wg show dump` output we cannot read. */
export class WgDumpError extends Error {
  override readonly name = 'WgDumpError';
  constructor(message: string, line?: number) {
    super(`wg show dump: ${line === undefined ? '' : `line ${line}: `}${message}`);
  }
}

function fields(line: string, n: number, at: number): string[] {
  const f = line.split('\t');
  if (f.length !== n) throw new WgDumpError(`expected ${n} tab-separated fields, got ${f.length}`, at);
  return f;
}

function dumpKey(text: string, what: string, at: number): Buffer {
  if (!isBase64Key(text)) throw new WgDumpError(`${what} is not a base64 key`, at);
  return keyFromBase64(text);
}

function dumpUint(text: string, what: string, at: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d{1,20}$/.test(text) || Number(text) > max) throw new WgDumpError(`${what} ${JSON.stringify(text.slice(0, 24))} is not an integer up to ${max}`, at);
  return Number(text);
}

function dumpFwmark(text: string, at: number): number {
  if (!/^0x[0-9a-f]{1,8}$/i.test(text)) throw new WgDumpError(`fwmark ${JSON.stringify(text.slice(0, 24))} is not off or 0x…`, at);
  return parseInt(text.slice(2), 16);
}
