import type { SecretKey } from '@wgmesh/wireguard';
import type { Logger } from '@wgmesh/log';
import { NoDeviceError, UapiClient } from '@wgmesh/wireguard';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff, RecreatedPeer } from './driver';
import { configureLink, IpLink } from './ip-link';
import { quietLog } from './quiet-log';
import { DEFAULT_STATE_DIR, removeStaleSocket, startWireguardGo } from './wireguard-go';
import { recreateChanges, settingsChange, toDeviceState, toPeerChanges } from './wireguard-model';

export interface UapiDriverOptions {
  /** Default /var/run/wireguard/<device>.sock. */
  socketPath?: string;
  /** UAPI request timeout (10 s). */
  timeoutMs?: number;
  /** Network namespace of the interface, for `ip` and for starting the daemon; the current one by default. */
  netns?: string;
  /** Daemon state file and log directory (/var/run/wgmesh). */
  stateDir?: string;
  /** Daemon binary for `create` ("wireguard-go"). */
  wireguardGo?: string;
  log?: Logger;
}

/**
 * A userspace device (wireguard-go, boringtun) over its UAPI socket: reads with one `get=1`,
 * applies a whole diff as one `set=1` transaction. With `create`, starts wireguard-go detached
 * (it keeps running when this process exits, and is adopted, never restarted, next time).
 */
export class UapiDriver implements DataplaneDriver {
  readonly kind = 'uapi' as const;
  private readonly uapi: UapiClient;
  private readonly link: IpLink;
  private readonly log: Logger;

  constructor(
    readonly device: string,
    private readonly opts: UapiDriverOptions = {},
  ) {
    this.uapi = new UapiClient(device, { socketPath: opts.socketPath, timeoutMs: opts.timeoutMs });
    this.link = new IpLink(device, { netns: opts.netns });
    this.log = opts.log ?? quietLog;
  }

  async ensureDevice(spec: DeviceSpec): Promise<void> {
    let current = await this.uapi.get().catch((err: Error) => {
      if (err instanceof NoDeviceError) return null;
      throw err;
    });
    if (current === null) {
      if (!spec.create) throw new NoDeviceError(this.device, `no UAPI socket at ${this.uapi.socketPath}; start wireguard-go ${this.device}, or have it created (--create)`);
      const stateDir = this.opts.stateDir ?? DEFAULT_STATE_DIR;
      if (this.uapi.socketExists()) {
        const stale = removeStaleSocket(this.uapi, stateDir);
        if (stale === 'foreign') throw new NoDeviceError(this.device, `${this.uapi.socketPath} exists but nothing answers, and no daemon we started owns it; remove it if no daemon runs for ${this.device}`);
        if (stale === 'running') throw new NoDeviceError(this.device, `${this.uapi.socketPath} refuses connections while the wireguard-go we started is still running (shutting down?); try again`);
        this.log.warn('removed the socket of a wireguard-go of ours that is gone', { device: this.device, socket: this.uapi.socketPath });
      }
      const record = await startWireguardGo(this.uapi, { binary: this.opts.wireguardGo, netns: this.opts.netns, stateDir });
      this.log.info('started wireguard-go', { device: this.device, pid: record.pid, log: record.log, netns: this.opts.netns });
      current = await this.uapi.get();
    }
    const { change, changed } = settingsChange(current, spec);
    if (changed.length > 0) await this.uapi.set(change);
    changed.push(...(await configureLink(this.link, spec)));
    if (changed.length > 0) this.log.info('device configured', { device: this.device, changed });
    else this.log.debug('device already as configured', { device: this.device });
  }

  async read(): Promise<DeviceState> {
    return toDeviceState(await this.uapi.get());
  }

  async readPrivateKey(): Promise<SecretKey | null> {
    return (await this.uapi.get()).privateKey;
  }

  async apply(diff: PeerDiff): Promise<void> {
    if (diff.upsert.length === 0 && diff.remove.length === 0 && !diff.poke?.length) return;
    await this.uapi.set({ peers: toPeerChanges(diff, { minimal: true, updateOnly: true }) });
  }

  async recreatePeers(entries: readonly RecreatedPeer[]): Promise<void> {
    if (entries.length > 0) await this.uapi.set({ peers: recreateChanges(entries) });
  }

  async close(): Promise<void> {
    // One connection per request: nothing to release, and the device is left as it is.
  }
}
