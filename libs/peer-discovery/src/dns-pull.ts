import { createSocket } from 'node:dgram';
import { isIPv6, connect } from 'node:net';
import { ContractError, parsePeerRecord, PeerRecord } from '@wgmesh/contracts';
import { formatEndpoint, parseIp } from '@wgmesh/netaddr';
import { keyFromBase32, keyToBase64 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';

/**
 * The members' anti-entropy path: reads the registry's peer table the way any wgsd client does,
 * over DNS-SD from the registry-resolver. `_wireguard._udp.<zone>` PTR lists the peers with an
 * endpoint; each instance's SRV gives the endpoint port, with the endpoint address (A/AAAA) and
 * the TXT (`pub=`, `allowed=`, `nat=`) in the additional section. UDP with EDNS first, TCP when the
 * answer comes back truncated. Not a hot path: one pull every half minute or so.
 */
export interface DnsServerAddress {
  host: string;
  port: number;
}

export interface PullOptions {
  server: DnsServerAddress;
  /** The DNS-SD zone, e.g. "mesh.example." (trailing dot optional). */
  zone: string;
  /** Per query, for each of the UDP tries and the TCP exchange. */
  timeoutMs?: number;
  /** SRV queries in flight at once. */
  concurrency?: number;
}

export interface PullResult {
  peers: PeerRecord[];
  /** The PTR listing was truncated even over TCP (more peers than one DNS message holds). */
  truncated: boolean;
  /** Instances that could not be read (named, with the reason); the pull goes on without them. */
  problems: string[];
}

export class DnsPullError extends Error {
  override readonly name = 'DnsPullError';
}

const SERVICE = '_wireguard._udp';
const EDNS_PAYLOAD = 1232;

export async function pullPeers(opts: PullOptions): Promise<PullResult> {
  const zone = opts.zone.replace(/\.$/, '').toLowerCase();
  const service = `${SERVICE}.${zone}`;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const listing = await query(opts.server, service, 'PTR', timeoutMs);
  if (listing.rcode !== 'NOERROR') throw new DnsPullError(`${service} PTR: ${listing.rcode}`);
  const instances = [...new Set((listing.answers ?? []).filter((a): a is dnsPacket.StringAnswer => a.type === 'PTR').map((a) => a.data.toLowerCase()))];
  const problems: string[] = [];
  const peers: PeerRecord[] = [];
  let next = 0;
  const worker = async () => {
    while (next < instances.length) {
      const name = instances[next++];
      try {
        peers.push(await readInstance(opts.server, name, service, timeoutMs));
      } catch (err) {
        if (!(err instanceof DnsPullError || err instanceof ContractError)) throw err;
        problems.push(`${name}: ${err.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, Math.max(instances.length, 1)) }, worker));
  peers.sort((a, b) => (a.publicKey < b.publicKey ? -1 : 1));
  return { peers, truncated: listing.truncated, problems };
}

/** One instance's SRV (+ A/AAAA and TXT from the additional section, asked for when missing). */
async function readInstance(server: DnsServerAddress, name: string, service: string, timeoutMs: number): Promise<PeerRecord> {
  const label = name.slice(0, name.length - service.length - 1);
  if (!name.endsWith(`.${service}`) || label.includes('.')) throw new DnsPullError('not an instance of the service');
  let key: string;
  try {
    key = keyToBase64(keyFromBase32(label));
  } catch (err) {
    throw new DnsPullError(`instance label is not a base32 key (${(err as Error).message})`);
  }
  const srvReply = await query(server, name, 'SRV', timeoutMs);
  const records = [...(srvReply.answers ?? []), ...(srvReply.additionals ?? [])];
  const srv = records.find((r): r is dnsPacket.SrvAnswer => r.type === 'SRV');
  if (!srv) throw new DnsPullError(`no SRV record (${srvReply.rcode})`);
  const target = srv.data.target.toLowerCase();
  let address = records.find((r) => (r.type === 'A' || r.type === 'AAAA') && r.name.toLowerCase() === target) as dnsPacket.StringAnswer | undefined;
  let txt = records.find((r): r is dnsPacket.TxtAnswer => r.type === 'TXT' && r.name.toLowerCase() === target);
  if (!address) {
    for (const type of ['A', 'AAAA'] as const) {
      address = ((await query(server, target, type, timeoutMs)).answers ?? []).find((r) => r.type === type) as dnsPacket.StringAnswer | undefined;
      if (address) break;
    }
  }
  if (!address) throw new DnsPullError('no A or AAAA record for the SRV target');
  if (!txt) txt = ((await query(server, target, 'TXT', timeoutMs)).answers ?? []).find((r): r is dnsPacket.TxtAnswer => r.type === 'TXT');
  if (!txt) throw new DnsPullError('no TXT record');
  const fields = txtFields(txt.data);
  if (fields.pub[0] !== key) throw new DnsPullError(`TXT pub= ${JSON.stringify(fields.pub[0] ?? null)} does not match the instance name`);
  const allowed = fields.allowed.flatMap((v) => v.split(',')).filter((c) => c !== '');
  const peer: Record<string, unknown> = {
    publicKey: key,
    allowedIps: allowed,
    endpoint: formatEndpoint({ ip: parseIp(address.data), port: srv.data.port }),
  };
  if (fields.nat[0] !== undefined) peer.nat = fields.nat[0];
  return parsePeerRecord(peer);
}

/** TXT strings "k=v" grouped by key (a long allowed list comes as several allowed= strings). */
export function txtFields(data: dnsPacket.TxtData): { pub: string[]; allowed: string[]; nat: string[] } {
  const strings = (Array.isArray(data) ? data : [data]).map((s) => (typeof s === 'string' ? s : s.toString('utf8')));
  const out = { pub: [] as string[], allowed: [] as string[], nat: [] as string[] };
  for (const s of strings) {
    const eq = s.indexOf('=');
    if (eq < 0) continue;
    const k = s.slice(0, eq).toLowerCase();
    if (k === 'pub' || k === 'allowed' || k === 'nat') out[k].push(s.slice(eq + 1));
  }
  return out;
}

interface Reply {
  rcode: string;
  truncated: boolean;
  answers?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
}

let nextId = Math.floor(Math.random() * 0xffff);

/** One question: UDP (two tries), then TCP when the UDP answer is truncated. */
export async function query(server: DnsServerAddress, name: string, type: dnsPacket.RecordType, timeoutMs: number): Promise<Reply> {
  const id = (nextId = (nextId + 1) & 0xffff);
  const packet: dnsPacket.Packet = {
    type: 'query',
    id,
    flags: 0,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD } as dnsPacket.Answer],
  };
  const wire = dnsPacket.encode(packet);
  let udp: dnsPacket.DecodedPacket | null = null;
  for (let attempt = 0; attempt < 2 && !udp; attempt++) udp = await udpExchange(server, wire, id, timeoutMs);
  if (!udp) throw new DnsPullError(`no answer from ${server.host}:${server.port} over UDP for ${name} ${type}`);
  const reply = udp.flag_tc ? await tcpExchange(server, wire, id, timeoutMs) : udp;
  return { rcode: (reply as { rcode?: string }).rcode ?? 'NOERROR', truncated: reply.flag_tc, answers: reply.answers, additionals: reply.additionals };
}

function udpExchange(server: DnsServerAddress, wire: Buffer, id: number, timeoutMs: number): Promise<dnsPacket.DecodedPacket | null> {
  const socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
  return new Promise((resolve) => {
    const done = (value: dnsPacket.DecodedPacket | null) => {
      clearTimeout(timer);
      socket.close();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== server.port) return;
      const decoded = decodeOrNull(msg);
      if (decoded && decoded.id === id && decoded.type === 'response') done(decoded);
    });
    socket.send(wire, server.port, server.host);
  });
}

function tcpExchange(server: DnsServerAddress, wire: Buffer, id: number, timeoutMs: number): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new DnsPullError(`TCP exchange with ${server.host}:${server.port} failed: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (err) => fail(err.message));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const decoded = decodeOrNull(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      if (!decoded || decoded.id !== id) return fail('malformed or mismatched response');
      clearTimeout(timer);
      socket.end();
      resolve(decoded);
    });
    socket.write(Buffer.concat([Buffer.from([wire.length >> 8, wire.length & 0xff]), wire]));
  });
}

function decodeOrNull(msg: Buffer): dnsPacket.DecodedPacket | null {
  try {
    return dnsPacket.decode(msg);
  } catch {
    return null; // not a DNS message we can read: ignored like any stray datagram
  }
}
