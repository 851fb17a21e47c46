import type { SecretKey } from '@wgmesh/wireguard';
import type { Logger } from '@wgmesh/log';
import { NoDeviceError, WgPeerBatch, WgTools } from '@wgmesh/wireguard';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff, RecreatedPeer } from './driver';
import { configureLink, IpCommandError, IpLink } from './ip-link';
import { quietLog } from './quiet-log';
import { recreateChanges, settingsChange, toDeviceState, toPeerChanges } from './wireguard-model';

export interface WgDriverOptions {
  /** Network namespace of the interface (wg and ip run there); the current one by default. */
  netns?: string;
  /** The wg binary ("wg"). */
  wgPath?: string;
  peerBatch?: WgPeerBatch;
  maxArgvBytes?: number;
  log?: Logger;
}

/** The kernel cannot make the device (no WireGuard module). */
export class DeviceCreateError extends Error {
  override readonly name = 'DeviceCreateError';
}

/**
 * Kernel WireGuard through wireguard-tools: reads `wg show <dev> dump`, applies a diff with
 * `wg set` (removals) and one `wg addconf` (upserts). Works on userspace devices too, since wg
 * talks to their UAPI socket. With `create`, runs `ip link add <dev> type wireguard`.
 */
export class WgDriver implements DataplaneDriver {
  readonly kind = 'wg' as const;
  private readonly wg: WgTools;
  private readonly link: IpLink;
  private readonly log: Logger;

  constructor(
    readonly device: string,
    private readonly opts: WgDriverOptions = {},
  ) {
    this.wg = new WgTools(device, { netns: opts.netns, wgPath: opts.wgPath, peerBatch: opts.peerBatch, maxArgvBytes: opts.maxArgvBytes });
    this.link = new IpLink(device, { netns: opts.netns });
    this.log = opts.log ?? quietLog;
  }

  async ensureDevice(spec: DeviceSpec): Promise<void> {
    const where = this.opts.netns ? ` in network namespace ${this.opts.netns}` : '';
    if (!(await this.link.state()).exists) {
      if (!spec.create) throw new NoDeviceError(this.device, `no interface ${this.device}${where}`);
      try {
        await this.link.addWireguardLink();
      } catch (err) {
        if (err instanceof IpCommandError && /Unknown device type|not supported/i.test(err.stderr)) {
          throw new DeviceCreateError(
            `cannot create WireGuard device ${this.device}: this kernel has no WireGuard module (ip link add ${this.device} type wireguard: ${err.stderr.trim()}); use the uapi driver, which runs wireguard-go`,
          );
        }
        throw err;
      }
      this.log.info('created kernel WireGuard device', { device: this.device, netns: this.opts.netns });
    }
    const { change, changed } = settingsChange(await this.wg.show(), spec);
    if (changed.length > 0) await this.wg.set(change);
    changed.push(...(await configureLink(this.link, spec)));
    if (changed.length > 0) this.log.info('device configured', { device: this.device, changed });
    else this.log.debug('device already as configured', { device: this.device });
  }

  async read(): Promise<DeviceState> {
    return toDeviceState(await this.wg.show());
  }

  async readPrivateKey(): Promise<SecretKey | null> {
    return (await this.wg.show()).privateKey;
  }

  async apply(diff: PeerDiff): Promise<void> {
    if (diff.upsert.length === 0 && diff.remove.length === 0 && !diff.poke?.length) return;
    await this.wg.set({ peers: toPeerChanges(diff) });
  }

  async recreatePeers(entries: readonly RecreatedPeer[]): Promise<void> {
    await this.wg.setInOrder(recreateChanges(entries));
  }

  async close(): Promise<void> {
    // Each wg invocation is its own process: nothing to release.
  }
}
