import { execFile } from 'node:child_process';
import { canonicalCidr, formatIp, parseCidr, parseIp } from '@wgmesh/netaddr';
import { NoDeviceError } from '@wgmesh/wireguard';

/** An `ip` command failed; `stderr` is iproute2's explanation. */
export class IpCommandError extends Error {
  override readonly name = 'IpCommandError';
  constructor(
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`ip ${args.join(' ')} failed: ${stderr.trim() || 'no message'}`);
  }
}

export interface LinkState {
  exists: boolean;
  /** Administratively up. */
  up: boolean;
  mtu: number;
  /** Interface addresses with prefix length, host bits kept ("10.99.0.5/16"). */
  addresses: string[];
}

export interface IpLinkOptions {
  /** Network namespace of the interface (`ip -n <netns> …`); the current one when absent. */
  netns?: string;
  timeoutMs?: number;
}

/**
 * An interface address with its prefix length, as `ip address` takes it: host bits are kept
 * ("10.99.0.5/16"), unlike a route or allowed-ips prefix. Canonical text; a bare address is /32 or /128.
 */
export function parseInterfaceAddress(text: string): string {
  const { prefixLength } = parseCidr(text);
  const slash = text.indexOf('/');
  return `${formatIp(parseIp(slash < 0 ? text : text.slice(0, slash)))}/${prefixLength}`;
}

/** The interface side of a device with iproute2: existence, addresses, MTU and up, routes. */
export class IpLink {
  readonly netns?: string;
  private readonly timeoutMs: number;

  constructor(
    readonly device: string,
    opts: IpLinkOptions = {},
  ) {
    this.netns = opts.netns;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async state(): Promise<LinkState> {
    let out: string;
    try {
      out = await this.ip(['-j', 'address', 'show', 'dev', this.device]);
    } catch (err) {
      if (err instanceof IpCommandError && /does not exist/.test(err.stderr)) return { exists: false, up: false, mtu: 0, addresses: [] };
      throw err;
    }
    const [link] = JSON.parse(out) as Array<{ flags?: string[]; mtu?: number; addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }> }>;
    return {
      exists: true,
      up: link.flags?.includes('UP') ?? false,
      mtu: link.mtu ?? 0,
      addresses: (link.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => parseInterfaceAddress(`${a.local}/${a.prefixlen}`)),
    };
  }

  /** Prefixes routed through the device in the main table (IPv4 and IPv6), canonical. */
  async routes(): Promise<string[]> {
    const out: string[] = [];
    for (const family of ['-4', '-6']) {
      const rows = JSON.parse(await this.ip(['-j', family, 'route', 'show', 'dev', this.device])) as Array<{ dst: string }>;
      for (const r of rows) {
        if (r.dst === 'default') out.push(family === '-4' ? '0.0.0.0/0' : '::/0');
        else if (!r.dst.startsWith('fe80:')) out.push(canonicalCidr(r.dst));
      }
    }
    return out;
  }

  addAddress(address: string): Promise<string> {
    return this.ip(['address', 'replace', address, 'dev', this.device]);
  }

  setUp(mtu: number): Promise<string> {
    return this.ip(['link', 'set', 'dev', this.device, 'mtu', String(mtu), 'up']);
  }

  replaceRoute(prefix: string): Promise<string> {
    return this.ip(['route', 'replace', prefix, 'dev', this.device]);
  }

  /** `<dev>` with a veth peer `<peer>` (both in this namespace, down). */
  addVeth(peer: string): Promise<string> {
    return this.ip(['link', 'add', this.device, 'type', 'veth', 'peer', 'name', peer]);
  }

  /** Moves interface `peer` of this namespace into the network namespace of process `pid`. */
  movePeer(peer: string, pid: number): Promise<string> {
    return this.ip(['link', 'set', peer, 'netns', String(pid)]);
  }

  /** The device's MAC address. */
  async mac(): Promise<Buffer> {
    const [link] = JSON.parse(await this.ip(['-j', 'link', 'show', 'dev', this.device])) as Array<{ address: string }>;
    return Buffer.from(link.address.split(':').map((h) => parseInt(h, 16)));
  }

  /** A permanent neighbour entry: `ip` is at `mac` on this device (no ARP). */
  setNeighbour(ip: string, mac: Uint8Array): Promise<string> {
    const lladdr = Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
    return this.ip(['neigh', 'replace', ip, 'lladdr', lladdr, 'dev', this.device, 'nud', 'permanent']);
  }

  /** `ip route replace <prefix> via <via> dev <dev> onlink [src <src>]`. */
  replaceRouteVia(prefix: string, via: string, src?: string): Promise<string> {
    return this.ip(['route', 'replace', canonicalCidr(prefix), 'via', via, 'dev', this.device, 'onlink', ...(src ? ['src', src] : [])]);
  }

  /**
   * Checksum and segmentation offload on or off (`ethtool -K <dev> tx … tso … gso …`). Off, the
   * kernel computes every checksum itself and hands over no segment above the MTU.
   */
  async setOffloads(on: boolean): Promise<void> {
    const v = on ? 'on' : 'off';
    const args = [...(this.netns ? ['netns', 'exec', this.netns] : []), 'ethtool', '-K', this.device, 'tx', v, 'tso', v, 'gso', v];
    const cmd = this.netns ? 'ip' : args.shift()!;
    await new Promise<void>((resolve, reject) => {
      execFile(cmd, args, { timeout: this.timeoutMs }, (err, _out, stderr) => {
        if (!err) return resolve();
        if (/ethtool.*(No such file|not found)|ENOENT/.test(`${stderr} ${err.message}`)) {
          reject(new IpCommandError(args, `ethtool is missing: ${this.device} needs its checksum and segmentation offloads ${v} (apt-get install ethtool)`));
        } else reject(new IpCommandError(args, stderr || err.message));
      });
    });
  }

  /** `ip link add <dev> type wireguard` (kernel WireGuard). */
  addWireguardLink(): Promise<string> {
    return this.ip(['link', 'add', 'dev', this.device, 'type', 'wireguard']);
  }

  private ip(args: string[]): Promise<string> {
    const argv = this.netns ? ['-n', this.netns, ...args] : args;
    return new Promise((resolve, reject) => {
      execFile('ip', argv, { timeout: this.timeoutMs }, (err, stdout, stderr) => {
        if (err) reject(new IpCommandError(argv, stderr || err.message));
        else resolve(stdout);
      });
    });
  }
}

export interface LinkSpec {
  addresses?: string[];
  routes?: string[];
  mtu?: number;
}

export const DEFAULT_MTU = 1420;

/**
 * Brings the interface to the spec, changing only what differs: missing addresses added
 * (others left alone), MTU set and link up, missing routes added. Returns what it changed.
 */
export async function configureLink(link: IpLink, spec: LinkSpec): Promise<string[]> {
  const changes: string[] = [];
  const state = await link.state();
  if (!state.exists) {
    // A userspace daemon's socket is visible from every namespace; its interface only from its own.
    throw new NoDeviceError(link.device, `no interface ${link.device} in ${link.netns ? `network namespace ${link.netns}` : 'this network namespace'}`);
  }
  const present = new Set(state.addresses);
  for (const address of spec.addresses ?? []) {
    const a = parseInterfaceAddress(address);
    if (present.has(a)) continue;
    await link.addAddress(a);
    changes.push(`address ${a}`);
  }
  const mtu = spec.mtu ?? DEFAULT_MTU;
  if (!state.up || state.mtu !== mtu) {
    await link.setUp(mtu);
    changes.push(`mtu ${mtu} up`);
  }
  if ((spec.routes ?? []).length > 0) {
    const routed = new Set(await link.routes());
    for (const route of spec.routes ?? []) {
      const r = canonicalCidr(route);
      if (routed.has(r)) continue;
      await link.replaceRoute(r);
      changes.push(`route ${r}`);
    }
  }
  return changes;
}
