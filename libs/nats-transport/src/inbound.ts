import { Attributes, Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ContractError, errorReply, InboundParser, MAX_MESSAGE_BYTES } from '@wgmesh/contracts';
import { errorMessage, extractTraceContext, recordError, withSpan } from '@wgmesh/telemetry';
import { ErrorCode, Msg, NatsError } from 'nats';
import { ChunkError, CHUNK_HEADER, MAX_ASSEMBLED_BYTES, Reassembler } from './chunks';
import { decodeBody, encodeJson } from './json';
import { countInbound, InboundOutcome, RejectReason } from './counters';
import { logLine, TransportLogger } from './log';
import { TransportStats } from './stats';

/** Events are fire-and-forget; requests are answered with the handler's result or an ErrorReply. */
export type InboundKind = 'event' | 'request';

export interface InboundRoute {
  /** The logical pattern from contracts (`peers.events`), which names spans and counters. */
  pattern: string;
  mesh: string;
  kind: InboundKind;
  stats: TransportStats;
  logger: TransportLogger;
  /**
   * The pattern's contract (contracts' `INBOUND`): a message it refuses never reaches the handler,
   * which receives what it returns (the typed, checked value). Absent: the handler gets any JSON.
   */
  validate?: InboundParser;
}

/** Receives the message as the pattern's contract returned it (checked and typed); its result is the reply of a request. */
export type Invoke = (value: unknown) => Promise<unknown>;

/**
 * Handles one received message: trace context from its headers, a CONSUMER (event) or SERVER
 * (request) span `<pattern> receive|process`, size-bounded JSON decoding, the pattern's contract,
 * the handler, and for requests the JSON reply or `ErrorReply`. Never rejects: each failure is
 * counted (`stats()` and the process-wide inbound counters), logged without the payload and, for
 * a request, answered. Bad input (too large, not JSON, refused by the contract, also when the
 * handler itself throws a ContractError) is `rejected`; a handler failing otherwise is `errors`.
 */
export async function handleInbound(msg: Msg, route: InboundRoute, invoke: Invoke, assembled = false): Promise<void> {
  tally(route, 'received');
  const operation = route.kind === 'request' ? 'process' : 'receive';
  const attributes: Attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': msg.subject,
    'messaging.operation.type': operation,
    'messaging.message.body.size': msg.data.length,
    'wgmesh.mesh': route.mesh,
  };
  const kind = route.kind === 'request' ? SpanKind.SERVER : SpanKind.CONSUMER;
  await withSpan(`${route.pattern} ${operation}`, attributes, (span) => process(msg, route, span, invoke, assembled ? MAX_ASSEMBLED_BYTES : MAX_MESSAGE_BYTES), {
    kind,
    parent: extractTraceContext(msg.headers),
  }).catch((err) => {
    // Only a bug in this file gets here; still never let it escape into the NATS callback.
    tally(route, 'errors');
    route.logger.error(logLine({ msg: 'message handling failed', pattern: route.pattern, subject: msg.subject, error: errorMessage(err) }));
  });
}

async function process(msg: Msg, route: InboundRoute, span: Span, invoke: Invoke, maxBytes: number): Promise<void> {
  const isRequest = route.kind === 'request';
  if (isRequest && !msg.reply) return reject(msg, route, span, 'no_reply_subject', 'request without a reply subject');
  let value: unknown;
  try {
    value = decodeBody(msg.data, maxBytes);
  } catch (err) {
    if (!(err instanceof ContractError)) throw err;
    reject(msg, route, span, msg.data.length > maxBytes ? 'too_large' : 'invalid_json', err.message);
    if (isRequest) respond(msg, route, span, errorReply(err));
    return;
  }
  if (route.validate) {
    try {
      value = route.validate(value);
    } catch (err) {
      const refusal = err instanceof ContractError ? err : new ContractError('', errorMessage(err));
      reject(msg, route, span, 'invalid_message', refusal.message);
      if (isRequest) respond(msg, route, span, errorReply(refusal));
      return;
    }
  }
  let result: unknown;
  try {
    result = await invoke(value);
  } catch (err) {
    if (err instanceof ContractError) {
      // The handler's own checks refused the message: bad input, like the contract's.
      reject(msg, route, span, 'invalid_message', err.message);
      if (isRequest) respond(msg, route, span, errorReply(err));
      return;
    }
    tally(route, 'errors');
    recordError(span, err);
    const reply = errorReply(err instanceof ContractError ? err : new Error(errorMessage(err)));
    route.logger.error(
      logLine({ msg: isRequest ? 'request failed' : 'event handler failed', pattern: route.pattern, subject: msg.subject, code: reply.error.code, error: reply.error.message }),
    );
    if (isRequest) respond(msg, route, span, reply);
    return;
  }
  if (isRequest && result !== NO_REPLY) respond(msg, route, span, result);
}

/**
 * What a request handler returns for a request that is not its to answer (another replica of
 * the same service answers it, e.g. an enrolment addressed to another registry): no reply is sent.
 */
export const NO_REPLY: unique symbol = Symbol('wgmesh.no-reply');

/**
 * handleInbound for a subscription that may receive chunked messages (see chunks.ts): a chunk is
 * held (a request's acknowledged with {"chunk":<index>}) until the message is whole, which is
 * then handled as one; a chunk that cannot be put together is refused as `invalid_chunk`.
 */
export async function handleChunked(reassembler: Reassembler, msg: Msg, route: InboundRoute, invoke: Invoke): Promise<void> {
  const accepted = reassembler.accept(msg);
  if (accepted.kind === 'message') return handleInbound(accepted.msg, route, invoke, accepted.msg !== msg);
  if (accepted.kind === 'held') {
    if (msg.reply) respondQuietly(msg, route, { chunk: accepted.header.index });
    return;
  }
  tally(route, 'rejected', 'invalid_chunk');
  route.logger.warn(logLine({ msg: 'message rejected', pattern: route.pattern, subject: msg.subject, reason: accepted.error.message, bytes: msg.data.length }));
  if (msg.reply) respondQuietly(msg, route, errorReply(new ContractError(CHUNK_HEADER, accepted.error.message)));
}

function respondQuietly(msg: Msg, route: InboundRoute, value: unknown): void {
  try {
    msg.respond(encodeJson(value));
  } catch (err) {
    tally(route, 'errors');
    route.logger.error(logLine({ msg: 'reply failed', pattern: route.pattern, subject: msg.subject, error: errorMessage(err) }));
  }
}

export { ChunkError };

function tally(route: InboundRoute, outcome: InboundOutcome, reason?: RejectReason): void {
  route.stats.count(route.pattern, outcome);
  countInbound({ mesh: route.mesh, pattern: route.pattern, outcome, reason });
}

function reject(msg: Msg, route: InboundRoute, span: Span, kind: RejectReason, reason: string): void {
  tally(route, 'rejected', kind);
  span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
  route.logger.warn(logLine({ msg: 'message rejected', pattern: route.pattern, subject: msg.subject, reason, bytes: msg.data.length }));
}

function respond(msg: Msg, route: InboundRoute, span: Span, value: unknown): void {
  try {
    msg.respond(encodeJson(value));
  } catch (err) {
    // Too large for max_payload, not serialisable, or the connection is gone.
    tally(route, 'errors');
    recordError(span, err);
    route.logger.error(logLine({ msg: 'reply failed', pattern: route.pattern, subject: msg.subject, error: errorMessage(err) }));
    const gone = err instanceof NatsError && (err.code === ErrorCode.ConnectionClosed || err.code === ErrorCode.ConnectionDraining);
    if (msg.reply && !gone) {
      msg.respond(encodeJson(errorReply(new Error(`reply could not be sent: ${errorMessage(err)}`))));
    }
  }
}
