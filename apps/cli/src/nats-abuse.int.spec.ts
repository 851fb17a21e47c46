import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '@wgmesh/config';
import { DataplaneApplyRequest, isErrorReply, parseDataplaneApplyRequest, parseEnrollReply, Pattern, Patterns, subjectFor } from '@wgmesh/contracts';
import { Enrollment } from '@wgmesh/peer-discovery';
import { createLogger } from '@wgmesh/log';
import { addInboundCounter, InboundCount, MeshBus } from '@wgmesh/nats-transport';
import { metricsRegistry } from '@wgmesh/telemetry';
import { PeerStore } from '@wgmesh/peer-store';
import { buildEnrollRequest, destroyRegistryState, openRegistryState, readPrefix, TokenStore } from '@wgmesh/registry';
import { encodeQuery, skipSuite, tcpExchange, waitFor } from '@wgmesh/testing';
import { loadDefinitions } from '@wgmesh/vpp-api';
import { VppSim } from '@wgmesh/vpp-sim';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { DEFINITIONS_DIR } from '@wgmesh/vpp-api/testing';
import { dataplaneOptions, RunningDataplane, startDataplaneProgrammer } from '@wgmesh/app/dataplane-programmer';
import { parsePeerDiscoveryArgs, RunningPeerDiscovery, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { FakeDriver, keyPair } from '@wgmesh/peer-discovery/testing';
import { checkResolverConfig, resolverOptions, RunningResolver, startResolver } from '@wgmesh/app/registry-resolver';
import { RunningNatProbeMember, startNatProbeMember } from '@wgmesh/app/nat-probe';

// A bad-input campaign over NATS against the real services, in this process on the real NATS and
// Redis: the registry (peer-discovery registry mode on an in-memory hub device), the resolver, a
// member (peer-discovery member mode) and a dataplane-programmer (on the VPP simulator). Every
// inbound subject of every service gets each class of bad input the issue lists: malformed JSON,
// wrong types, unknown fields, huge payloads, invalid keys, names and CIDRs, endpoints on
// loopback, multicast and other special addresses. For each: a request gets an `invalid_request`
// reply naming the field, an event gets nothing; the receiving service's state is unchanged
// (peer table and every other Redis key of the mesh, DNS answers, the member's table and applies,
// the VPP device); each refusal is counted (the transport's inbound counters, and the metric when
// the service exports one); and afterwards every service still serves valid messages.
//
// A new subject needs one entry in TARGETS (the test fails until it has one).
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ZONE = 'abuse.example.';
const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
const MEMBER = 'site-a';
const PROGRAMMER = 'site-b';

const key = (n: number) => {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(n, 0);
  k[31] = 0x5a;
  return k.toString('base64');
};
const HUB = keyPair();
const SELF = key(1);
const dnsName = (publicKey: string) => `${keyToBase32(keyFromBase64(publicKey))}._wireguard._udp.${ZONE}`;

type Service = 'registry' | 'resolver' | 'member' | 'dataplane' | 'natProbe';
/** Services that do not export `wgmesh_errors_total` (yet): their refusals are counted by the transport only. */
const UNMETERED = new Set<Service>(['natProbe']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A receiving service's observable state, compared before and after the bad input. */
type Probe = () => Promise<unknown>;

interface Target {
  pattern: Pattern;
  kind: 'event' | 'request';
  /** Node id to address for node patterns (the receiver, on addressed ones). */
  node?: string;
  /** The sender on addressed patterns (`node.<node>.….<from>`). */
  from?: string;
  /**
   * Objects (by field path, '' the message) whose unknown fields the contract ignores by design
   * (events between members of different versions): no unknown-field case for them.
   */
  lenient?: string[];
  /** The running services that receive it (each message reaches every one). */
  receivers: Service[];
  /** A valid message, the base of the mutations (never sent as it is). */
  valid: () => { [k: string]: Json };
  /** Field paths by meaning, for the value-class mutations. */
  keys?: string[];
  cidrs?: string[];
  endpoints?: string[];
  names?: string[];
  targets?: string[];
}

const TARGETS: Target[] = [
  {
    pattern: Patterns.peerEvents,
    kind: 'event',
    receivers: ['resolver', 'member', 'natProbe'],
    valid: () => ({ type: 'upsert', revision: 999_999, peer: { publicKey: key(50), allowedIps: ['10.77.0.50/32'], endpoint: '198.51.100.50:51820', name: 'x' } }),
    keys: ['peer.publicKey'],
    cidrs: ['peer.allowedIps[0]'],
    endpoints: ['peer.endpoint'],
  },
  { pattern: Patterns.peerSnapshot, kind: 'request', receivers: ['registry'], valid: () => ({ cursor: 0, limit: 10 }) },
  {
    pattern: Patterns.enroll,
    kind: 'request',
    receivers: ['registry'],
    valid: () => ({ publicKey: key(60), name: 'abuse-a', proof: { id: 'a'.repeat(64), sig: `${'A'.repeat(86)}==` }, possession: { at: 1, nonce: `${'A'.repeat(22)}==`, mac: `${'A'.repeat(43)}=` } }),
    keys: ['publicKey'],
    names: ['name'],
  },
  { pattern: Patterns.registriesGet, kind: 'request', receivers: ['registry'], valid: () => ({}) },
  {
    pattern: Patterns.registries,
    kind: 'event',
    receivers: ['member'],
    valid: () => ({ registries: [{ id: 'registry', publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.77.0.1' }] }),
    keys: ['registries[0].publicKey'],
    endpoints: ['registries[0].endpoint'],
    names: ['registries[0].id'],
  },
  { pattern: Patterns.credential, kind: 'request', node: MEMBER, receivers: ['registry'], valid: () => ({ natsKey: `U${'A'.repeat(55)}` }) },
  { pattern: Patterns.memberRemove, kind: 'request', receivers: ['registry'], valid: () => ({ member: MEMBER }), targets: ['member'] },
  {
    pattern: Patterns.dataplaneApply,
    kind: 'request',
    node: PROGRAMMER,
    receivers: ['dataplane'],
    valid: () => ({ peers: [{ publicKey: key(70), endpoint: '198.51.100.70:51820', allowedIps: ['10.77.1.70/32'], persistentKeepalive: 25 }], replace: false, remove: [key(71)], revision: 5 }),
    keys: ['peers[0].publicKey', 'remove[0]'],
    cidrs: ['peers[0].allowedIps[0]'],
    endpoints: ['peers[0].endpoint'],
  },
  {
    pattern: Patterns.dataplaneState,
    kind: 'event',
    node: MEMBER,
    receivers: ['natProbe'],
    valid: () => ({
      node: MEMBER, driver: 'uapi', device: 'wg0', publicKey: SELF, listenPort: 51820, epoch: 1, seq: 1, at: 1, removed: [],
      changed: [{ publicKey: key(2), endpoint: '198.51.100.2:40002', allowedIps: ['10.77.0.3/32'], latestHandshake: 1, rxBytes: 1, txBytes: 1, persistentKeepalive: 25 }],
    }),
    keys: ['publicKey', 'changed[0].publicKey'],
    cidrs: ['changed[0].allowedIps[0]'],
    names: ['node'],
    lenient: [''], // a newer programmer may add fields to an update; a peer's are checked
  },
  { pattern: Patterns.dataplaneStateGet, kind: 'request', node: PROGRAMMER, receivers: ['dataplane'], valid: () => ({}) },
  {
    pattern: Patterns.nat,
    kind: 'event',
    node: MEMBER,
    receivers: ['registry'],
    valid: () => ({ node: MEMBER, publicKey: SELF, nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.1:40000', server: '203.0.113.1:3478', method: 'x', at: 1 }),
    keys: ['publicKey'],
    names: ['node'],
  },
  {
    pattern: Patterns.paths,
    kind: 'event',
    node: MEMBER,
    receivers: ['member'], // its own peer-discovery only
    valid: () => ({ node: MEMBER, publicKey: SELF, nat: 'eim', epoch: 1, seq: 1, changed: [{ peer: key(2), path: 'direct', attempt: false, reason: 'x', retryAt: null, since: 1 }], removed: [key(4)], at: 1 }),
    keys: ['publicKey', 'changed[0].peer', 'removed[0]'],
    names: ['node'],
    lenient: ['', 'changed[0]'],
  },
  {
    pattern: Patterns.pathsTo,
    kind: 'event',
    node: MEMBER,
    from: 'site-c',
    receivers: ['natProbe'], // the follower's nat-probe: a leader's decision about it
    valid: () => ({ node: 'site-c', publicKey: key(3), nat: 'eim', decisions: [{ peer: SELF, path: 'direct', attempt: false, reason: 'x', retryAt: null, since: 1 }], at: 1 }),
    keys: ['publicKey', 'decisions[0].peer'],
    names: ['node'],
    lenient: ['', 'decisions[0]'],
  },
  { pattern: Patterns.pathsGet, kind: 'request', node: MEMBER, receivers: ['natProbe'], valid: () => ({}) },
  {
    pattern: Patterns.punch,
    kind: 'event',
    node: MEMBER,
    from: 'site-c',
    receivers: ['natProbe'], // addressed to the member, from site-c
    valid: () => ({
      kind: 'offer', from: key(3), to: SELF, id: 'p1', candidates: ['198.51.100.3:30001'], predicted: true, at: 1,
      decision: { peer: SELF, path: 'relayed', attempt: true, reason: 'x', retryAt: null, since: 1, technique: 'prediction' },
    }),
    keys: ['from', 'to', 'decision.peer'],
    endpoints: ['candidates[0]'],
    lenient: ['', 'decision'],
  },
  { pattern: Patterns.connect, kind: 'request', node: MEMBER, receivers: ['member'], valid: () => ({ targets: ['site-x'], remove: false }), targets: ['targets[0]'] },
];

const BAD = {
  keys: ['', 'bad', 'A'.repeat(43), 'A'.repeat(45), '!'.repeat(44), Buffer.alloc(31).toString('base64'), ` ${key(5).slice(1)}`, key(5).replace('A', 'é')],
  cidrs: ['', 'abc', '10.0.0.0/33', '300.1.1.1/32', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/ 8', '1.2.3/24'],
  endpoints: [
    '127.0.0.1:51820', '[::1]:51820', '224.0.0.1:51820', '[ff02::1]:51820', '0.0.0.0:51820', '[::]:51820', '169.254.1.1:51820', '[fe80::1]:51820',
    '[::ffff:127.0.0.1]:51820', '[::ffff:224.0.0.1]:51820', '255.255.255.255:51820', '198.51.100.1:0', '198.51.100.1:65536', '198.51.100.1', 'example.com:51820', '',
  ],
  names: ['', 'UPPER', 'a.b', '-x', 'x-', 'x'.repeat(64), 'a b', 'a>'],
  targets: ['', 'bad target!', 'x'.repeat(65), 'a b', 'a>b', '*'],
};

/** Reads a JSON value at a path like `peers[0].endpoint`; sets one (returning a copy). */
const parsePath = (path: string) => path.split(/\.|(?=\[)/).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
function setPath(value: Json, path: string, to: Json): Json {
  const copy = JSON.parse(JSON.stringify(value)) as Json;
  const parts = parsePath(path);
  let at = copy as Record<string | number, Json>;
  for (const p of parts.slice(0, -1)) at = at[p] as Record<string | number, Json>;
  at[parts.at(-1)!] = to;
  return copy;
}

/** Every path of a JSON value with its value, objects and arrays included (root is ''). */
function paths(value: Json, prefix = ''): [string, Json][] {
  const out: [string, Json][] = [[prefix, value]];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, `${prefix}[${i}]`)));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

/** Whether an error message is about `path` (or a field inside it): "peers[3].endpoint: …" is about "peers". */
const names = (message: string, path: string) => message.startsWith(path) && /^(: |[.[])/.test(message.slice(path.length));

/** `wgmesh_errors_total{kind="invalid_message"}` as the services export it (read at scrape time). */
async function invalidMessagesMetric(): Promise<number> {
  const metric = metricsRegistry.getSingleMetric('wgmesh_errors_total');
  if (!metric) return NaN;
  const { values } = await metric.get();
  return values.filter((v) => v.labels.kind === 'invalid_message').reduce((n, v) => n + v.value, 0);
}

const jsonType = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

interface BadCase {
  cls: string;
  body: string;
  /** What the error must begin with, one of: a field path, or "message" for the whole message. */
  names: string[];
}

/** Every bad input for one target, derived from its valid sample and field annotations. */
function badCases(t: Target): BadCase[] {
  const valid = t.valid();
  const out: BadCase[] = [];
  const add = (cls: string, value: Json, ...names: string[]) => out.push({ cls, body: JSON.stringify(value), names });
  const raw = (cls: string, body: string, ...names: string[]) => out.push({ cls, body, names });
  for (const body of ['', 'not json', '{"a":', '{"a":1}}', '{a:1}', "{'a':1}", '\u0000', '\xff\xfe{}', '{"a":1,}', 'NaN', '[1,2', '"unterminated']) {
    raw('malformed-json', body, 'message');
  }
  for (const whole of [[], 1, 'x', true] as Json[]) add('wrong-types', whole, 'message');
  for (const [path, v] of paths(valid)) {
    // A null leaf is a nullable field: a number there may well be valid.
    if (path === '' || v === null) continue;
    for (const wrong of [7, 'x', true, [], { a: 1 }] as Json[]) if (jsonType(wrong) !== jsonType(v)) add('wrong-types', setPath(valid, path, wrong), path);
  }
  for (const [path, v] of paths(valid)) {
    if (t.lenient?.includes(path)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) add('unknown-fields', setPath(valid, path === '' ? 'zz' : `${path}.zz`, 1), path === '' ? 'zz' : `${path}.zz`);
  }
  const rest = JSON.stringify(valid).slice(1);
  if (!t.lenient?.includes('')) raw('unknown-fields', `{"__proto__":{"polluted":1}${rest === '}' ? '' : ','}${rest}`, '__proto__');
  if (!t.lenient?.includes('')) raw('unknown-fields', `{"constructor":{"prototype":{"polluted":1}}${rest === '}' ? '' : ','}${rest}`, 'constructor');
  // Huge: a long string in a string field, a long array, deep nesting, numbers out of range; all under NATS' 1 MB.
  const strings = paths(valid).filter(([, v]) => typeof v === 'string');
  if (strings.length) add('huge', setPath(valid, strings[0][0], 'x'.repeat(900_000)), strings[0][0]);
  // A long array of valid items with one bad item at its end (or more items than allowed).
  const arrays = paths(valid).filter(([p, v]) => p !== '' && Array.isArray(v) && v.length > 0);
  if (arrays.length) {
    const [p, v] = arrays[0];
    const item = (v as Json[])[0];
    const n = Math.floor(900_000 / (JSON.stringify(item).length + 1));
    add('huge', setPath(valid, p, [...Array.from({ length: n }, () => item), { bad: true }]), p, `${p}[${n}]`);
  }
  raw('huge', `${'['.repeat(400_000)}${']'.repeat(400_000)}`, 'message');
  raw('huge', `{${'"a":1,'.repeat(140_000)}"b":2}`, 'a', 'message');
  for (const [p] of paths(valid).filter(([, v]) => typeof v === 'number')) {
    raw('huge', JSON.stringify(setPath(valid, p, '@@')).replace('"@@"', '9'.repeat(400)), p);
    raw('huge', JSON.stringify(setPath(valid, p, '@@')).replace('"@@"', '-1e308'), p);
    add('wrong-types', setPath(valid, p, 1.5), p);
  }
  for (const [cls, list, fields] of [
    ['invalid-keys', BAD.keys, t.keys],
    ['invalid-cidrs', BAD.cidrs, t.cidrs],
    ['bad-endpoints', BAD.endpoints, t.endpoints],
    ['invalid-names', BAD.names, t.names],
    ['invalid-targets', BAD.targets, t.targets],
  ] as const) {
    for (const path of fields ?? []) for (const bad of list) add(cls, setPath(valid, path, bad), path);
  }
  return out;
}

describe('NATS: every inbound subject of every service against bad input', () => {
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  let tokens: TokenStore;
  let kv: Awaited<ReturnType<typeof openRegistryState>>['kv'];
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-nats-abuse-'));
  const lines: string[] = [];
  const log = createLogger({ service: 'abuse', level: 'warn', write: (l) => lines.push(l) });
  const hubDevice = new FakeDriver('wgabuse0', HUB.publicKey);
  const counted: InboundCount[] = [];
  const removeCounter = addInboundCounter({ count: (e) => e.mesh === mesh && counted.push(e) });
  const memberApplies: DataplaneApplyRequest[] = [];
  const subs: Subscription[] = [];
  let bus: MeshBus;
  let registry: RunningPeerDiscovery;
  let member: RunningPeerDiscovery;
  let resolver: RunningResolver;
  let dataplane: RunningDataplane | null = null;
  let natProbe: RunningNatProbeMember;
  let sim: VppSim | null = null;
  const report: Record<string, Record<string, number>> = {};

  const probes: Record<Service, Probe> = {
    // Every Redis key of the mesh, byte for byte (peer table, revision), every entry of its store of record (members, tokens…), and the hub device.
    registry: async () => {
      const keys = (await redis.keys(`*${mesh}*`)).sort();
      const dumps = await Promise.all(keys.map((k) => redis.dumpBuffer(k)));
      const state = await Promise.all(['members', 'keys', 'addresses', 'tokens', 'revoked', 'meta'].map(async (prefix) => [...(await readPrefix(kv, prefix)).values()].map((e) => `${e.key}@${e.revision}=${e.string()}`)));
      return { redis: keys.map((k, i) => `${k}=${dumps[i]?.toString('hex')}`), state: state.flat().sort(), hub: [...hubDevice.peers.keys()].sort() };
    },
    resolver: async () => {
      const [listing, srv] = await tcpExchange({ host: '127.0.0.1', port: resolver.port }, [encodeQuery(`_wireguard._udp.${ZONE}`, 'PTR', 1), encodeQuery(dnsName(key(2)), 'SRV', 2)]);
      return [listing, srv].map((m) => (dnsPacket.decode(m).answers ?? []).map((a) => JSON.stringify((a as { data?: unknown }).data)).sort());
    },
    member: async () => ({ revision: member.member!.mirror.revision, applies: memberApplies.length, applied: member.member!.counters.applies, source: member.member!.source() }),
    natProbe: async () => {
      const { at: _at, ...report } = natProbe.probe.current();
      return report;
    },
    dataplane: async () => (sim ? sim.peers().map((p) => `${keyToBase32(p.publicKey)} ${p.endpoint}:${p.port}`).sort() : null),
  };
  const stateOfAll = async () => Object.fromEntries(await Promise.all(Object.entries(probes).map(async ([k, p]) => [k, await p()])));

  beforeAll(async () => {
    // The hub device: the member and two other peers, as the registry will serve them.
    hubDevice.set({ publicKey: SELF, allowedIps: ['10.77.0.2/32'], endpoint: '198.51.100.1:40001', latestHandshake: 1_700_000_000 });
    hubDevice.set({ publicKey: key(2), allowedIps: ['10.77.0.3/32'], endpoint: '198.51.100.2:40002', latestHandshake: 1_700_000_000 });
    hubDevice.set({ publicKey: key(3), allowedIps: ['10.77.0.4/32'], endpoint: '198.51.100.3:40003', latestHandshake: 1_700_000_000 });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'nats-abuse-test' });
    kv = (await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv;
    tokens = new TokenStore(kv);
    // The hub's dataplane-programmer (node "registry") is a stub onto the in-memory hub device.
    subs.push(
      bus.subscribe(
        Patterns.dataplaneApply,
        async (v) => {
          const req = parseDataplaneApplyRequest(v);
          await hubDevice.apply({ upsert: req.peers, remove: req.remove ?? [] });
          return { added: req.peers.length, updated: 0, removed: req.remove?.length ?? 0, unchanged: 0, durationMs: 1 };
        },
        { node: 'registry' },
      ),
    );
    await bus.flush();
    registry = await startPeerDiscovery(
      parsePeerDiscoveryArgs(['--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgabuse0', '--watch-interval', '100', '--mesh-cidr', '10.77.0.0/24', '--public-endpoint', '203.0.113.1:51820'])!,
      log,
      { driver: hubDevice, hubKey: HUB },
    );
    await waitFor('the peer table in Redis', async () => (await store.snapshot()).peers.length === 3);
    const resolverConfig = parseOptions(resolverOptions, { argv: ['--zone', ZONE, '--mesh', mesh, '--nats', NATS, '--redis', REDIS], env: {} }).options;
    resolver = await startResolver(checkResolverConfig({ ...resolverConfig, listen: { host: '127.0.0.1', port: 0 } }), log);
    const enrollment: Enrollment = {
      version: 1,
      name: MEMBER,
      publicKey: SELF,
      enrolledAt: new Date().toISOString(),
      address: '10.77.0.2/32',
      meshCidr: '10.77.0.0/24',
      registry: { publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.77.0.1' },
    };
    member = await startPeerDiscovery(
      parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS, '--zone', ZONE, '--dns-server', `127.0.0.1:${resolver.port}`, '--dns-pull-interval', '3600', '--state-dir', dir])!,
      log,
      { enrollment, apply: async (req) => (memberApplies.push(req), { added: 0, updated: 0, removed: 0, unchanged: req.peers.length, durationMs: 0 }) },
    );
    await waitFor('the member applied the table', () => memberApplies.length > 0 && memberApplies.at(-1)!.peers.length === 2, 10_000);
    natProbe = await startNatProbeMember({ mesh, stateDir: dir, logLevel: 'warn', natInterval: 3600, pathDeadline: 600, pathRetry: 600, pathRetryMax: 600 }, log, {
      enrollment,
      servers: NATS,
      classify: async () => ({ nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.1:40001', server: '203.0.113.1:3478', method: 'test' }),
    });
    await waitFor('nat-probe decided the pairs', () => natProbe.probe.current().decisions.length === 2, 10_000);
    if (DEFINITIONS_DIR) {
      sim = await VppSim.start({ socketPath: join(dir, 'api.sock'), definitions: loadDefinitions(DEFINITIONS_DIR) });
      const argv = [
        '--node', PROGRAMMER, '--mesh', mesh, '--nats', NATS, '--driver', 'vpp', '--device', 'wg0', '--create', '--vpp-socket', join(dir, 'api.sock'), '--vpp-api-dir', DEFINITIONS_DIR,
        '--vpp-src-address', '10.10.0.1', '--private-key-file', join(dir, 'key'), '--listen-port', '51830', '--address', '10.77.0.9/24', '--state-interval', '60000', '--state-dir', dir,
      ];
      dataplane = await startDataplaneProgrammer(parseOptions(dataplaneOptions, { argv, env: {} }).options, log);
      await dataplane.ready;
      const applied = await bus.request(Patterns.dataplaneApply, { peers: [{ publicKey: key(80), endpoint: '198.51.100.80:51820', allowedIps: ['10.77.1.80/32'] }], replace: true }, (v) => v, { node: PROGRAMMER, timeoutMs: 10_000 });
      expect(applied).toMatchObject({ added: 1 });
    }
  }, 60_000);

  afterAll(async () => {
    removeCounter();
    await natProbe?.close();
    await member?.close();
    await registry?.close();
    await resolver?.close();
    await dataplane?.close();
    await sim?.close();
    subs.forEach((s) => s.unsubscribe());
    if (bus) await destroyRegistryState(bus.raw, mesh);
    await bus?.close();
    await store.clear();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
    const total = Object.values(report).reduce((n, r) => n + Object.values(r).reduce((a, b) => a + b, 0), 0);
    process.stdout.write(`nats abuse: ${total} bad messages ${JSON.stringify(report)}\n`);
  });

  it('has an entry for every subject in contracts', () => {
    expect(TARGETS.map((t) => t.pattern).sort()).toEqual(Object.values(Patterns).sort());
  });

  for (const target of TARGETS) {
    const title = `${target.pattern} (${target.kind} to ${target.receivers.join(', ') || 'no service yet'}): refused, counted, state unchanged`;
    const why = target.receivers.length === 0 ? 'no service receives this subject yet' : target.receivers.includes('dataplane') && !DEFINITIONS_DIR ? 'no VPP API definitions on this machine (the dataplane runs on VppSim here)' : null;
    if (why) {
      skipSuite(why, title);
      continue;
    }
    it(title, async () => {
      const cases = badCases(target);
      const subject = subjectFor(target.pattern, { mesh, node: target.node, from: target.from });
      const before = await stateOfAll();
      const metricBefore = await invalidMessagesMetric();
      const rejectedBefore = counted.filter((c) => c.pattern === target.pattern && c.outcome === 'rejected').length;
      const problems: string[] = [];
      const tally: Record<string, number> = {};
      for (const c of cases) {
        tally[c.cls] = (tally[c.cls] ?? 0) + 1;
        if (target.kind === 'event') {
          bus.raw.publish(subject, Buffer.from(c.body, 'utf8'));
          continue;
        }
        const reply = await bus.raw.request(subject, Buffer.from(c.body, 'utf8'), { timeout: 5000 });
        let value: unknown;
        try {
          value = JSON.parse(reply.string());
        } catch {
          problems.push(`${c.cls}: a reply that is not JSON to ${c.body.slice(0, 80)}`);
          continue;
        }
        if (!isErrorReply(value) || value.error.code !== 'invalid_request') {
          problems.push(`${c.cls}: ${JSON.stringify(value).slice(0, 120)} to ${c.body.slice(0, 120)}`);
        } else if (!c.names.some((n) => names(value.error.message, n))) {
          problems.push(`${c.cls}: "${value.error.message.slice(0, 120)}" does not name ${c.names.join(' or ')}`);
        }
      }
      await bus.flush();
      const expected = cases.length * target.receivers.length;
      await waitFor(`${expected} rejections counted`, () => counted.filter((c) => c.pattern === target.pattern && c.outcome === 'rejected').length - rejectedBefore >= expected, 15_000);
      const rejected = counted.filter((c) => c.pattern === target.pattern && c.outcome === 'rejected').slice(rejectedBefore);
      expect(problems).toEqual([]);
      expect(rejected).toHaveLength(expected);
      expect(new Set(rejected.map((c) => c.reason))).toEqual(new Set(['invalid_json', 'invalid_message']));
      expect(await stateOfAll()).toEqual(before);
      // The services' metric counts them too.
      const metered = target.receivers.filter((r) => !UNMETERED.has(r)).length;
      expect({ metric: (await invalidMessagesMetric()) - metricBefore }).toEqual({ metric: cases.length * metered });
      report[target.pattern] = tally;
    }, 120_000);
  }

  it('every service still serves valid messages afterwards, and no service logged an error', async () => {
    // Registry: a snapshot, an enrolment (which the watcher then publishes), a NAT report from the new member.
    expect((await bus.request(Patterns.peerSnapshot, {}, (v) => v as { peers: unknown[] })).peers).toHaveLength(3);
    const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const newcomer = keyPair();
    const request = buildEnrollRequest({ mesh, name: 'abuse-a', token, privateKey: newcomer.privateKey, publicKey: newcomer.publicKey, registryKey: HUB.publicKey });
    const enrolled = await bus.request(Patterns.enroll, request, parseEnrollReply);
    expect(enrolled.address).toMatch(/^10\.77\.0\.\d+\/32$/);
    hubDevice.set({ publicKey: newcomer.publicKey, endpoint: '198.51.100.60:40060', latestHandshake: 1_700_000_001 });
    // Resolver and member: the new peer reaches DNS and the member's desired set through peers.events.
    await waitFor('the enrolled peer in DNS', async () => {
      const [r] = await tcpExchange({ host: '127.0.0.1', port: resolver.port }, [encodeQuery(dnsName(newcomer.publicKey), 'SRV', 3)]);
      return (dnsPacket.decode(r).answers ?? []).length === 1;
    }, 10_000);
    await waitFor('the enrolled peer in the member apply', () => memberApplies.at(-1)!.peers.some((p) => p.publicKey === newcomer.publicKey), 10_000);
    bus.publish(Patterns.nat, { node: 'abuse-a', publicKey: newcomer.publicKey, nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.60:40060', server: '203.0.113.1:3478', method: 'x', at: 2 }, { node: 'abuse-a' });
    await waitFor('the NAT report in the peer table', async () => (await store.snapshot()).peers.find((p) => p.publicKey === newcomer.publicKey)?.nat === 'edm', 10_000);
    // nat-probe: paths.get answers with its decisions (the new member among them).
    await waitFor('nat-probe deciding the new pair', async () => (await bus.request(Patterns.pathsGet, {}, (v) => v as { decisions: { peer: string }[] }, { node: MEMBER })).decisions.some((d) => d.peer === newcomer.publicKey), 10_000);
    // Member: connect answers.
    expect(await bus.request(Patterns.connect, { all: true }, (v) => v, { node: MEMBER })).toMatchObject({ mode: 'full' });
    // Dataplane: a valid apply changes the device.
    if (sim) {
      expect(await bus.request(Patterns.dataplaneApply, { peers: [{ publicKey: key(81), endpoint: '198.51.100.81:51820', allowedIps: ['10.77.1.81/32'] }], replace: false }, (v) => v, { node: PROGRAMMER, timeoutMs: 10_000 })).toMatchObject({ added: 1 });
      expect(sim.peers()).toHaveLength(2);
    }
    // Members remove: the new member goes away again.
    expect(await bus.request(Patterns.memberRemove, { member: 'abuse-a' }, (v) => v)).toMatchObject({ publicKey: newcomer.publicKey });
    const errors = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'error');
    expect(errors).toEqual([]);
    // Every refusal was logged as a warning without the payload.
    expect(lines.join('\n')).not.toContain('x'.repeat(1000));
  }, 60_000);
});
