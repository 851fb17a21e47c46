/** The responder answered with an `ErrorReply`: `code` is its error code ("invalid_request", "internal", …). */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(
    readonly code: string,
    message: string,
    readonly subject: string,
  ) {
    super(`${subject}: ${code}: ${message}`);
  }
}

export type RequestFailure = 'timeout' | 'no_responders' | 'closed' | 'failed';

/** A request got no reply: nobody listens on the subject, it timed out, or the connection is gone. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: RequestFailure,
    readonly subject: string,
    message: string,
  ) {
    super(message);
  }
}
