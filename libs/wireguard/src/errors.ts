import { constants } from 'node:os';

/** The device does not exist: no UAPI socket, a stale one, or `wg` cannot find the interface. */
export class NoDeviceError extends Error {
  override readonly name = 'NoDeviceError';
  constructor(
    readonly device: string,
    readonly reason: string,
  ) {
    super(`no WireGuard device ${device} (${reason})`);
  }
}

/** The device answered a request with a non-zero `errno=` (wireguard-go sends it negated, e.g. -22). */
export class UapiError extends Error {
  override readonly name = 'UapiError';
  /** The value as sent by the device. */
  readonly errno: number;
  /** Symbolic name ("EINVAL") when known. */
  readonly code: string | undefined;

  constructor(
    readonly device: string,
    readonly operation: 'get' | 'set',
    errno: number,
  ) {
    const code = errnoName(errno);
    super(`WireGuard device ${device} refused the ${operation} request: errno=${errno}${code ? ` (${code})` : ''}; the daemon's log has the reason`);
    this.errno = errno;
    this.code = code;
  }
}

/** The device's response does not follow the UAPI protocol (malformed line, value or framing). */
export class UapiProtocolError extends Error {
  override readonly name = 'UapiProtocolError';
  constructor(
    message: string,
    /** 1-based line of the response where the problem is, when known. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

/** The device did not answer within the timeout. */
export class UapiTimeoutError extends Error {
  override readonly name = 'UapiTimeoutError';
  constructor(
    readonly device: string,
    readonly operation: 'get' | 'set',
    readonly timeoutMs: number,
  ) {
    super(`WireGuard device ${device} did not answer the ${operation} request within ${timeoutMs} ms`);
  }
}

/** A change that cannot be expressed (bad key, endpoint, prefix, port, or an unsupported combination). */
export class WgInputError extends Error {
  override readonly name = 'WgInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A `wg` command failed; `stderr` is its own explanation. */
export class WgToolsError extends Error {
  override readonly name = 'WgToolsError';
  constructor(
    readonly args: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`wg ${args.slice(0, 2).join(' ')} failed (exit ${exitCode}): ${stderr.trim() || 'no message'}`);
  }
}

function errnoName(errno: number): string | undefined {
  const abs = Math.abs(errno);
  for (const [name, value] of Object.entries(constants.errno)) if (value === abs) return name;
  return undefined;
}
