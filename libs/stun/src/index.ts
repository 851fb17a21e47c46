export * from './errors';
export { ATTR, MAGIC_COOKIE, METHOD_BINDING, HEADER_BYTES, TRANSACTION_ID_BYTES } from './constants';
export type { StunClass } from './constants';
export * from './message';
export { crc32 } from './crc32';
export { bindingRequest, bindingSuccess, bindingError, encodeMessage, addressAttr, changeRequestAttr, errorCodeAttr, unknownAttributesAttr } from './encode';
export type { EncodeOptions, BindingRequestOptions, BindingSuccessOptions, BindingErrorOptions } from './encode';
export { parseMessage, isStun } from './decode';
export { newTransactionId } from './transaction';
