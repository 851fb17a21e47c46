import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { parseDeviceName, WgDevice, WgDeviceChange } from './device';
import { NoDeviceError, UapiProtocolError, UapiTimeoutError } from './errors';
import { encodeSet, GET_REQUEST, parseGet, parseSetResponse } from './uapi-codec';

/** Where wireguard-go (and boringtun) put their UAPI sockets. Shared by every network namespace. */
export const UAPI_SOCKET_DIR = '/var/run/wireguard';

export function uapiSocketPath(device: string, dir = UAPI_SOCKET_DIR): string {
  return join(dir, `${parseDeviceName(device)}.sock`);
}

export interface UapiClientOptions {
  /** Default `/var/run/wireguard/<device>.sock`. */
  socketPath?: string;
  /** Per request; 10 s by default (a set of 10,000 peers takes well under a second). */
  timeoutMs?: number;
  /** A get response larger than this is refused (256 MiB by default). */
  maxResponseBytes?: number;
}

export const DEFAULT_UAPI_TIMEOUT_MS = 10_000;

/**
 * Talks to a userspace WireGuard device (wireguard-go, boringtun) over its UAPI unix socket:
 * one connection per request, as wg(8) does (after a refused set, wireguard-go reads the rest
 * of the transaction as a new request and drops the connection).
 */
export class UapiClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(
    readonly device: string,
    opts: UapiClientOptions = {},
  ) {
    this.socketPath = opts.socketPath ?? uapiSocketPath(device);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_UAPI_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? 256 * 1024 * 1024;
  }

  /** The device's configuration and peer statistics. */
  async get(): Promise<WgDevice> {
    return parseGet(await this.exchange('get', GET_REQUEST), this.device);
  }

  /** Applies the change as one `set=1` transaction (validated before anything is sent). */
  async set(change: WgDeviceChange): Promise<void> {
    const request = encodeSet(change);
    parseSetResponse(await this.exchange('set', request), this.device);
  }

  /** True when the socket file exists (the daemon may still be gone: see `get`). */
  socketExists(): boolean {
    return existsSync(this.socketPath);
  }

  private exchange(operation: 'get' | 'set', request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      let size = 0;
      let lastByte = -1;
      let settled = false;
      const finish = (err: Error | null, text?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(text!);
      };
      const timer = setTimeout(() => finish(new UapiTimeoutError(this.device, operation, this.timeoutMs)), this.timeoutMs);
      socket.on('error', (err: NodeJS.ErrnoException) => finish(this.socketError(err)));
      socket.on('close', () => finish(new UapiProtocolError(`the device closed the connection before the end of its answer to ${operation}`)));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          finish(new UapiProtocolError(`the answer to ${operation} is larger than ${this.maxResponseBytes} bytes`));
          return;
        }
        const n = chunk.length;
        const prev = n >= 2 ? chunk[n - 2] : lastByte;
        lastByte = chunk[n - 1];
        if (prev === 0x0a && lastByte === 0x0a) finish(null, Buffer.concat(chunks, size).toString('utf8'));
      });
      socket.write(request);
    });
  }

  private socketError(err: NodeJS.ErrnoException): Error {
    switch (err.code) {
      case 'ENOENT':
        return new NoDeviceError(this.device, `no UAPI socket at ${this.socketPath}`);
      case 'ECONNREFUSED':
        return new NoDeviceError(this.device, `the UAPI socket at ${this.socketPath} refuses connections: a stale socket of a stopped daemon?`);
      case 'EPIPE':
      case 'ECONNRESET':
        return new UapiProtocolError(`the device closed the connection during the request (${err.code}); its log says why`);
      default:
        return new Error(`UAPI socket ${this.socketPath}: ${err.message}`);
    }
  }
}
