import { DataplaneApplyRequest, DataplaneState, DataplaneStateUpdate, NatReport, parseAddressedPathReport, parseDataplaneApplyRequest, parseNatReport, parsePathReport, parsePathUpdate, parsePunchMessage, PathReport, PathReportView, PathUpdate, Patterns, PeerRecord, PunchMessage, readPathReport } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import type { Enrollment } from '@wgmesh/peer-discovery';
import { metricsText } from '@wgmesh/telemetry';
import { waitFor } from '@wgmesh/testing';
import type { NatProbeMemberConfig } from './config';
import { NatClassification } from './member/nat-probe.service';
import { RunningNatProbeMember, startNatProbeMember } from './run';

// nat-probe on a member against the real NATS: a stub registry (peers.snapshot) and dataplane
// (state events), a classifier whose answer the test sets. Keys: B < A < C, so A follows B and
// leads C.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const k = (c: string) => c.repeat(43) + '=';
const A = k('M');
const B = k('E');
const C = k('U');
const REGISTRY = k('Q');

const eim: NatClassification = { nat: 'eim', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.11:51820', server: '203.0.113.1:3478', method: 'test' };
const edm: NatClassification = { ...eim, nat: 'edm', mapping: 'address-and-port-dependent' };

const newMesh = () => `t${Math.random().toString(36).slice(2, 10)}`;

/**
 * Follows node a's path decisions as its peer-discovery does: its updates (`node.a.paths`) on
 * the report fetched with `paths.get` when one shows a gap. `reports` gets the whole report after
 * each change; `updates` every update.
 */
function followPaths(bus: MeshBus, reports: PathReport[], updates: PathUpdate[] = []): void {
  const view = new PathReportView();
  bus.subscribe(Patterns.paths, (v) => {
    const update = parsePathUpdate(v);
    updates.push(update);
    const outcome = view.update(update);
    if (outcome === 'applied') reports.push(view.report!);
    else if (outcome === 'gap') {
      void readPathReport((req) => bus.request(Patterns.pathsGet, req, parsePathReport, { node: 'a' })).then((r) => {
        if (view.full(r)) reports.push(r);
      }, () => undefined);
    }
  }, { node: 'a' });
}
/** Member a (key A) of `mesh`, its nat-probe answering classifications with `classify`. */
function startMemberA(mesh: string, classify: Parameters<typeof startNatProbeMember>[2]['classify']): Promise<RunningNatProbeMember> {
  const enrollment: Enrollment = {
    version: 1, name: 'a', publicKey: A, enrolledAt: new Date().toISOString(), address: '10.99.0.2/32', meshCidr: '10.99.0.0/24',
    registry: { publicKey: REGISTRY, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
  };
  const config: NatProbeMemberConfig = { mesh, stateDir: '/nonexistent', logLevel: 'warn', natInterval: 3600, pathDeadline: 30, pathRetry: 60, pathRetryMax: 600 };
  return startNatProbeMember(config, createLogger({ service: 'test', level: 'warn' }), { enrollment, servers: NATS, classify });
}

describe('nat-probe (member) over NATS', () => {
  const mesh = newMesh();
  const peer = (publicKey: string, name: string, n: number, nat?: PeerRecord['nat']): PeerRecord => ({ publicKey, name, allowedIps: [`10.99.0.${n}/32`], endpoint: `198.51.100.${n}:51820`, ...(nat ? { nat } : {}) });
  const table = [peer(A, 'a', 2), peer(B, 'b', 3, 'eim'), peer(C, 'c', 4, 'edm'), { publicKey: REGISTRY, allowedIps: ['10.99.0.1/32'], endpoint: null }];
  const nat: NatReport[] = [];
  const paths: PathReport[] = [];
  const updates: PathUpdate[] = [];
  const offers: PunchMessage[] = [];
  /** What a addressed to c (it leads a–c), and to b (it follows a–b: nothing). */
  const toC: PathReport[] = [];
  const toB: unknown[] = [];
  const applies: DataplaneApplyRequest[] = [];
  const servers: string[] = [];
  const filtering: boolean[] = [];
  let answer = eim;
  let bus: MeshBus;
  let running: RunningNatProbeMember;
  const last = () => paths.at(-1)!;
  const about = (key: string) => last().decisions.find((d) => d.peer === key);

  const deviceHead = { node: 'a', driver: 'uapi' as const, device: 'wg0', publicKey: A, listenPort: 51820, epoch: 1 };
  const device: DataplaneState = { ...deviceHead, seq: 1, peers: [], at: Date.now() };
  let stateGets = 0;

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'nat-probe-int-test' });
    bus.subscribe(Patterns.peerSnapshot, () => ({ revision: 1, peers: table, nextCursor: null }));
    bus.subscribe(Patterns.nat, (v) => void nat.push(parseNatReport(v)), { node: 'a' });
    followPaths(bus, paths, updates);
    bus.subscribe(Patterns.punch, (v) => void offers.push(parsePunchMessage(v)), { node: '*', from: 'a' });
    bus.subscribe(Patterns.pathsTo, (v) => void toC.push(parseAddressedPathReport(v)), { node: 'c', from: 'a' });
    bus.subscribe(Patterns.pathsTo, (v) => void toB.push(v), { node: 'b', from: '*' });
    bus.subscribe(Patterns.dataplaneApply, (v) => {
      applies.push(parseDataplaneApplyRequest(v));
      return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 1, punched: 1 };
    }, { node: 'a' });
    // a's dataplane-programmer: its device state (no peers yet) on request.
    bus.subscribe(Patterns.dataplaneStateGet, () => (stateGets++, device), { node: 'a' });
    await bus.flush();
    running = await startMemberA(mesh, async (server, o) => {
      servers.push(server);
      filtering.push(o.filtering);
      return answer;
    });
  });

  afterAll(async () => {
    await running?.close();
    await bus?.close();
  });

  it("classifies against the registry's STUN server and publishes node.<id>.nat", async () => {
    await waitFor('a NAT report', () => nat.length > 0);
    expect(servers[0]).toBe('203.0.113.1:3478');
    // The mapping tests alone first (the NAT type in a few round trips), then the full run at once.
    await waitFor('the full classification', () => filtering.length >= 2);
    expect(filtering.slice(0, 2)).toEqual([false, true]);
    expect(nat[0]).toMatchObject({ node: 'a', publicKey: A, ...eim });
  });

  it('decides every pair from both NATs, following the leader it has none from yet', async () => {
    await waitFor('decisions for b and c', () => paths.length > 0 && about(B) !== undefined && about(C)?.attempt === true);
    expect(last()).toMatchObject({ node: 'a', publicKey: A, nat: 'eim' });
    expect(last().decisions.map((d) => d.peer).sort()).toEqual([B, C].sort()); // never itself or the registry
    expect(about(B)).toMatchObject({ peerName: 'b', path: 'direct', attempt: false, reason: 'direct: both endpoint-independent' });
    expect(about(C)).toMatchObject({ peerName: 'c', path: 'relayed', attempt: true, reason: 'relayed while trying direct: a is endpoint-independent, c endpoint-dependent (deadline 30s)' });
  });

  it('publishes numbered updates of what changed, not the whole report again', async () => {
    await waitFor('an update', () => updates.length > 0);
    expect(updates.map((u) => u.seq)).toEqual(updates.map((_, i) => i + 1));
    expect(updates.every((u) => u.node === 'a' && u.publicKey === A && u.epoch === updates[0]!.epoch)).toBe(true);
    for (const u of updates.slice(1)) expect(u.changed.length + u.removed.length).toBeGreaterThan(0);
  });

  it('sends c (the follower of a–c) its decision about c only, addressed to it; b (a leads nothing with it) gets nothing', async () => {
    await waitFor("a's decision about c, addressed to c", () => toC.some((r) => r.decisions[0]?.attempt === true));
    for (const r of toC) {
      expect(r).toMatchObject({ node: 'a', publicKey: A });
      expect(r.decisions.map((d) => d.peer)).toEqual([C]);
    }
    await bus.flush();
    expect(toB).toEqual([]);
  });

  it('punches the attempt it leads: offers on node.c.punch.a, takes c’s answer, sprays through its dataplane', async () => {
    const offer = await waitFor('the offer to c', () => offers.find((m) => m.to === C));
    expect(offer).toMatchObject({ kind: 'offer', from: A, candidates: ['198.51.100.2:51820'], predicted: false, decision: { peer: C, attempt: true, technique: 'punch' } });
    // c answers (as its nat-probe would: to a, as c) with its registry-observed endpoint.
    bus.publish(Patterns.punch, { kind: 'answer', from: C, to: A, id: offer.id, candidates: ['198.51.100.4:51820'], predicted: false, at: Date.now() }, { node: 'a', from: 'c' });
    const spray = await waitFor('the spray', () => applies.find((r) => r.punch?.length));
    expect(spray).toEqual({ peers: [], replace: false, punch: [{ publicKey: C, endpoints: ['198.51.100.4:51820'], allowedIps: [], persistentKeepalive: 25 }] });
    await waitFor('the punch in the reason', () => about(C)?.reason.includes('punched'));
    expect(about(C)).toMatchObject({
      path: 'relayed', attempt: true, technique: 'punch',
      reason: 'relayed while trying direct: a is endpoint-independent, c endpoint-dependent; punched: a at its registry-observed endpoint, c at its registry-observed endpoint (deadline 30s)',
    });
    expect(last().techniques?.punch).toEqual({ attempts: 1, successes: 0, failures: 0 });
    // No handshake yet: a second later the device sends its initiation again, to the same place.
    const nudge = await waitFor('a nudge', () => applies.filter((r) => r.punch?.length).at(1), 3000);
    expect(nudge.punch).toEqual([{ publicKey: C, endpoints: ['198.51.100.4:51820'], allowedIps: [], persistentKeepalive: 25 }]);
  });

  it('goes direct on a handshake during the attempt (a dataplane.state update on the state it asked for at start)', async () => {
    expect(stateGets).toBe(1);
    const update: DataplaneStateUpdate = {
      ...deviceHead, seq: 2, removed: [], at: Date.now(),
      changed: [{ publicKey: C, endpoint: '198.51.100.4:51820', allowedIps: [], latestHandshake: Math.floor(Date.now() / 1000), rxBytes: 92, txBytes: 148, persistentKeepalive: 25 }],
    };
    bus.publish(Patterns.dataplaneState, update, { node: 'a' });
    await waitFor('c direct', () => about(C)?.path === 'direct');
    expect(stateGets).toBe(1); // in sequence: applied, not asked for again
    expect(about(C)).toMatchObject({ technique: 'punch', reason: 'direct: handshake on a direct attempt (a is endpoint-independent, c endpoint-dependent; punched: a at its registry-observed endpoint, c at its registry-observed endpoint)' });
    expect(last().techniques?.punch).toEqual({ attempts: 1, successes: 1, failures: 0 });
    // Direct: no more nudges.
    const sprays = () => applies.filter((r) => r.punch?.length).length;
    const before = sprays();
    await new Promise((r) => setTimeout(r, 1500));
    expect(sprays()).toBe(before);
  });

  it('refuses an offer for a pair it follows that another node sent', async () => {
    // b leads a–b; an offer claiming to be b's, sent by c (node.a.punch.c), is dropped: nothing sprayed.
    const before = applies.length;
    bus.publish(Patterns.punch, { kind: 'offer', from: B, to: A, id: 'forged', candidates: ['198.51.100.3:51820'], predicted: false, at: Date.now() }, { node: 'a', from: 'c' });
    await bus.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(applies.length).toBe(before);
    expect(running.probe.puncher.counters.dropped).toBeGreaterThanOrEqual(1);
  });

  it("copies the leader's decision for a pair it follows, and answers paths.get", async () => {
    const fromB: PathReport = {
      node: 'b', publicKey: B, nat: 'eim', at: Date.now(),
      decisions: [{ peer: A, peerName: 'a', path: 'relayed', attempt: false, reason: 'relayed: no handshake in 2s on direct, retry at X', retryAt: Date.now() + 60_000, since: Date.now() }],
    };
    bus.publish(Patterns.pathsTo, fromB, { node: 'a', from: 'b' });
    await waitFor('b relayed as b decided', () => about(B)?.path === 'relayed');
    expect(about(B)?.reason).toBe('relayed: no handshake in 2s on direct, retry at X (decided by b)');
    const got = await bus.request(Patterns.pathsGet, {}, parsePathReport, { node: 'a' });
    expect(got.decisions).toEqual(last().decisions);
    // A decision from a member that does not lead the pair changes nothing, nor one another node
    // sent claiming to be the leader's.
    const before = paths.length;
    bus.publish(Patterns.pathsTo, { ...fromB, node: 'c', publicKey: C, decisions: [{ ...fromB.decisions[0], reason: 'forged' }] }, { node: 'a', from: 'c' });
    bus.publish(Patterns.pathsTo, { ...fromB, node: 'c', at: Date.now() + 1000, decisions: [{ ...fromB.decisions[0], path: 'direct', reason: 'forged' }] }, { node: 'a', from: 'c' });
    bus.publish(Patterns.pathsTo, { ...fromB, at: Date.now() + 1000, decisions: [{ ...fromB.decisions[0], path: 'direct', reason: 'forged' }] }, { node: 'a', from: 'c' });
    await bus.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(paths.length).toBe(before);
    expect(about(B)?.reason).toBe('relayed: no handshake in 2s on direct, retry at X (decided by b)');
  });

  it('answers paths.get about one peer with that decision alone', async () => {
    const got = await bus.request(Patterns.pathsGet, { peer: C }, parsePathReport, { node: 'a' });
    expect(got.decisions).toEqual([about(C)]);
    const again = await bus.request(Patterns.pathsGet, { peer: C }, parsePathReport, { node: 'a' });
    expect(again.at).toBeGreaterThan(got.at); // strictly increasing: the newer of two reports is known
  });

  it('answers a malformed paths.get with an error and keeps working', async () => {
    await expect(bus.request(Patterns.pathsGet, { extra: 1 }, parsePathReport, { node: 'a' })).rejects.toMatchObject({ code: 'invalid_request' });
    bus.publish(Patterns.pathsTo, { node: 'b', publicKey: B, nat: 'eim', decisions: 'nope', at: 1 }, { node: 'a', from: 'b' });
    expect((await bus.request(Patterns.pathsGet, {}, parsePathReport, { node: 'a' })).node).toBe('a');
  });

  it('re-classifies when told, republishes a changed NAT, and re-decides', async () => {
    answer = edm;
    await running.probe.classify('test');
    await waitFor('nat=edm reported', () => nat.at(-1)?.nat === 'edm');
    await waitFor('the path report carries the new NAT', () => last().nat === 'edm');
    // c is edm too: both endpoint-dependent (a leads a–c). The handshake seen before is still fresh,
    // but a new rule starts the pair over and a relay rule does not look at handshakes.
    expect(about(C)).toMatchObject({ path: 'relayed', attempt: false, reason: 'relayed: both endpoint-dependent', retryAt: null });
  });

  it('keeps its NAT and its paths when the STUN server does not answer (the registry is away): fail-static', async () => {
    const before = { nat: nat.length, paths: paths.length, decisions: JSON.stringify(last().decisions) };
    answer = { nat: 'unknown', mapping: 'unknown', filtering: 'unknown', mappedAddress: null, server: '203.0.113.1:3478', method: 'test I: no answer; nothing can be classified' };
    await running.probe.classify('test: registry away');
    await running.probe.classify('test: registry away again');
    expect(nat.length).toBe(before.nat); // no report claiming an unknown NAT
    expect(running.probe.current().nat).toBe('edm');
    expect(JSON.stringify(last().decisions)).toBe(before.decisions);
    answer = edm;
  });

  it('exports the paths by kind and the NAT type as metrics', async () => {
    const { body } = await metricsText();
    const relayed = last().decisions.filter((d) => d.path === 'relayed').length;
    expect(body).toContain(`wgmesh_paths{path="relayed"} ${relayed}`);
    expect(body).toContain(`wgmesh_paths{path="direct"} ${last().decisions.length - relayed}`);
    expect(body).toContain('wgmesh_nat_type{nat="edm"} 1');
    expect(body).toContain('wgmesh_nat_type{nat="eim"} 0');
    expect(body).toMatch(/wgmesh_nat_probes_total\{nat="eim"\} [1-9]/);
    expect(body).toContain('wgmesh_path_attempts_total{technique="punch",result="success"} 1');
    expect(body).toContain('wgmesh_path_attempts_total{technique="prediction",result="attempt"} 0');
    expect(body).toContain('wgmesh_punch_events_total{event="offers_sent"} 1');
    expect(body).toMatch(/wgmesh_punch_events_total\{event="nudges"\} [1-9]/);
    expect(body).toMatch(/wgmesh_punch_events_total\{event="dropped"\} [1-9]/);
  });
});

describe('nat-probe (member) starting after the leader of its pair decided', () => {
  // b leads a–b and decided before a started: a asks b at once (paths.get about a): b sends its
  // decision to a only when it changes.
  const mesh = newMesh();
  const table: PeerRecord[] = [
    { publicKey: A, name: 'a', allowedIps: ['10.99.0.2/32'], endpoint: '198.51.100.2:51820' },
    { publicKey: B, name: 'b', allowedIps: ['10.99.0.3/32'], endpoint: '198.51.100.3:51820', nat: 'eim' },
  ];
  const paths: PathReport[] = [];
  const asked: unknown[] = [];
  const since = Date.now() - 60_000;
  let bus: MeshBus;
  let running: RunningNatProbeMember;

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'nat-probe-int-test-leader' });
    bus.subscribe(Patterns.peerSnapshot, () => ({ revision: 1, peers: table, nextCursor: null }));
    followPaths(bus, paths);
    bus.subscribe(Patterns.pathsGet, (v) => {
      asked.push(v);
      const decision = { peer: A, peerName: 'a', path: 'relayed', attempt: true, reason: 'relayed while trying direct: b is endpoint-independent, a endpoint-dependent (deadline 10s)', retryAt: null, since, technique: 'punch' };
      return { node: 'b', publicKey: B, nat: 'eim', decisions: [decision], at: Date.now() };
    }, { node: 'b' });
    await bus.flush();
    running = await startMemberA(mesh, async () => eim);
  });

  afterAll(async () => {
    await running?.close();
    await bus?.close();
  });

  it("asks the leader for its decision about it and follows it at once", async () => {
    const report = await waitFor("b's decision followed", () => paths.find((p) => p.decisions.some((d) => d.peer === B && d.since === since)), 5000);
    expect(asked).toEqual([{ peer: A }]);
    expect(report.decisions).toEqual([
      { peer: B, peerName: 'b', path: 'relayed', attempt: true, reason: 'relayed while trying direct: b is endpoint-independent, a endpoint-dependent (deadline 10s) (decided by b)', retryAt: null, since, technique: 'punch' },
    ]);
  });

  it('asks again when NATS comes back (a report missed meanwhile is not waited for)', async () => {
    const before = asked.length;
    await running.probe.mirror.reload('nats reconnected');
    await waitFor('b asked again', () => asked.length > before);
  });
});

describe('nat-probe (member) before the registry has seen its endpoint', () => {
  const mesh = newMesh();
  const self: PeerRecord = { publicKey: A, name: 'a', allowedIps: ['10.99.0.2/32'], endpoint: null };
  const c: PeerRecord = { publicKey: C, name: 'c', allowedIps: ['10.99.0.4/32'], endpoint: '198.51.100.4:51820', nat: 'edm' };
  const paths: PathReport[] = [];
  const offers: PunchMessage[] = [];
  const classified: number[] = [];
  let bus: MeshBus;
  let running: RunningNatProbeMember;

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'nat-probe-int-test-endpoint' });
    bus.subscribe(Patterns.peerSnapshot, () => ({ revision: 1, peers: [self, c], nextCursor: null }));
    followPaths(bus, paths);
    bus.subscribe(Patterns.punch, (v) => void offers.push(parsePunchMessage(v)), { node: '*', from: 'a' });
    await bus.flush();
    running = await startMemberA(mesh, async () => {
      classified.push(Date.now());
      return eim;
    });
  });

  afterAll(async () => {
    await running?.close();
    await bus?.close();
  });

  it('decides nothing (and punches nothing) until the registry sees it, then tries c at once, without classifying again', async () => {
    await waitFor('the first classification', () => classified.length > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(paths.flatMap((p) => p.decisions)).toEqual([]);
    expect(offers).toEqual([]);
    bus.publish(Patterns.peerEvents, { type: 'upsert', revision: 2, peer: { ...self, endpoint: '198.51.100.2:51820' } });
    const offer = await waitFor('the offer to c', () => offers.find((m) => m.to === C));
    expect(offer).toMatchObject({ kind: 'offer', from: A, candidates: ['198.51.100.2:51820'] });
    expect(paths.at(-1)!.decisions).toMatchObject([{ peer: C, path: 'relayed', attempt: true, technique: 'punch' }]);
    // The first endpoint is not a change: only the scheduled full classification (2 s after the first) follows.
    await new Promise((r) => setTimeout(r, 300));
    expect(classified.filter((t) => t - classified[0] < 1500)).toHaveLength(1);
  });

  it('classifies again when the registry sees it at another endpoint (a NAT rebinding)', async () => {
    const before = classified.length;
    bus.publish(Patterns.peerEvents, { type: 'upsert', revision: 3, peer: { ...self, endpoint: '198.51.100.2:40000' } });
    await waitFor('a classification', () => classified.length > before);
  });
});
