import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';

export interface DnsTarget {
  host: string;
  port: number;
}

/** One query over UDP; resolves with the raw response, or null on timeout. */
export function udpExchange(server: DnsTarget, query: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    const done = (value: Buffer | null) => {
      clearTimeout(timer);
      socket.close();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.once('message', (msg) => done(msg));
    socket.send(query, server.port, server.host);
  });
}

/**
 * Sends many queries pipelined over one TCP connection and returns the responses in order of
 * arrival (RFC 7766 allows out-of-order replies; match them by ID).
 */
export function tcpExchange(server: DnsTarget, queries: Buffer[], timeoutMs = 10_000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP exchange timed out with ${out.length}/${queries.length} responses`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === queries.length) {
        clearTimeout(timer);
        socket.end();
        resolve(out);
      }
    });
    socket.write(Buffer.concat(queries.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]))));
  });
}

export function encodeQuery(name: string, type: dnsPacket.RecordType, id = 1, edns?: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: 0,
    questions: [{ type, name, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: edns } as dnsPacket.Answer] : [],
  });
}
