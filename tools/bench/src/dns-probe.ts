import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';

/**
 * One-off DNS queries over UDP (no EDNS, like dnsperf's default): to wait until a server answers
 * and to check its answers before it is measured.
 */
export interface ProbeAnswer {
  rcode: string;
  authoritative: boolean;
  truncated: boolean;
  answers: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  bytes: number;
}

export async function probe(host: string, port: number, name: string, type: dnsPacket.RecordType, timeoutMs = 1000): Promise<ProbeAnswer> {
  const socket = createSocket('udp4');
  const id = Math.floor(Math.random() * 65536);
  const query = dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type, name: name.replace(/\.$/, '') }] });
  try {
    return await new Promise<ProbeAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port} to ${name} ${type} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('message', (msg) => {
        const packet = dnsPacket.decode(msg);
        if (packet.id !== id) return;
        clearTimeout(timer);
        resolve({
          rcode: rcodeName(packet.flags ?? 0),
          authoritative: packet.flag_aa,
          truncated: packet.flag_tc,
          answers: packet.answers ?? [],
          additionals: packet.additionals ?? [],
          authorities: packet.authorities ?? [],
          bytes: msg.length,
        });
      });
      socket.send(query, port, host);
    });
  } finally {
    socket.close();
  }
}

/** The same over TCP (a 2-byte length, then the message), to see what a client gets after TC. */
export async function probeTcp(host: string, port: number, name: string, type: dnsPacket.RecordType, timeoutMs = 2000): Promise<ProbeAnswer> {
  const id = Math.floor(Math.random() * 65536);
  const query = dnsPacket.streamEncode({ type: 'query', id, flags: 0, questions: [{ type, name: name.replace(/\.$/, '') }] });
  const socket = connect({ host, port });
  try {
    const msg = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TCP answer from ${host}:${port} to ${name} ${type} within ${timeoutMs} ms`)), timeoutMs);
      let buf = Buffer.alloc(0);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`${host}:${port} closed the TCP connection without a full answer to ${name} ${type}`));
      });
      socket.write(query);
    });
    const packet = dnsPacket.decode(msg);
    return {
      rcode: rcodeName(packet.flags ?? 0),
      authoritative: packet.flag_aa,
      truncated: packet.flag_tc,
      answers: packet.answers ?? [],
      additionals: packet.additionals ?? [],
      authorities: packet.authorities ?? [],
      bytes: msg.length,
    };
  } finally {
    socket.destroy();
  }
}

/** The RCODE's name from the header flags (dns-packet's decode result is not typed for it). */
export function rcodeName(flags: number): string {
  return ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][flags & 0xf] ?? `RCODE${flags & 0xf}`;
}

/** Retries `probe` until `accept` holds for an answer, or throws after `timeoutMs`. */
export async function waitUntilAnswers(
  host: string,
  port: number,
  name: string,
  type: dnsPacket.RecordType,
  accept: (a: ProbeAnswer) => boolean,
  timeoutMs: number,
  stillRunning: () => boolean = () => true,
): Promise<ProbeAnswer> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline && stillRunning()) {
    try {
      const a = await probe(host, port, name, type, 200);
      if (accept(a)) return a;
      last = `rcode ${a.rcode}, ${a.answers.length} answers`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${host}:${port} did not answer ${name} ${type} as expected within ${timeoutMs} ms (${last})`);
}
