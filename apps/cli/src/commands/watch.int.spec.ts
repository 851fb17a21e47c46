import { Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { Service, startWgmesh } from '@wgmesh/testing';

// `wgmesh watch` as a process against the real NATS: events published the way the services
// publish them, the lines and records it prints, repeats left out, --subject and --count.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const k = (c: string) => c.repeat(43) + '=';
const A = k('A');
const B = k('E');

describe('wgmesh watch (process, real NATS)', () => {
  const mesh = `w${Math.random().toString(36).slice(2, 10)}`;
  let bus: MeshBus;
  const running: Service[] = [];

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'watch-test' });
    // The registry's snapshot, for names.
    bus.subscribe(Patterns.peerSnapshot, () => ({ revision: 1, peers: [{ publicKey: A, name: 'a', allowedIps: ['10.99.0.2/32'], endpoint: null }, { publicKey: B, name: 'b', allowedIps: ['10.99.0.3/32'], endpoint: null }], nextCursor: null }));
    await bus.flush();
  });

  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
    await bus?.close();
  });

  /** Waits for a process to end by itself (SIGCONT changes nothing for a running process). */
  const ended = (s: Service) => s.stop('SIGCONT');

  async function watch(...args: string[]): Promise<Service> {
    const s = startWgmesh(['watch', '--mesh', mesh, '--nats', NATS, '--state-dir', '/nonexistent', ...args]);
    running.push(s);
    await s.waitForLine(/^watching mesh/);
    return s;
  }

  const head = { node: 'a', driver: 'uapi', device: 'wg0', publicKey: A, listenPort: 51820, epoch: 9 };
  const update = (seq: number, changed: unknown[]) => ({ ...head, seq, changed, removed: [], at: Date.now() });
  const peerB = { publicKey: B, endpoint: '198.51.100.3:51820', allowedIps: ['10.99.0.3/32'], latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 25 };
  const decision = { peer: B, peerName: 'b', path: 'direct', attempt: false, reason: 'direct: both endpoint-independent', retryAt: null, since: 1 };

  it('prints each change as a line, and not the repeats', async () => {
    // Node a's dataplane-programmer answers dataplane.state.get: its state includes update 1.
    const served = bus.subscribe(Patterns.dataplaneStateGet, () => ({ ...head, seq: 1, peers: [], at: Date.now() }), { node: 'a' });
    await bus.flush();
    const w = await watch('--count', '5');
    bus.publish(Patterns.peerEvents, { type: 'upsert', revision: 2, peer: { publicKey: B, name: 'b', allowedIps: ['10.99.0.3/32'], endpoint: '198.51.100.3:51820' } });
    bus.publish(Patterns.dataplaneState, update(1, []), { node: 'a' }); // the first seen: the whole state is asked for
    await w.waitForLine(/state {2}a: uapi device wg0/);
    bus.publish(Patterns.dataplaneState, update(2, []), { node: 'a' }); // no change: no line
    bus.publish(Patterns.dataplaneState, update(3, [peerB]), { node: 'a' });
    bus.publish(Patterns.paths, { node: 'a', publicKey: A, nat: 'eim', epoch: 1, seq: 1, changed: [decision], removed: [], at: 1 }, { node: 'a' });
    bus.publish(Patterns.paths, { node: 'a', publicKey: A, nat: 'eim', epoch: 1, seq: 2, changed: [{ ...decision, cause: 'rule' }], removed: [], at: 2 }, { node: 'a' }); // nothing shown changed
    bus.publish(Patterns.nat, { node: 'a', publicKey: A, nat: 'eim', mapping: 'endpoint-independent', filtering: 'unknown', mappedAddress: '198.51.100.2:40000', server: '203.0.113.1:3478', method: 'test', at: 1 }, { node: 'a' });
    expect(await ended(w)).toBe(0); // ends by itself after 5 events
    served.unsubscribe();
    const lines = w.lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l)).map((l) => l.slice(13));
    expect(lines).toEqual([
      'peers  r2 b: endpoint no endpoint yet → 198.51.100.3:51820',
      'state  a: uapi device wg0, port 51820, 0 peers (0 with a handshake)',
      'state  a: + b 198.51.100.3:51820, 10.99.0.3/32',
      'paths  a → b: direct: both endpoint-independent',
      'nat    a: eim (mapping endpoint-independent, filtering unknown), seen as 198.51.100.2:40000',
    ]);
  });

  it('--subject keeps only matching subjects; --json prints records; a bad message is said and skipped', async () => {
    const w = await watch('--json', '--subject', 'node.*.paths', '--count', '1');
    bus.publish(Patterns.dataplaneState, { ...update(1, []), node: 'b', publicKey: B }, { node: 'b' }); // filtered out
    bus.publish(Patterns.paths, { node: 'b', publicKey: B, nat: 'eim', epoch: 1, seq: 1, changed: 'nope', removed: [], at: 1 }, { node: 'b' }); // invalid
    bus.publish(Patterns.paths, { node: 'b', publicKey: B, nat: 'eim', epoch: 1, seq: 2, changed: [{ ...decision, peer: A, peerName: 'a' }], removed: [], at: 3 }, { node: 'b' });
    expect(await ended(w)).toBe(0);
    expect(w.lines.some((l) => l.includes(`an invalid message on wgmesh.v1.${mesh}.node.b.paths: changed: must be an array`))).toBe(true);
    const records = w.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(records).toEqual([expect.objectContaining({ subject: `wgmesh.v1.${mesh}.node.b.paths`, kind: 'paths', node: 'b', changes: ['b → a: direct: both endpoint-independent'] })]);
  });

  it('stops on SIGTERM with status 0, and says no to a bad --subject with status 2', async () => {
    const w = await watch();
    expect(await w.stop('SIGTERM')).toBe(0);
    const bad = startWgmesh(['watch', '--mesh', mesh, '--nats', NATS, '--subject', 'node.>.x']);
    running.push(bad);
    expect(await ended(bad)).toBe(2);
    expect(bad.lines.join('\n')).toContain('wgmesh watch: invalid --subject: "node.>.x" must be a subject pattern');
  });
});
