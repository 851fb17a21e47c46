import { randomBytes } from 'node:crypto';
import { TRANSACTION_ID_BYTES } from './constants';

/** A fresh random 96-bit transaction id (the only impure helper here; tests pass fixed ids). */
export function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
}
