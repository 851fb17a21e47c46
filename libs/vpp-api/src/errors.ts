/** An API definition file (`*.api.json`) cannot be read or does not have the expected shape. */
export class VppDefinitionError extends Error {
  override readonly name = 'VppDefinitionError';
  constructor(
    /** The file (or directory) at fault. */
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** A message body does not match its definition (truncated, oversized, a count beyond the body…). */
export class VppDecodeError extends Error {
  override readonly name = 'VppDecodeError';
  constructor(
    /** The message being decoded. */
    readonly messageName: string,
    /** Dotted path of the field at fault, e.g. `peer.allowed_ips[1].address`; '' for the body. */
    readonly path: string,
    readonly problem: string,
  ) {
    super(`cannot decode ${messageName}${path ? `.${path}` : ''}: ${problem}`);
  }
}

/** A value cannot be encoded as its field's type (out of range, wrong kind, too long, unknown field). */
export class VppEncodeError extends Error {
  override readonly name = 'VppEncodeError';
  constructor(
    readonly messageName: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`cannot encode ${messageName}${path ? `.${path}` : ''}: ${problem}`);
  }
}

/** The socket's byte stream is not a sequence of well-formed frames (e.g. a length above the bound). */
export class VppFrameError extends Error {
  override readonly name = 'VppFrameError';
}

/** The message is not in our API definitions (a typo, or its .api.json file is not in apiDir). */
export class VppUnknownMessageError extends Error {
  override readonly name = 'VppUnknownMessageError';
  constructor(readonly messageName: string) {
    super(`unknown VPP API message "${messageName}": not in the loaded API definitions`);
  }
}

/**
 * The running VPP does not offer a message with the CRC of our definitions: `vppCrc` is the CRC its
 * message table has for that name, or null when the name is absent (plugin not loaded, other version).
 */
export class VppMessageUnavailableError extends Error {
  override readonly name = 'VppMessageUnavailableError';
  constructor(
    readonly messageName: string,
    readonly ourCrc: string,
    readonly vppCrc: string | null,
  ) {
    super(
      vppCrc === null
        ? `VPP does not offer ${messageName}: ours has CRC ${ourCrc}, the running VPP's message table has no ${messageName} (absent: plugin not loaded or another VPP version)`
        : `VPP offers ${messageName} with another layout: ours has CRC ${ourCrc}, the running VPP's message table has CRC ${vppCrc} (the API definitions in apiDir do not match this VPP)`,
    );
  }
}

/** VPP answered a call with a negative `retval`. `code` is the VNET_API_ERROR name when known. */
export class VppRetvalError extends Error {
  override readonly name = 'VppRetvalError';
  constructor(
    readonly call: string,
    readonly retval: number,
    readonly code: string | undefined,
  ) {
    super(`VPP refused ${call}: retval ${retval}${code ? ` (${code})` : ''}`);
  }
}

/** No reply within the timeout. VPP silently drops the reply to a request with a wrong client_index. */
export class VppTimeoutError extends Error {
  override readonly name = 'VppTimeoutError';
  constructor(
    readonly call: string,
    readonly context: number,
    readonly timeoutMs: number,
  ) {
    super(
      `VPP did not answer ${call} (context ${context}) within ${timeoutMs} ms; VPP drops replies silently when the client_index is wrong or the connection is stuck`,
    );
  }
}

/** The connection is not usable: the connect failed, VPP closed it, or close() was called. */
export class VppConnectionError extends Error {
  override readonly name = 'VppConnectionError';
  constructor(
    message: string,
    readonly cause_?: Error,
  ) {
    super(cause_ ? `${message}: ${cause_.message}` : message);
  }
}

/** VPP sent something the protocol does not allow here (a reply of the wrong kind for a context…). */
export class VppProtocolError extends Error {
  override readonly name = 'VppProtocolError';
}
