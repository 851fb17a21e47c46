import { defineOptions, formatOptionsHelp, parseCommand, values } from '@wgmesh/config';
import { PathReport, PeerRecord, PunchMessage } from '@wgmesh/contracts';
import { leads, MemberPaths, PATH_RESEND_MS } from '@wgmesh/nat-probe';

/**
 * NATS traffic of path decisions and punches per member, before and after issue 15 (addressed
 * decisions and punches, path updates): computed, not measured on a NATS server, from the sizes
 * of the real messages, built by the real code (MemberPaths over a table of N members, each
 * decision as the planner words it), and the subscribers each design has on each subject:
 *
 * before: every change, and every 30 s, a member published its whole report on node.<id>.paths,
 *         which every member's nat-probe (N), its own peer-discovery and the registry's map feed
 *         received; a punch message on node.<sender>.punch reached every member's nat-probe (N).
 * after:  a change publishes an update with the changed decisions on node.<id>.paths (its own
 *         peer-discovery and the map feed receive it) and the decision addressed to the follower
 *         (node.<follower>.paths.from.<id>: one receiver), once more 30 s later; nothing periodic;
 *         a punch message reaches the other end only.
 *
 * A message above NATS' max_payload (1 MiB by default) goes as chunks (libs/nats-transport), each
 * one NATS message: counted as such.
 */
const options = defineOptions([
  { key: 'members', flag: 'members', value: '<n,…>', parse: values.string, default: '1000,10000', description: 'mesh sizes' },
  { key: 'maxPayload', flag: 'max-payload', value: '<bytes>', parse: values.int(65_536, 64 * 1024 * 1024), default: String(1024 * 1024), description: "NATS' max_payload" },
]);

const usage = `Usage: npm run bench:paths -- [options]

Prints the NATS messages and bytes that path decisions and punch messages cost per member, before
and after addressed decisions and path updates (issue 15), computed from the real messages.

Options:
${formatOptionsHelp(options)}`;

const HEADER_ROOM = 4096; // libs/nats-transport/src/chunks.ts

const key = (i: number) => {
  const b = Buffer.alloc(32);
  // Member 0's key is "++++…" (the smallest base64 text): it leads every pair it is in.
  if (i === 0) for (let k = 0; k < 32; k++) b[k] = [0xfb, 0xef, 0xbe][k % 3]!;
  else b.writeUInt32BE(i, 0);
  b[31] = 0x5a;
  return b.toString('base64');
};
const name = (i: number) => `site-${i}`;
const NATS = ['eim', 'edm', 'none'] as const;

function table(n: number): PeerRecord[] {
  const out: PeerRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ publicKey: key(i), name: name(i), allowedIps: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`], endpoint: `198.51.${(i >> 8) & 255}.${i & 255}:51820`, nat: NATS[i % 3] });
  }
  return out;
}

interface Traffic {
  published: number;
  delivered: number;
  bytes: number;
}

function main(argv: string[]): number {
  const command = parseCommand('bench:paths', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const sizes = o.members.split(',').map((s) => Number(s.trim()));
  const chunks = (bytes: number) => Math.max(1, Math.ceil(bytes / (o.maxPayload - HEADER_ROOM)));
  const len = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
  const rows: string[] = [];
  const fmt = (t: Traffic) => `${String(t.published).padStart(6)} ${String(t.delivered).padStart(9)} ${bytes(t.bytes).padStart(10)}`;
  rows.push('members  what                                   design  published  delivered      bytes');
  for (const n of sizes) {
    const started = Date.now();
    const peers = table(n);
    const m = new MemberPaths({ self: { publicKey: key(0), name: name(0) }, registryKey: key(n + 1), startedAt: 1 });
    m.classified({ nat: 'eim' });
    m.table({ type: 'reset', peers });
    m.plan({ now: 10_000 });
    m.outgoing(10_000); // the first update (everything): not what a change costs
    m.resend(10_000 + PATH_RESEND_MS); // (and its resends: as if sent)
    const whole: PathReport = m.current(10_001);
    const { epoch: _e, seq: _s, ...oldReport } = whole; // the report as the old code published it
    // One pair's decision changes: a member behind an eim NAT that member 0 leads moves behind an edm one.
    const j = peers.findIndex((p, i) => i > 0 && p.nat === 'eim' && leads(key(0), p.publicKey));
    m.table({ type: 'upsert', peer: { ...peers[j]!, nat: 'edm' } });
    m.plan({ now: 10_100 });
    const out = m.outgoing(10_100);
    if (!out.update || out.addressed.length !== 1) throw new Error(`expected one changed led pair, got ${out.update?.changed.length} changed, ${out.addressed.length} addressed`);
    const resent = m.resend(10_100 + 2 * PATH_RESEND_MS);
    const offerDecision = whole.decisions.find((d) => d.peer === key(j))!;
    const offer: PunchMessage = { kind: 'offer', from: key(0), to: key(j), id: 'AbCdEfGhIjKl', candidates: ['198.51.0.0:51820'], predicted: false, decision: { ...offerDecision, attempt: false }, at: 20_000 };

    const fullBytes = len(oldReport);
    const fullMsgs = chunks(fullBytes);
    const beforeChange: Traffic = { published: fullMsgs, delivered: fullMsgs * (n + 2), bytes: fullBytes * (n + 2) };
    const updateBytes = len(out.update);
    const addressedBytes = out.addressed.reduce((s, a) => s + len(a.report), 0);
    const resentBytes = resent.reduce((s, a) => s + len(a.report), 0);
    const afterChange: Traffic = { published: 1 + out.addressed.length + resent.length, delivered: 2 + out.addressed.length + resent.length, bytes: 2 * updateBytes + addressedBytes + resentBytes };
    const beforePeriodic: Traffic = { published: fullMsgs, delivered: fullMsgs * (n + 2), bytes: fullBytes * (n + 2) };
    const afterPeriodic: Traffic = { published: 0, delivered: 0, bytes: 0 };
    const offerBytes = len(offer);
    const beforePunch: Traffic = { published: 1, delivered: n, bytes: offerBytes * n };
    const afterPunch: Traffic = { published: 1, delivered: 1, bytes: offerBytes };
    const wholeBytes = len(whole);

    rows.push(`${String(n).padStart(7)}  one pair's decision changes (its leader)  before  ${fmt(beforeChange)}`);
    rows.push(`${' '.repeat(7)}  ${' '.repeat(39)}  after   ${fmt(afterChange)}`);
    rows.push(`${' '.repeat(7)}  each member every 30 s, nothing changed    before  ${fmt(beforePeriodic)}`);
    rows.push(`${' '.repeat(7)}  ${' '.repeat(39)}  after   ${fmt(afterPeriodic)}`);
    rows.push(`${' '.repeat(7)}  one punch message                        before  ${fmt(beforePunch)}`);
    rows.push(`${' '.repeat(7)}  ${' '.repeat(39)}  after   ${fmt(afterPunch)}`);
    rows.push(`${' '.repeat(7)}  whole mesh, 30 s without a change        before  ${bytes(beforePeriodic.bytes * n).padStart(28)} (${n}×${n + 2} deliveries)`);
    rows.push(`${' '.repeat(7)}  sizes: whole report ${bytes(fullBytes)} (${fullMsgs} NATS message${fullMsgs > 1 ? 's' : ''}; paths.get reply ${bytes(wholeBytes)}), update ${updateBytes} B, addressed decision ${addressedBytes} B, punch offer ${offerBytes} B  [built in ${Date.now() - started} ms]`);
  }
  process.stdout.write(`${rows.join('\n')}\n`);
  process.stdout.write(`\nComputed from the real messages' JSON sizes (not measured on a NATS server); delivered = messages the server hands to subscribers (before: N nat-probes + the member's peer-discovery + the map feed).\n`);
  return 0;
}

function bytes(n: number): string {
  if (n < 10_000) return `${n} B`;
  if (n < 10_000_000) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 10_000_000_000) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n < 10_000_000_000_000) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  return `${(n / 1024 ** 4).toFixed(1)} TiB`;
}

process.exitCode = main(process.argv.slice(2));
