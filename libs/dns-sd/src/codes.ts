/** DNS numbers used on the wire (RFC 1035, 2782, 3596, 6891). */
export const RrType = {
  A: 1,
  NS: 2,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended rcode (needs an OPT RR): the query's EDNS version is not supported. */
  BADVERS: 16,
} as const;

export const OPCODE_QUERY = 0;

/** UDP without EDNS (RFC 1035), the largest DNS message (a TCP frame), our default EDNS size. */
export const UDP_LIMIT = 512;
export const TCP_LIMIT = 65535;
export const DEFAULT_EDNS_PAYLOAD = 1232;
export const MAX_EDNS_PAYLOAD = 4096;

const TYPE_NAMES = new Map<number, string>(Object.entries(RrType).map(([name, n]) => [n, name]));
const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([name, n]) => [n, name]));

/** Mnemonic of a record type ("SRV"), or RFC 3597's "TYPE123" for others. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}
