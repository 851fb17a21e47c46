export * from './server';
export * from './bus';
export * from './exception-filter';
export * from './errors';
export * from './status';
export * from './stats';
export * from './connection';
export type { TransportLogger } from './log';
export type { InboundKind } from './inbound';
