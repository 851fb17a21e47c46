/**
 * Small strict validators for messages that cross a process boundary. Every failure is a
 * ContractError naming the field path and the expected form; unknown fields are refused.
 */
export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly path: string,
    readonly expected: string,
  ) {
    super(`${path || 'message'}: ${expected}`);
  }
}

export type Obj = Record<string, unknown>;

/**
 * A JSON object with only the `allowed` fields; `opts.ignoreUnknown` lets other fields through
 * unread (for events exchanged between members that may run different versions: a newer sender's
 * added optional field must not make an older receiver drop the whole message).
 */
export function object(value: unknown, path: string, allowed: readonly string[], opts: { ignoreUnknown?: boolean } = {}): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ContractError(path, 'must be a JSON object');
  }
  if (opts.ignoreUnknown) return value as Obj;
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ContractError(join(path, key), 'is not a known field');
  }
  return value as Obj;
}

export function string(value: unknown, path: string, maxLength = 256): string {
  if (typeof value !== 'string') throw new ContractError(path, 'must be a string');
  if (value.length > maxLength) throw new ContractError(path, `must be at most ${maxLength} characters`);
  return value;
}

export function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ContractError(path, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function array(value: unknown, path: string, maxItems: number): unknown[] {
  if (!Array.isArray(value)) throw new ContractError(path, 'must be an array');
  if (value.length > maxItems) throw new ContractError(path, `must have at most ${maxItems} items`);
  return value;
}

export function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T)) {
    throw new ContractError(path, `must be one of ${options.map((o) => `"${o}"`).join(', ')}`);
  }
  return value as T;
}

/** Wraps a parse function so any error it throws names the path. */
export function field<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ContractError) throw err;
    throw new ContractError(path, (err as Error).message);
  }
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Parses a JSON message body with a size bound, then validates it. */
export function decodeJson<T>(body: Uint8Array | string, parse: (value: unknown) => T, maxBytes = MAX_MESSAGE_BYTES): T {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > maxBytes) throw new ContractError('', `is ${size} bytes, more than the ${maxBytes} allowed`);
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch {
    throw new ContractError('', 'is not valid JSON');
  }
  return parse(value);
}

/** The largest message we accept: NATS's default max_payload. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
