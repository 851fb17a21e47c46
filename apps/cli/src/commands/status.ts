import { CommandError, defineOptions, EXIT, formatOptionsHelp, OptionsOf, runCommand, values } from '@wgmesh/config';
import { DriverKind, parseDataplaneState, parseDriverKind, parsePathReport, PathReport, Patterns, PeerRecord, PeerState, readDataplaneState, readPathReport } from '@wgmesh/contracts';
import { createDriver, vppApiOptions } from '@wgmesh/dataplane';
import { createLogger } from '@wgmesh/log';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { classifyPaths, PathRow } from '@wgmesh/peer-discovery';
import { ago, CLIENT_FAILURES, clientOptions, connectClient, fetchPeerTable, formatTable, localEnrollment } from './peers';

export const options = defineOptions([
  ...clientOptions,
  { key: 'node', flag: 'node', env: 'WGMESH_NODE', value: '<id>', parse: values.name, description: "the node to show, its device state asked for with dataplane.state.get [default: this node's enrolled name]" },
  { key: 'device', flag: 'device', env: 'WGMESH_DEVICE', value: '<dev>', parse: values.string, description: "read this node's device directly instead of asking its dataplane-programmer (dataplane.state.get)" },
  { key: 'driver', flag: 'driver', env: 'WGMESH_DRIVER', value: '<uapi|wg|vpp>', parse: (t) => parseDriverKind(t, 'value'), default: 'uapi', description: 'how to read --device (vpp: --device is the VPP interface name, wg<N>)' },
  ...vppApiOptions,
]);

export const statusUsage = `Usage: wgmesh status [--json] [options]

Shows how a node reaches each member: endpoint, last handshake, bytes, and the path:
  direct      a peer entry for the member with a handshake in the last 180 s
  connecting  a peer entry, no recent handshake (hole punching, or a dead path)
  relayed     no direct peer: traffic goes through the registry peer (mesh CIDR route)
  down        neither a direct peer nor a working registry peer
REASON is the node's nat-probe decision for the pair (node.<id>.paths.get): why it is direct or
relayed ("relayed: both endpoint-dependent", "relayed: no handshake in 10s on direct, retry at
…"), or "-" when nat-probe did not answer. The member list comes from the registry
(peers.snapshot); the node's peers from its device (--device) or from its
dataplane-programmer (node.<id>.dataplane.state.get, the device as last read: at most a
second old).
VPP reports no handshake time and no byte counters per peer, only whether a session is
established: for a VPP node HANDSHAKE shows "established" or "no session", and RX/TX "n/a".

Options:
${formatOptionsHelp(options)}`;

type StatusConfig = OptionsOf<typeof options>;

/** The node's peers as its device reports them, and which kind of driver reported them. */
interface DevicePeers {
  driver: DriverKind;
  peers: PeerState[];
}

export function statusCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh status', usage: statusUsage, options, positionals: true, failures: CLIENT_FAILURES }, async (given) => {
    const enrollment = localEnrollment(given);
    // On an enrolled node, read its own device (as `member up` recorded it) unless told otherwise.
    const c: StatusConfig = !given.device && enrollment?.device && !given.node ? { ...given, device: enrollment.device.name, driver: enrollment.device.driver } : given;
    const node = c.node ?? enrollment?.name;
    if (!node && !c.device) throw new CommandError(NO_NODE);
    const bus = await connectClient(c, enrollment).catch((err: Error) => {
      if (!c.device) throw err;
      process.stderr.write(`warning: ${err.message}; showing the device only\n`);
      return null;
    });
    try {
      const device = c.device ? await readDevice(c) : await fetchState(bus!, node, c.timeout);
      const devicePeers = device.peers;
      const table: PeerRecord[] = (bus && (await registryTable(bus, c))) || devicePeers.map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps, endpoint: p.endpoint }));
      const self = enrollment?.publicKey ?? '';
      const rows = classifyPaths(table, devicePeers, { self, registryKey: enrollment?.registry.publicKey ?? null, nowSeconds: Math.floor(Date.now() / 1000) });
      // Peers on the device that the registry does not list (adopted, or not yet published).
      const listed = new Set(rows.map((r) => r.publicKey));
      for (const p of devicePeers) if (!listed.has(p.publicKey) && p.publicKey !== self) rows.push(...classifyPaths([{ publicKey: p.publicKey, allowedIps: p.allowedIps, endpoint: p.endpoint }], devicePeers, { self, registryKey: null, nowSeconds: Math.floor(Date.now() / 1000) }));
      const paths = bus && node ? await fetchPaths(bus, node, Math.min(c.timeout, 2000)) : null;
      print(c, node, rows.map((r) => withDecision(r, paths)), device.driver, paths);
      return EXIT.ok;
    } finally {
      await bus?.close();
    }
  });
}

const NO_NODE = 'this host is not an enrolled member (no enrolment in --state-dir), so which node to show is not known: give --state-dir of an enrolled member, --node <id> (a member\'s name, as "wgmesh peers" lists them), or --device <dev> to read a device on this host';

/**
 * The registry's member list; null when reading a device (--device) and no registry answers (NATS
 * runs, the registry does not): the device alone is shown then, as when NATS is unreachable.
 */
async function registryTable(bus: MeshBus, c: StatusConfig): Promise<PeerRecord[] | null> {
  try {
    return (await fetchPeerTable(bus, c.timeout)).peers;
  } catch (err) {
    if (!c.device || !(err instanceof RequestError || err instanceof RemoteError)) throw err;
    process.stderr.write(`warning: no member list from a registry (${err.message}); showing the device only\n`);
    return null;
  }
}

/** A status row with the node's nat-probe decision for the pair, when there is one. */
type StatusRow = PathRow & { reason: string | null; retryAt: number | null };

function withDecision(row: PathRow, paths: PathReport | null): StatusRow {
  const d = paths?.decisions.find((x) => x.peer === row.publicKey);
  return { ...row, reason: d?.reason ?? null, retryAt: d?.retryAt ?? null };
}

/** The node's path decisions (`node.<id>.paths.get`), or null when its nat-probe does not answer. */
async function fetchPaths(bus: MeshBus, node: string, timeoutMs: number): Promise<PathReport | null> {
  try {
    return await readPathReport((req) => bus.request(Patterns.pathsGet, req, parsePathReport, { node, timeoutMs }));
  } catch (err) {
    if (err instanceof RequestError || err instanceof RemoteError) return null;
    throw err;
  }
}

function print(c: StatusConfig, node: string | undefined, rows: StatusRow[], driver: DriverKind, paths: PathReport | null): void {
  if (c.json) {
    process.stdout.write(`${JSON.stringify({ node: node ?? null, driver, nat: paths?.nat ?? null, peers: rows }, null, 2)}\n`);
    return;
  }
  // VPP: latestHandshake is the driver's approximation from the ESTABLISHED flag (see
  // libs/dataplane/src/vpp-driver.ts), so show the flag rather than a time; no byte counters.
  const vpp = driver === 'vpp';
  const handshake = (r: PathRow) => (vpp ? (r.latestHandshake > 0 ? 'established' : 'no session') : ago(r.latestHandshake));
  const counter = (n: number) => (vpp ? 'n/a' : bytes(n));
  const table = rows.map((r) => [r.name ?? '-', r.allowedIps.join(',') || '-', r.path, r.endpoint ?? '-', handshake(r), counter(r.rxBytes), counter(r.txBytes), r.reason ?? '-']);
  process.stdout.write(`${formatTable(['NAME', 'ADDRESSES', 'PATH', 'ENDPOINT', 'HANDSHAKE', 'RX', 'TX', 'REASON'], table)}\n`);
  const count = (k: string) => rows.filter((r) => r.path === k).length;
  const nat = paths ? ` (NAT: ${paths.nat})` : ' (nat-probe did not answer: no reasons)';
  process.stderr.write(`${node ?? 'this node'}${nat}: ${count('direct')} direct, ${count('relayed')} relayed, ${count('connecting')} connecting, ${count('down')} down\n`);
}

async function readDevice(c: StatusConfig): Promise<DevicePeers> {
  const driver = createDriver(c.driver, c.device!, { log: createLogger({ service: 'cli', level: 'warn' }), vppSocket: c.vppSocket, vppApiDir: c.vppApiDir });
  try {
    return { driver: c.driver, peers: (await driver.read()).peers };
  } catch (err) {
    throw new CommandError(`cannot read device ${c.device} (${c.driver}): ${(err as Error).message}`);
  } finally {
    await driver.close();
  }
}

/** The node's peers as its dataplane-programmer last read them (`node.<id>.dataplane.state.get`, paged). */
async function fetchState(bus: MeshBus, node: string | undefined, timeoutMs: number): Promise<DevicePeers> {
  if (!node) throw new CommandError(NO_NODE);
  try {
    const state = await readDataplaneState((req) => bus.request(Patterns.dataplaneStateGet, req, parseDataplaneState, { node, timeoutMs }));
    return { driver: state.driver, peers: state.peers };
  } catch (err) {
    if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
    throw new CommandError(`no answer to dataplane.state.get from "${node}" within ${timeoutMs} ms (is its dataplane-programmer running? or give --device): ${err.message}`);
  }
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
