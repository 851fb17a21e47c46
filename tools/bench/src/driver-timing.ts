import { createHash } from 'node:crypto';
import type { DesiredPeer } from '@wgmesh/contracts';
import { DataplaneDriver, diffPeers } from '@wgmesh/dataplane';

/** Peer i: a 32-byte key from a hash (any 32 bytes are a valid X25519 public key), one /32, an endpoint. */
export function makePeers(n: number, port: number, label = 'bench'): DesiredPeer[] {
  return Array.from({ length: n }, (_, i) => ({
    publicKey: createHash('sha256').update(`${label} ${i}`).digest('base64'),
    endpoint: `${i % 2 ? '198.51.100' : '203.0.113'}.${(i % 250) + 1}:${port + (i % 1000)}`,
    allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
  }));
}

export interface DriverTiming {
  readMs: number;
  diffMs: number;
  applyMs: number;
  totalMs: number;
  measuredPeers: number;
  /** CPU time of this (the client) process during the three steps. */
  cpuMs: number;
}

/** What dataplane-programmer does for one request: read, diff, apply; each step timed. */
export async function viaDriver(driver: DataplaneDriver, peers: DesiredPeer[]): Promise<DriverTiming> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const device = await driver.read();
  const t1 = performance.now();
  const { diff } = diffPeers(peers, device.peers, { replace: true });
  const t2 = performance.now();
  await driver.apply(diff);
  const t3 = performance.now();
  const used = process.cpuUsage(cpu);
  return { readMs: t1 - t0, diffMs: t2 - t1, applyMs: t3 - t2, totalMs: t3 - t0, measuredPeers: peers.length, cpuMs: (used.user + used.system) / 1000 };
}
