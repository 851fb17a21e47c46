import { defineOptions, formatOptionsHelp, parseCommand, values } from '@wgmesh/config';
import { DataplaneState, DataplaneStateUpdate, PeerState, readDataplaneState } from '@wgmesh/contracts';
import { DataplaneDriver, DeviceState, StateReporter } from '@wgmesh/dataplane';

/**
 * NATS bytes a member's device state costs per second, before and after issue 15 (state
 * updates): computed, not measured on a NATS server, from the sizes of the real messages the real
 * StateReporter builds, over a simulated device of N peers that WireGuard re-handshakes every
 * 120 s (each peer's latest handshake moves once in 120 s, spread evenly: N/120 a second) and
 * whose byte counters move every second for every peer.
 *
 * before: whenever anything but the counters changed (every second here), and at least every
 *         --state-interval, the whole DataplaneState went out on node.<id>.dataplane.state.
 * after:  an update with the peers that changed (counters alone are no change), numbered; one with
 *         no change at least every --state-interval; the whole state only on request (paged
 *         dataplane.state.get: at a consumer's start, and after it missed an update).
 *
 * A message above NATS' max_payload (1 MiB by default) goes as chunks (libs/nats-transport), each
 * one NATS message: counted as such.
 */
const options = defineOptions([
  { key: 'peers', flag: 'peers', value: '<n,…>', parse: values.string, default: '1000,10000', description: 'peers on the device' },
  { key: 'seconds', flag: 'seconds', value: '<s>', parse: values.int(10, 3600), default: '120', description: 'simulated seconds (device reads, one a second)' },
  { key: 'stateInterval', flag: 'state-interval', value: '<s>', parse: values.int(1, 3600), default: '5', description: "dataplane-programmer's --state-interval, in seconds" },
  { key: 'maxPayload', flag: 'max-payload', value: '<bytes>', parse: values.int(65_536, 64 * 1024 * 1024), default: String(1024 * 1024), description: "NATS' max_payload" },
]);

const usage = `Usage: npm run bench:state -- [options]

Prints the NATS messages and bytes per second that one member's device state costs, before and
after state updates (issue 15), computed from the real messages the real StateReporter builds.

Options:
${formatOptionsHelp(options)}`;

const HEADER_ROOM = 4096; // libs/nats-transport/src/chunks.ts
const REHANDSHAKE_S = 120;
const T0 = 1_765_000_000;

const key = (i: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i + 1, 0);
  b[31] = 0x5a;
  return b.toString('base64');
};

function device(n: number): PeerState[] {
  return Array.from({ length: n }, (_, i) => ({
    publicKey: key(i),
    endpoint: `198.51.${(i >> 8) & 255}.${i & 255}:${40000 + (i % 20000)}`,
    allowedIps: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`],
    latestHandshake: T0 - (i % REHANDSHAKE_S),
    rxBytes: 1_000_000_000 + i * 7919,
    txBytes: 2_000_000_000 + i * 104_729,
    persistentKeepalive: 25,
  }));
}

async function run(n: number, seconds: number, maxPayload: number) {
  const chunks = (bytes: number) => Math.max(1, Math.ceil(bytes / (maxPayload - HEADER_ROOM)));
  const len = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
  const peers = device(n);
  let t = 0;
  const driver = { kind: 'uapi', device: 'wg0' } as DataplaneDriver;
  const updates: DataplaneStateUpdate[] = [];
  let oldBytes = 0;
  let oldMsgs = 0;
  let reads = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const read = async (): Promise<DeviceState> => {
    // Second t of the simulation: the peers whose turn it is re-handshake; every counter moves.
    if (reads > 0) {
      t++;
      for (let i = t % REHANDSHAKE_S; i < n; i += REHANDSHAKE_S) peers[i]!.latestHandshake = T0 + t;
      for (const p of peers) {
        p.rxBytes += 1480;
        p.txBytes += 148;
      }
    }
    reads++;
    const state = { publicKey: key(n + 10), listenPort: 51820, peers: peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] })) };
    if (reads > 1) {
      // The old code: the whole state, every read that changed anything (every second here).
      const old: DataplaneState = { node: 'site-0', driver: 'uapi', device: 'wg0', publicKey: state.publicKey, listenPort: 51820, peers: state.peers, at: Date.now() };
      const b = len(old);
      oldBytes += b;
      oldMsgs += chunks(b);
    }
    if (reads > seconds) setImmediate(done);
    return state;
  };
  // intervalMs: never due within the run (every simulated second has a change anyway).
  const reporter = new StateReporter({ driver, node: 'site-0', read, intervalMs: 3_600_000, pollMs: 1, publish: (u) => void updates.push(u) });
  const alive = setInterval(() => undefined, 1000); // the reporter's timers do not hold the process
  reporter.start();
  await finished;
  clearInterval(alive);
  await reporter.stop();
  const after = updates.slice(1, seconds + 1); // (the first is the start's, no peers)
  const newBytes = after.reduce((s, u) => s + len(u), 0);
  const newMsgs = after.reduce((s, u) => s + chunks(len(u)), 0);
  const changed = after.reduce((s, u) => s + u.changed.length, 0);
  let pages = 0;
  let pageBytes = 0;
  let maxPage = 0;
  const whole = await readDataplaneState(async (req) => {
    const page = reporter.current(req)!;
    const b = len(page);
    pages++;
    pageBytes += b;
    maxPage = Math.max(maxPage, b);
    return page;
  });
  if (whole.peers.length !== n) throw new Error(`read back ${whole.peers.length} peers, not ${n}`);
  const quietUpdate = len({ ...updates[0]!, seq: 99, changed: [], removed: [] });
  const oldWhole = len({ node: 'site-0', driver: 'uapi', device: 'wg0', publicKey: key(n + 10), listenPort: 51820, peers, at: Date.now() });
  return { oldPerS: oldBytes / seconds, oldMsgsPerS: oldMsgs / seconds, newPerS: newBytes / seconds, newMsgsPerS: newMsgs / seconds, changedPerS: changed / seconds, pages, pageBytes, maxPage, quietUpdate, oldWhole };
}

async function main(argv: string[]): Promise<number> {
  const command = parseCommand('bench:state', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const rows: string[] = ['peers   what                                      design   msgs/s      bytes/s'];
  for (const n of o.peers.split(',').map((s) => Number(s.trim()))) {
    const started = Date.now();
    const r = await run(n, o.seconds, o.maxPayload);
    const pad = ' '.repeat(6);
    rows.push(`${String(n).padStart(6)}  handshakes renewed every 120 s (${r.changedPerS.toFixed(0)} peers/s)  before  ${r.oldMsgsPerS.toFixed(2).padStart(7)} ${bytes(r.oldPerS).padStart(12)}`);
    rows.push(`${pad}  ${' '.repeat(40)}  after   ${r.newMsgsPerS.toFixed(2).padStart(7)} ${bytes(r.newPerS).padStart(12)}`);
    rows.push(`${pad}  nothing changes (every ${o.stateInterval} s)               before  ${(Math.ceil(r.oldWhole / (o.maxPayload - HEADER_ROOM)) / o.stateInterval).toFixed(2).padStart(7)} ${bytes(r.oldWhole / o.stateInterval).padStart(12)}`);
    rows.push(`${pad}  ${' '.repeat(40)}  after   ${(1 / o.stateInterval).toFixed(2).padStart(7)} ${bytes(r.quietUpdate / o.stateInterval).padStart(12)}`);
    rows.push(`${pad}  whole state for a consumer (dataplane.state.get): ${r.pages} page(s), ${bytes(r.pageBytes)}, largest reply ${bytes(r.maxPage)}; the old event ${bytes(r.oldWhole)}  [${o.seconds} s simulated in ${Date.now() - started} ms]`);
  }
  process.stdout.write(`${rows.join('\n')}\n`);
  process.stdout.write(`\nPublished by one member on node.<id>.dataplane.state, from the real messages' JSON sizes (not measured on a NATS server); msgs/s counts chunks.\n`);
  return 0;
}

function bytes(n: number): string {
  if (n < 10_000) return `${Math.round(n)} B`;
  if (n < 10_000_000) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
