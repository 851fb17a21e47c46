import type { DriverKind } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import type { DataplaneDriver } from './driver';
import { UapiDriver, UapiDriverOptions } from './uapi-driver';
import { VppDriver, VppDriverOptions } from './vpp-driver';
import { WgDriver, WgDriverOptions } from './wg-driver';

export type DriverOptions = UapiDriverOptions & WgDriverOptions & VppDriverOptions & { log?: Logger };

export class DriverUnavailableError extends Error {
  override readonly name = 'DriverUnavailableError';
}

/** The driver of a kind for one device: 'uapi' (wireguard-go, boringtun), 'wg' (kernel), 'vpp' (VPP's binary API; vpp* options). */
export function createDriver(kind: DriverKind, device: string, opts: DriverOptions = {}): DataplaneDriver {
  switch (kind) {
    case 'uapi':
      return new UapiDriver(device, opts);
    case 'wg':
      return new WgDriver(device, opts);
    case 'vpp':
      return new VppDriver(device, opts);
  }
}
