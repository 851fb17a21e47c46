import { withSpan } from '@wgmesh/telemetry';
import { installTestTracing, TestTracing } from '@wgmesh/telemetry/testing';
import { DataplaneProgrammer } from './programmer';
import { MemoryDriver, testKey, testPeer } from './testing';

/** A batch runs from the programmer's queue, which loses the requester's context. */
describe('DataplaneProgrammer tracing', () => {
  let tracing: TestTracing;
  beforeAll(() => (tracing = installTestTracing()));
  afterAll(() => tracing.shutdown());
  beforeEach(() => tracing.reset());

  const spans = (name: string) => tracing.spans().filter((s) => s.name === name);

  it('runs each batch in a dataplane.apply span under the first request, linked to the others it merged', async () => {
    const driver = new MemoryDriver('wgtrace0');
    const programmer = new DataplaneProgrammer({ driver, attributes: { 'wgmesh.node': 'a' } });
    let release!: () => void;
    driver.gate = new Promise((r) => (release = r));
    const request = (name: string, req: Parameters<DataplaneProgrammer['apply']>[0]) =>
      withSpan(name, {}, (span) => ({ id: span.spanContext().spanId, result: programmer.apply(req) }));
    const first = await request('req-1', { peers: [testPeer(1)], replace: true, revision: 1 });
    await new Promise((r) => setImmediate(r));
    // These wait while the first batch holds the device; the next batch starts from its `finally`.
    const second = await request('req-2', { peers: [testPeer(2)], replace: false, revision: 2 });
    const third = await request('req-3', { peers: [], replace: false, remove: [testKey(1)], revision: 3 });
    driver.gate = null;
    release();
    await Promise.all([first.result, second.result, third.result]);

    const batches = spans('dataplane.apply');
    expect(batches.map((b) => b.parentSpanContext?.spanId)).toEqual([first.id, second.id]);
    expect(batches[1].links.map((l) => l.context.spanId)).toEqual([third.id]);
    expect(batches[0].attributes).toEqual({
      'wgmesh.node': 'a',
      'wgmesh.driver': 'uapi',
      'wgmesh.device': 'wgtrace0',
      'wgmesh.requests': 1,
      'wgmesh.revision': 1,
      'wgmesh.peers.changed': 1,
      'wgmesh.peers.added': 1,
      'wgmesh.peers.updated': 0,
      'wgmesh.peers.removed': 0,
      'wgmesh.peers.unchanged': 0,
      'wgmesh.diff.against': 'device',
    });
    // The second batch is a delta: diffed against the programmer's model of the device, not read.
    expect(batches[1].attributes).toMatchObject({ 'wgmesh.requests': 2, 'wgmesh.revision': 3, 'wgmesh.peers.added': 1, 'wgmesh.peers.removed': 1, 'wgmesh.peers.changed': 2, 'wgmesh.diff.against': 'model' });
    // The device work is under its batch.
    expect(spans('device.read').map((s) => s.parentSpanContext?.spanId)).toEqual([batches[0].spanContext().spanId]);
    expect(spans('device.apply').map((s) => s.parentSpanContext?.spanId)).toEqual(batches.map((b) => b.spanContext().spanId));
    expect(spans('device.apply')[1].attributes).toEqual({ 'wgmesh.driver': 'uapi', 'wgmesh.peers.changed': 2 });
  });

  it('marks a failed batch as an error', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    driver.failNext = new Error('device refused');
    await expect(programmer.apply({ peers: [testPeer(1)], replace: false })).rejects.toThrow('device refused');
    const [batch] = spans('dataplane.apply');
    expect(batch.status).toEqual({ code: 2, message: 'device refused' });
  });
});
