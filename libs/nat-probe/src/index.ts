// libs/nat-probe: the STUN server, NAT classification and path decisions.
export * from './decide';
export * from './path-words';
export * from './leader-decisions';
export * from './member-paths';
export * from './classify-schedule';
export * from './punch';
export * from './stun-server';
export { answerDatagram, DROP_REASONS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_SOFTWARE_BYTES, otherAddressFor, topologySlots } from './stun-server-handler';
export type { AnswerKind, DropReason, Outcome, ServerMode, ServerTopology, SocketSlot } from './stun-server-handler';
export { DEFAULT_RATE_LIMIT, SourceRateLimiter } from './stun-server-limits';
export type { RateLimit } from './stun-server-limits';
export * from './classify';
export * from './classify-observations';
export { IGNORE_REASONS, StunUdpClient } from './udp-client';
export type { IgnoreReason, StunUdpClientOptions, TransactionOptions, TransactionResult } from './udp-client';
