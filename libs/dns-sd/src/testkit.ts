import type { PeerRecord } from '@wgmesh/contracts';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { RrType } from './codes';

/**
 * Helpers for this library's specs: test keys and peers, a raw query builder that keeps the
 * name's case and can produce malformed messages, and header readers. Not part of the public API.
 */

/** A key like wgsd_test.go's: byte 0 (and 1, 2 for larger n) set from n. */
export function testKey(n: number): string {
  const key = Buffer.alloc(32);
  key[0] = n & 0xff;
  key[1] = (n >> 8) & 0xff;
  key[2] = (n >> 16) & 0xff;
  return key.toString('base64');
}

export function b32(publicKey: string): string {
  return keyToBase32(keyFromBase64(publicKey));
}

/** `<b32(key)>._wireguard._udp.<zone>` with the zone as given (trailing dot kept or not). */
export function instanceOf(publicKey: string, zone: string): string {
  return `${b32(publicKey)}._wireguard._udp.${zone}`;
}

export function testPeer(n: number, endpoint: string | null, allowedIps: string[] = [], extra: Partial<PeerRecord> = {}): PeerRecord {
  return { publicKey: testKey(n), endpoint, allowedIps, ...extra };
}

const TYPES: Record<string, number> = { ...RrType, CNAME: 5, MX: 15, HINFO: 13, TSIG: 250 };

export function typeCode(type: string | number): number {
  if (typeof type === 'number') return type;
  const code = TYPES[type];
  if (code === undefined) throw new Error(`unknown type ${type}`);
  return code;
}

export interface QuerySpec {
  name: string;
  type?: string | number;
  id?: number;
  rd?: boolean;
  qclass?: number;
  opcode?: number;
  /** Adds an OPT RR. */
  edns?: { udpSize?: number; version?: number; dnssecOk?: boolean };
}

/** Wire bytes of a name, labels as given (case kept, no compression). */
export function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/** A raw query, written by hand so specs control every byte. */
export function query(spec: QuerySpec): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id ?? 0x1234, 0);
  header[2] = ((spec.opcode ?? 0) << 3) | (spec.rd === false ? 0 : 1);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(spec.edns ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(typeCode(spec.type ?? 'A'), 0);
  tail.writeUInt16BE(spec.qclass ?? 1, 2);
  const parts = [header, wireName(spec.name), tail];
  if (spec.edns) parts.push(optRecord(spec.edns));
  return Buffer.concat(parts);
}

export function optRecord(edns: { udpSize?: number; version?: number; dnssecOk?: boolean }, owner: Uint8Array = Buffer.from([0]), options: Uint8Array = Buffer.alloc(0)): Buffer {
  const rr = Buffer.alloc(10);
  rr.writeUInt16BE(RrType.OPT, 0);
  rr.writeUInt16BE(edns.udpSize ?? 1232, 2);
  rr[5] = edns.version ?? 0;
  rr[6] = edns.dnssecOk ? 0x80 : 0;
  rr.writeUInt16BE(options.length, 8);
  return Buffer.concat([owner, rr, options]);
}

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export function header(msg: Buffer): Header {
  return {
    id: msg.readUInt16BE(0),
    qr: (msg[2] & 0x80) !== 0,
    opcode: (msg[2] >> 3) & 0x0f,
    aa: (msg[2] & 0x04) !== 0,
    tc: (msg[2] & 0x02) !== 0,
    rd: (msg[2] & 0x01) !== 0,
    ra: (msg[3] & 0x80) !== 0,
    rcode: msg[3] & 0x0f,
    qdcount: msg.readUInt16BE(4),
    ancount: msg.readUInt16BE(6),
    nscount: msg.readUInt16BE(8),
    arcount: msg.readUInt16BE(10),
  };
}

/** A record as dns-packet decodes it, loosened for assertions (`data` depends on the type). */
export interface DecodedRecord {
  name: string;
  type: string;
  ttl?: number;
  data?: any;
  udpPayloadSize?: number;
  extendedRcode?: number;
}

export interface DecodedMessage {
  id?: number;
  questions?: { name: string; type: string; class: string }[];
  answers?: DecodedRecord[];
  authorities?: DecodedRecord[];
  additionals?: DecodedRecord[];
}

/** Decodes with dns-packet: an independent reader of what we write. */
export function decode(msg: Buffer): DecodedMessage {
  return dnsPacket.decode(msg) as unknown as DecodedMessage;
}

/** Records as plain values for comparisons: TXT strings as text, OPT by its fields. */
export function plain(rrs: DecodedRecord[] | undefined): unknown[] {
  return (rrs ?? []).map((rr) => {
    if (rr.type === 'TXT') return { name: rr.name, type: rr.type, ttl: rr.ttl, data: (rr.data as Buffer[]).map(String) };
    if (rr.type === 'OPT') return { type: 'OPT', udpPayloadSize: rr.udpPayloadSize, extendedRcode: rr.extendedRcode };
    return { name: rr.name, type: rr.type, ttl: rr.ttl, data: rr.data };
  });
}
