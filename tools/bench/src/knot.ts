import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntilAnswers } from './dns-probe';
import { BenchPeer, SERVICE } from './peers';
import { findExecutable, startProcess } from './processes';
import type { RunningServer } from './server';

/**
 * Knot DNS as the reference: a zone file holding the records wgmesh serves for the same peers
 * (wgsd's record format) and a knotd configuration confined to one directory.
 */

/** wgsd's SOA (wgsd.go `soa()`): mname ns1.<zone>, rname postmaster.<zone>, TTL 60. */
export const BENCH_SOA = { refresh: 86400, retry: 7200, expire: 3600000, minimum: 60, ttl: 60 } as const;

/**
 * One label in zone-file presentation form: letters, digits, "-" and "_" as they are, any other
 * byte as \DDD (Knot rejects a bare "=" in an owner name; the base32 padding needs this).
 */
export function escapeLabel(label: string): string {
  let out = '';
  for (const byte of Buffer.from(label, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(ch) ? ch : `\\${String(byte).padStart(3, '0')}`;
  }
  return out;
}

/** A TXT character-string in quotes, with `"` and `\` escaped and non-printable bytes as \DDD. */
function quoteTxt(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

export interface ZoneFileOptions {
  /** Zone origin, fully qualified ("mesh.example."). */
  zone: string;
  /** TTL of the peer records (wgsd's default 0). */
  ttl?: number;
  serial?: number;
}

/**
 * The zone file: SOA at the apex; PTR `_wireguard._udp` → every peer; per peer SRV `0 0 <port>
 * <itself>`, A <endpoint ip>, TXT "txtvers=1" "pub=<b64>" "allowed=<cidr>". No NS, as wgmesh
 * serves none (Knot loads it with a warning).
 */
export function knotZoneFile(peers: readonly BenchPeer[], options: ZoneFileOptions): string {
  const zone = options.zone.endsWith('.') ? options.zone : `${options.zone}.`;
  const ttl = options.ttl ?? 0;
  const s = BENCH_SOA;
  const lines = [
    `$ORIGIN ${zone}`,
    `@ ${s.ttl} IN SOA ns1.${zone} postmaster.${zone} ${options.serial ?? 1} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`,
  ];
  for (const p of peers) lines.push(`${SERVICE} ${ttl} IN PTR ${escapeLabel(p.b32)}.${SERVICE}`);
  for (const p of peers) {
    const owner = `${escapeLabel(p.b32)}.${SERVICE}`;
    lines.push(
      `${owner} ${ttl} IN SRV 0 0 ${p.endpointPort} ${owner}`,
      `${owner} ${ttl} IN ${p.endpointIp.includes(':') ? 'AAAA' : 'A'} ${p.endpointIp}`,
      `${owner} ${ttl} IN TXT ${['txtvers=1', `pub=${p.publicKey}`, `allowed=${p.allowedIp}`].map(quoteTxt).join(' ')}`,
    );
  }
  return lines.join('\n') + '\n';
}

export interface KnotConfigOptions {
  /** Directory for everything knotd writes: rundir (control socket), database, zone storage. */
  dir: string;
  zone: string;
  zoneFile: string;
  host: string;
  port: number;
  udpWorkers: number;
  tcpWorkers?: number;
  backgroundWorkers?: number;
}

/** A knotd configuration that reads the zone file once and writes nothing outside `dir`. */
export function knotConfig(o: KnotConfigOptions): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'server:',
    `    rundir: ${q(o.dir)}`,
    `    listen: ${o.host}@${o.port}`,
    `    udp-workers: ${o.udpWorkers}`,
    `    tcp-workers: ${o.tcpWorkers ?? 1}`,
    `    background-workers: ${o.backgroundWorkers ?? 1}`,
    'database:',
    `    storage: ${q(join(o.dir, 'db'))}`,
    'template:',
    '  - id: default',
    `    storage: ${q(o.dir)}`,
    '    journal-content: none',
    '    zonefile-sync: -1',
    '    zonefile-load: whole',
    'log:',
    '  - target: stderr',
    '    any: info',
    'zone:',
    `  - domain: ${q(o.zone)}`,
    `    file: ${q(o.zoneFile)}`,
    '',
  ].join('\n');
}

/** The knotd executable (PATH, then /usr/sbin, which is not on every user's PATH), or null. */
export function findKnotd(): string | null {
  return findExecutable('knotd', ['/usr/sbin', '/usr/local/sbin']);
}

export interface StartKnotOptions {
  knotd: string;
  dir: string;
  zone: string;
  peers: readonly BenchPeer[];
  host: string;
  port: number;
  udpWorkers: number;
  timeoutMs?: number;
}

/** Writes zone and config into `dir`, starts knotd in the foreground, waits until it serves the zone. */
export async function startKnot(o: StartKnotOptions): Promise<RunningServer> {
  mkdirSync(join(o.dir, 'db'), { recursive: true });
  const zoneFile = join(o.dir, 'bench.zone');
  const confFile = join(o.dir, 'knot.conf');
  writeFileSync(zoneFile, knotZoneFile(o.peers, { zone: o.zone }));
  writeFileSync(confFile, knotConfig({ dir: o.dir, zone: o.zone, zoneFile, host: o.host, port: o.port, udpWorkers: o.udpWorkers }));
  const proc = startProcess('knotd', o.knotd, ['-c', confFile]);
  try {
    await waitUntilAnswers(o.host, o.port, o.zone, 'SOA', (a) => a.rcode === 'NOERROR' && a.answers.length === 1, o.timeoutMs ?? 30000, () => !proc.hasExited);
  } catch (err) {
    await proc.stop();
    throw new Error(`knotd did not start serving ${o.zone}: ${(err as Error).message}\n${proc.tail()}`);
  }
  return {
    label: `knot udp-workers ${o.udpWorkers}`,
    kind: 'knot',
    workers: o.udpWorkers,
    host: o.host,
    port: o.port,
    pid: proc.pid,
    stop: async () => {
      await proc.stop();
    },
  };
}
