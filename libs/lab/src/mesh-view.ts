import { parseDig } from '@wgmesh/testing';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import type { Mesh } from './mesh';
import { MESH } from './mesh';

/**
 * What the mesh looks like from outside, for end-to-end tests that assert "nothing changed":
 * the registry's peer table (`wgmesh peers`), DNS-SD as a member asks it (the PTR listing and
 * each peer's SRV), and every device's peers (the hub's and each member's).
 */
export interface MeshView {
  /** `wgmesh peers --json` at the registry: name, key, allowed IPs, endpoint of each peer. */
  peers: Array<{ name: string | null; publicKey: string; allowedIps: string[]; endpoint: string | null }>;
  /** DNS-SD: the PTR listing (sorted), and each listed peer's SRV answer ("port target"). */
  dns: { ptr: string[]; srv: Record<string, string[]> };
  /** Each device (registry and members): public key → "endpoint allowed-ips". */
  devices: Record<string, Record<string, string>>;
}

export function instanceName(publicKey: string): string {
  return `${keyToBase32(keyFromBase64(publicKey))}._wireguard._udp.${MESH.zone}`;
}

/** Asks the registry's DNS-SD from `from`'s namespace; an empty answer when it does not answer. */
export async function dig(mesh: Mesh, from: string, name: string, type: string): Promise<string[]> {
  const run = await mesh.lab
    .exec(from, 'dig', [`@${MESH.registryAddress}`, '-p', '53', name, type, '+norecurse', '+time=1', '+tries=1', '+nocookie'], { timeoutMs: 5000 })
    .catch((e: { result?: { stdout: string } }) => e.result ?? { stdout: '' });
  const r = parseDig(run.stdout);
  return r.status === 'NOERROR' ? r.answer.filter((a) => a.type === type).map((a) => a.data).sort() : [];
}

/** The peer table at the registry (`wgmesh peers --json`, run in the registry's namespace). */
export async function peerTable(mesh: Mesh): Promise<MeshView['peers']> {
  const { stdout } = await mesh.wgmesh('registry', ['peers', '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
  const peers = (JSON.parse(stdout) as { peers: Array<{ name?: string; publicKey: string; allowedIps: string[]; endpoint: string | null }> }).peers;
  return peers.map((p) => ({ name: p.name ?? null, publicKey: p.publicKey, allowedIps: [...p.allowedIps].sort(), endpoint: p.endpoint })).sort((a, b) => (a.publicKey < b.publicKey ? -1 : 1));
}

/** The whole view; DNS-SD asked from `dnsFrom`'s namespace. */
export async function meshView(mesh: Mesh, dnsFrom: string): Promise<MeshView> {
  const peers = await peerTable(mesh);
  const ptr = await dig(mesh, dnsFrom, `_wireguard._udp.${MESH.zone}`, 'PTR');
  const srv: Record<string, string[]> = {};
  for (const p of peers) srv[p.name ?? p.publicKey] = await dig(mesh, dnsFrom, instanceName(p.publicKey), 'SRV');
  const hosts = ['registry', ...mesh.memberNames()];
  const devices = Object.fromEntries(
    await Promise.all(hosts.map(async (h) => [h, Object.fromEntries([...(await mesh.devicePeers(h))].map(([k, p]) => [k, `${p.endpoint} ${[...p.allowedIps].sort().join(',')}`]))] as const)),
  );
  return { peers, dns: { ptr, srv }, devices };
}
