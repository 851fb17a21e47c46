/**
 * Domain names as text: lowercase presentation form with a trailing dot ("mesh.example."), the
 * root as ".". Bytes other than printable ASCII are escaped as \DDD and a literal "." or "\" in a
 * label as "\." / "\\", so the text form of a wire name is exact and unambiguous.
 */
export class NameError extends Error {
  override readonly name = 'NameError';
}

const DOT = 0x2e;
const BACKSLASH = 0x5c;

/** Text of an uncompressed, already-validated wire name starting at `start`, lowercased. */
export function wireNameToText(msg: Uint8Array, start: number): string {
  const out = textScratch;
  let n = 0;
  for (let pos = start, len = msg[pos]; len !== 0; pos += len + 1, len = msg[pos]) {
    for (let i = pos + 1; i <= pos + len; i++) {
      const b = msg[i];
      if (b >= 0x41 && b <= 0x5a) {
        out[n++] = b + 0x20;
      } else if (b === DOT || b === BACKSLASH) {
        out[n++] = BACKSLASH;
        out[n++] = b;
      } else if (b > 0x20 && b < 0x7f) {
        out[n++] = b;
      } else {
        out[n++] = BACKSLASH;
        out[n++] = 0x30 + Math.floor(b / 100);
        out[n++] = 0x30 + (Math.floor(b / 10) % 10);
        out[n++] = 0x30 + (b % 10);
      }
    }
    out[n++] = DOT;
  }
  return n === 0 ? '.' : out.toString('latin1', 0, n);
}

/** Room for the longest text form: 255 wire bytes, each escaped as \DDD. */
const textScratch = Buffer.alloc(4 * 256);

/** Index of the "." ending the label that starts at `start` (escape-aware). */
export function labelEnd(name: string, start: number): number {
  let i = start;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c === DOT) return i;
    i += c === BACKSLASH ? (isDigit(name.charCodeAt(i + 1)) ? 4 : 2) : 1;
  }
  throw new NameError(`"${name}" does not end with "."`);
}

/** Writes the bytes of the label text name[start, end) into buf at pos; returns the byte count. */
export function writeLabelBytes(buf: Uint8Array, pos: number, name: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; n++) {
    const c = name.charCodeAt(i);
    if (c !== BACKSLASH) {
      buf[pos + n] = c;
      i += 1;
    } else if (isDigit(name.charCodeAt(i + 1))) {
      buf[pos + n] = Number(name.slice(i + 1, i + 4));
      i += 4;
    } else {
      buf[pos + n] = name.charCodeAt(i + 1);
      i += 2;
    }
  }
  return n;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** True when the "." at `index` separates labels (is not escaped by an odd run of "\"). */
export function isSeparatorAt(name: string, index: number): boolean {
  if (name.charCodeAt(index) !== DOT) return false;
  let slashes = 0;
  for (let i = index - 1; i >= 0 && name.charCodeAt(i) === BACKSLASH; i--) slashes++;
  return slashes % 2 === 0;
}

/** True when `name` is `origin` or below it. Both lowercase presentation names. */
export function inZone(name: string, origin: string): boolean {
  if (origin === '.' || name === origin) return true;
  const at = name.length - origin.length - 1;
  return at >= 0 && name.endsWith(origin) && isSeparatorAt(name, at);
}

/** The part of `name` left of `origin`, keeping its trailing dot ("" for the apex). */
export function relativeName(name: string, origin: string): string {
  if (name === origin) return '';
  return origin === '.' ? name : name.slice(0, name.length - origin.length);
}

/** `rel` ("a.b." or "") placed under `origin`. */
export function joinName(rel: string, origin: string): string {
  if (rel === '') return origin;
  return origin === '.' ? rel : rel + origin;
}

const HOSTNAME_CHAR = /^[a-z0-9_-]+$/;

/**
 * Validates a configured name (zone origin, SOA mname/rname): letters, digits, "-" and "_",
 * labels of 1-63 characters, at most 255 bytes on the wire. Returns it lowercase with a trailing dot.
 */
export function normalizeName(text: string, what: string): string {
  if (typeof text !== 'string' || text === '') throw new NameError(`${what} must be a domain name`);
  if (text === '.') return '.';
  const name = (text.endsWith('.') ? text : `${text}.`).toLowerCase();
  const labels = name.slice(0, -1).split('.');
  for (const label of labels) {
    if (label.length < 1 || label.length > 63 || !HOSTNAME_CHAR.test(label)) {
      throw new NameError(`${what} "${text}" has an invalid label "${label}" (1-63 of a-z, 0-9, "-", "_")`);
    }
  }
  if (name.length + 1 > 255) throw new NameError(`${what} "${text}" is longer than 255 bytes`);
  return name;
}
