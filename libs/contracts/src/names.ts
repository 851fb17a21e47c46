import { ContractError } from './validate';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A mesh name or node id: a DNS-label-like token, safe inside a NATS subject and a Redis key. */
export function parseName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ContractError(path, 'must be 1-63 lowercase letters, digits or "-", not starting or ending with "-"');
  }
  return value;
}
