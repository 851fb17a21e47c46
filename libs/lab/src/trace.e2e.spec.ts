import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_KEY_FILE } from '@wgmesh/peer-discovery';
import { shortKey } from '@wgmesh/telemetry';
import { describeE2E, OTLP_SPAN_PREFIX, OtlpSpan, waitFor } from '@wgmesh/testing';
import { keyFromBase64, keyToBase32, keyToHex } from '@wgmesh/wireguard';
import { Lab } from './lab';
import { Mesh, MESH, missingMeshTools, startMesh, WORKSPACE } from './mesh';
import type { LabProcess } from './process';
import { missingRequirements } from './requirements';

/**
 * Tracing end to end, on the real wgmesh in a lab: every process exports OTLP/HTTP to a receiver
 * (libs/testing's, run inside the registry's namespace; members reach it over their tunnel). One
 * change (member a's NAT rebinds, so the hub sees a new endpoint) must make one trace that runs
 * from the registry's watcher, through NATS, to the resolver's index and to every member's
 * peer-discovery, and on to b's dataplane-programmer, which applies a's new endpoint.
 */
const RECEIVER_PORT = 4318;
const report = (line: string) => process.stderr.write(`trace e2e: ${line}\n`);

const problems = [...missingRequirements(), ...missingMeshTools()];

describeE2E('tracing: one change is one trace across the mesh (OTLP/HTTP)', problems, () => {
  let lab: Lab;
  let mesh: Mesh;
  let receiver: LabProcess;
  const spans: OtlpSpan[] = [];

  beforeAll(async () => {
    const started = Date.now();
    lab = await Lab.up({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'eim' }] });
    const args = ['-r', join(WORKSPACE, 'bin/register.js'), join(WORKSPACE, 'libs/testing/src/otlp-receiver.ts'), '--listen', `0.0.0.0:${RECEIVER_PORT}`];
    receiver = lab.spawn('registry', process.execPath, args, {}, { cwd: WORKSPACE, maxLines: 200 });
    receiver.onLine((line) => {
      if (line.startsWith(OTLP_SPAN_PREFIX)) spans.push(JSON.parse(line.slice(OTLP_SPAN_PREFIX.length)) as OtlpSpan);
    });
    await receiver.waitForLine(/otlp receiver listening/, 15_000);
    // The registry exports on its own loopback, members to the registry's tunnel address.
    const env = (host: string) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${host === 'registry' ? '127.0.0.1' : MESH.registryAddress}:${RECEIVER_PORT}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    });
    mesh = await startMesh(lab, { env, registryArgs: ['--watch-interval', '250'] });
    await mesh.waitForMesh(15_000);
    report(`lab, receiver and a mesh of 2 up in ${Date.now() - started} ms`);
  }, 60_000);

  afterAll(async () => {
    await mesh?.down();
    await receiver?.stop('SIGTERM', 3000);
    await lab?.down();
  }, 30_000);

  it('follows a NAT rebinding from the registry watcher to the resolver, both members and b’s dataplane in one trace', async () => {
    const a = mesh.member('a');
    const peerA = shortKey(a.publicKey);
    const started = Date.now();
    const listenPort = Number((await lab.exec('a', 'wg', ['show', a.device, 'listen-port'])).stdout.trim());
    const rebinds = await lab.rebindNat('a');
    // Other sockets of a's may be rebound too (nat-probe's STUN client): follow its WireGuard port.
    const rebind = rebinds.find((r) => r.sourcePort === listenPort);
    if (!rebind?.after) throw new Error(`rebindNat gave a's WireGuard port ${listenPort} no new port: ${JSON.stringify(rebinds)}`);
    const moved = `${lab.publicAddressOf('a')}:${rebind.after}`;
    await waitFor('b to apply a’s new endpoint', async () => (await mesh.devicePeers('b')).get(a.publicKey)?.endpoint === moved, 15_000, 20).catch(async (err: Error) => {
      const [hub, onB] = [(await mesh.devicePeers('registry')).get(a.publicKey), (await mesh.devicePeers('b')).get(a.publicKey)];
      throw new Error(`${err.message}: a moved to ${moved}; the hub sees ${hub?.endpoint ?? 'no peer a'}, b has ${onB ? onB.endpoint : 'no peer a'}`);
    });
    const appliedMs = Date.now() - started;

    // The registry's publication of a's new endpoint starts the trace.
    // (Not one from before the rebind: a's first endpoint is published with reason "endpoint" too,
    // and on a fast start that is only moments before.)
    const isPublish = (s: OtlpSpan) => s.name === 'hub.peer.publish' && s.attributes['wgmesh.peer'] === peerA && s.attributes['wgmesh.change.reason'] === 'endpoint' && startMs(s) >= started;
    await waitFor('the registry’s hub.peer.publish span of a’s new endpoint', async () => spans.some(isPublish), 5000, 20).catch((err: Error) => {
      throw new Error(`${err.message}; spans named hub.peer.publish: ${JSON.stringify(spans.filter((s) => s.name === 'hub.peer.publish').map((s) => s.attributes))}`);
    });
    const publish = spans.find(isPublish)!;
    const traceId = publish.traceId;

    // Wait for every process's batch of this trace, then check it whole.
    let missing: string[] = [];
    const notes = new Set<string>();
    try {
      await waitFor('the whole trace', async () => (missing = checkTrace(spans, publish, mesh, notes)).length === 0, 10_000, 50);
    } catch {
      // Fails below, naming each missing or misparented part.
    }
    const traced = spans.filter((s) => s.traceId === traceId);
    report(`rebind of a: b applied the new endpoint ${appliedMs} ms later; trace ${traceId} (${traced.length} spans):\n${formatTree(traced)}`);
    for (const note of notes) report(note);
    if (missing.length) {
      const services = new Map<string, number>();
      for (const sp of spans) services.set(`${sp.service} ${sp.name}`, (services.get(`${sp.service} ${sp.name}`) ?? 0) + 1);
      report(`every span received, by service and name: ${JSON.stringify(Object.fromEntries(services))}`);
      const brief = (sp: OtlpSpan) => `${sp.service}/${sp.name} trace=${sp.traceId.slice(0, 8)} span=${sp.spanId.slice(0, 8)} parent=${(sp.parentSpanId ?? '').slice(0, 8)} start=${startMs(sp)}`;
      report(`publishes and receives: ${spans.filter((sp) => sp.name.startsWith('peers.events')).map(brief).join('\n')}`);
    }
    expect(missing).toEqual([]);

    // Nothing secret anywhere in what was exported: not the enrolment token, not a private key.
    const secrets = [...mesh.tokens, ...privateKeys(mesh).flatMap((k) => [k, keyToHex(keyFromBase64(k)), keyToBase32(keyFromBase64(k)).replace(/=+$/, '')])];
    const exported = JSON.stringify(spans).toLowerCase();
    expect(secrets.filter((s) => exported.includes(s.toLowerCase()))).toEqual([]);
    expect(spans.length).toBeGreaterThan(20);
  });
});

const startMs = (s: OtlpSpan) => Number(BigInt(s.startTimeUnixNano) / 1_000_000n);

/** peer-discovery (registry|member), registry-resolver, dataplane-programmer (node). */
function serviceOf(s: OtlpSpan): string {
  const mode = s.resource['wgmesh.mode'];
  const node = s.resource['wgmesh.node'];
  return `${s.service}${mode ? ` (${mode})` : ''}${node ? ` ${node}` : ''}`;
}

/**
 * What must be in the trace of `publish`, and how it must hang together; an empty list when it
 * all is. Each entry names one missing or misparented part.
 */
function checkTrace(all: OtlpSpan[], publish: OtlpSpan, mesh: Mesh, notes: Set<string>): string[] {
  const trace = all.filter((s) => s.traceId === publish.traceId);
  const problems: string[] = [];
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const parentOf = (s: OtlpSpan) => byId.get(s.parentSpanId);
  const children = (p: OtlpSpan, name: string, service?: string) => trace.filter((s) => s.parentSpanId === p.spanId && s.name === name && (!service || serviceOf(s) === service));
  const need = <T>(what: string, value: T | undefined): T | undefined => {
    if (value === undefined) problems.push(what);
    return value;
  };

  // The registry: hub.changes (the root: a watcher tick) → hub.peer.publish → peers.events publish.
  const root = need('hub.changes (peer-discovery registry) as the parent of hub.peer.publish', parentOf(publish));
  if (root && (root.name !== 'hub.changes' || root.parentSpanId !== '' || serviceOf(root) !== 'peer-discovery (registry)')) problems.push(`the trace root is ${root.name} of ${serviceOf(root)} with parent "${root.parentSpanId}", not a hub.changes root of peer-discovery (registry)`);
  if (serviceOf(publish) !== 'peer-discovery (registry)') problems.push(`hub.peer.publish comes from ${serviceOf(publish)}`);
  const producer = need('peers.events publish (PRODUCER) under hub.peer.publish', children(publish, 'peers.events publish').find((s) => s.kind === 4));
  if (!producer) return problems;

  // The resolver: peers.events receive → index.update of a.
  const resolverReceive = need('registry-resolver: peers.events receive under the publish', children(producer, 'peers.events receive', 'registry-resolver')[0]);
  if (resolverReceive) need('registry-resolver: index.update of a under its receive', children(resolverReceive, 'index.update').find((s) => s.attributes['wgmesh.peer'] === publish.attributes['wgmesh.peer']));

  // Each member: peers.events receive → peers.apply (its node). A member whose apply was already
  // gathering triggers from another trace when the event came runs it there, linked to the event:
  // allowed for a (whose own endpoint changes nothing it applies), not for b (checked below).
  const memberReceives = trace.filter((s) => s.parentSpanId === producer.spanId && s.name === 'peers.events receive' && serviceOf(s).startsWith('peer-discovery (member)'));
  const memberApplies = new Map<string, OtlpSpan>();
  for (const receive of memberReceives) {
    for (const apply of children(receive, 'peers.apply')) memberApplies.set(String(apply.attributes['wgmesh.node']), apply);
  }
  const receiveIds = new Set(memberReceives.map((r) => r.spanId));
  const linkedApply = (node: string) => all.find((s) => s.name === 'peers.apply' && s.attributes['wgmesh.node'] === node && s.links.some((l) => receiveIds.has(l.spanId)));
  for (const name of mesh.memberNames()) {
    if (memberApplies.has(name)) continue;
    if (name !== 'b' && linkedApply(name)) notes.add(`member ${name}'s peers.apply ran in another trace, linked to this event's receive`);
    else problems.push(`peer-discovery (member ${name}): peers.apply under a peers.events receive under the publish${name === 'b' ? '' : ' (or linked to one)'}`);
  }

  // b applies a's new endpoint: request → dataplane-programmer process → dataplane.apply → device.apply.
  const applyB = memberApplies.get('b');
  if (applyB) {
    if (applyB.attributes['wgmesh.apply.result'] !== 'applied' || Number(applyB.attributes['wgmesh.peers.changed']) < 1) problems.push(`b's peers.apply did not apply a change: ${JSON.stringify(applyB.attributes)}`);
    const request = need("b's node.{node}.dataplane.apply request (CLIENT) under its peers.apply", children(applyB, 'node.{node}.dataplane.apply request').find((s) => s.kind === 3));
    const served = request && need('dataplane-programmer b: node.{node}.dataplane.apply process under the request', children(request, 'node.{node}.dataplane.apply process', 'dataplane-programmer b')[0]);
    if (served) {
      // Its batch is its child, or (merged into another request's batch) links to it.
      const batch = need(
        'dataplane-programmer b: dataplane.apply under (or linked to) the process span',
        trace.find((s) => s.name === 'dataplane.apply' && (s.parentSpanId === served.spanId || s.links.some((l) => l.spanId === served.spanId))),
      );
      if (batch) {
        if (batch.attributes['wgmesh.node'] !== 'b' || Number(batch.attributes['wgmesh.peers.updated']) < 1) problems.push(`b's dataplane.apply did not update a peer: ${JSON.stringify(batch.attributes)}`);
        need("b's device.apply under its dataplane.apply", children(batch, 'device.apply')[0]);
      }
    }
  }
  return problems;
}

/** The trace as an indented tree: name [service] duration and the wgmesh.* attributes. */
function formatTree(trace: OtlpSpan[]): string {
  const ids = new Set(trace.map((s) => s.spanId));
  const lines: string[] = [];
  const walk = (s: OtlpSpan, depth: number) => {
    const ms = Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6;
    const attrs = Object.entries(s.attributes)
      .filter(([k]) => k.startsWith('wgmesh.') && k !== 'wgmesh.mesh')
      .map(([k, v]) => `${k.slice(7)}=${String(v)}`)
      .join(' ');
    lines.push(`${'  '.repeat(depth)}${s.name} [${serviceOf(s)}] ${ms.toFixed(1)} ms${attrs ? ` ${attrs}` : ''}${s.links.length ? ` links=${s.links.length}` : ''}`);
    for (const c of trace.filter((x) => x.parentSpanId === s.spanId).sort((x, y) => startMs(x) - startMs(y))) walk(c, depth + 1);
  };
  for (const root of trace.filter((s) => !ids.has(s.parentSpanId))) walk(root, 0);
  return lines.join('\n');
}

function privateKeys(mesh: Mesh): string[] {
  const dirs = [mesh.registry.stateDir, ...mesh.memberNames().map((n) => mesh.member(n).stateDir)];
  return dirs.map((d) => readFileSync(join(d, PRIVATE_KEY_FILE), 'utf8').trim());
}
