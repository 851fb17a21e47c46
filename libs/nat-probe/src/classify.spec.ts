import { createLogger } from '@wgmesh/log';
import { bindingSuccess, encodeMessage, parseMessage, StunAddress } from '@wgmesh/stun';
import { localAddresses, probeNat } from './classify';
import { StunServer, startStunServer } from './stun-server';
import { RawUdp } from './testing';

// The classifier against our server on loopback (no NAT here, so "none" — the lab test covers real
// NATs), and against scripted servers that answer wrongly, to check what the client accepts.

const quiet = createLogger({ service: 'test', level: 'error' });
const fast = { paceMs: 10, rtoMs: 50, maxRtoMs: 100 };

describe('classifyNat against our STUN server on loopback', () => {
  const servers: StunServer[] = [];
  const serve = async (alternate?: { host: string; port: number }, host = '127.0.0.1') => {
    const s = await startStunServer({ listen: { host, port: 0 }, alternate, log: quiet });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('two-IP server: no NAT, endpoint-independent filtering, from one socket, within a few hundred ms', async () => {
    const s = await serve({ host: '127.0.0.2', port: 0 });
    const p = await probeNat({ server: `127.0.0.1:${s.addresses.primary.port}` });
    const port = p.observations.local.port;
    expect(p.classification).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent', mappedAddress: `127.0.0.1:${port}`, server: `127.0.0.1:${s.addresses.primary.port}` });
    expect(p.classification.method).toContain('filtering test II (change IP and port): answered');
    // The change-IP-and-port answer came from A2:P2, and to the same local port as test I.
    expect(p.observations.filteringChangeIpPort).toMatchObject({ outcome: 'mapped', from: s.addresses.other, mapped: { ip: '127.0.0.1', port } });
    expect(p.observations.filteringChangePort).toBeUndefined(); // not needed once II answered
    expect(p.durationMs).toBeLessThan(500); // default pacing: test I, then filtering II 100 ms later
    expect(s.counters.answered.success).toBe(2);
  });

  it('one-IP server: filtering tested by a port change only, and the method says what cannot be told', async () => {
    const s = await serve({ host: '127.0.0.1', port: 0 });
    const p = await probeNat({ server: s.addresses.primary, ...fast });
    expect(p.classification).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'address-dependent' });
    expect(p.classification.method).toContain('the server has one IP');
    expect(p.observations.filteringChangePort).toMatchObject({ outcome: 'mapped', from: s.addresses.other });
  });

  it('Binding-only server: NAT or not only', async () => {
    const s = await serve();
    const p = await probeNat({ server: s.addresses.primary, ...fast });
    expect(p.classification).toMatchObject({ nat: 'none', mapping: 'endpoint-independent', filtering: 'unknown' });
    expect(p.classification.method).toContain('no OTHER-ADDRESS');
  });

  it('IPv6 on ::1', async () => {
    const s = await serve({ host: '::1', port: 0 }, '::1');
    const p = await probeNat({ server: `[::1]:${s.addresses.primary.port}`, ...fast });
    expect(p.classification).toMatchObject({ nat: 'none', mappedAddress: `[::1]:${p.observations.local.port}`, server: `[::1]:${s.addresses.primary.port}` });
  });

  it('no server: unknown, no mapped address, within the time budget', async () => {
    const silent = await RawUdp.open(); // a socket that never answers
    try {
      const p = await probeNat({ server: silent.address, timeoutMs: 600 });
      expect(p.classification).toMatchObject({ nat: 'unknown', mapping: 'unknown', filtering: 'unknown', mappedAddress: null });
      expect(p.classification.method).toMatch(/no answer in 3\d\d ms \(2 transmissions\)/);
      expect(p.durationMs).toBeLessThan(700);
      // Test I may wait half the budget (300 ms): sent at 0 and 100 ms (RTO 100, doubling; the next
      // would be at 300 ms, the deadline), the same transaction both times.
      const got = await silent.drain(0);
      expect(got.length).toBe(2);
      expect(new Set(got.map((g) => Buffer.from(parseMessage(g.bytes).transactionId).toString('hex'))).size).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('lists this host’s addresses (for "none")', () => {
    expect(localAddresses()).toEqual(expect.arrayContaining(['127.0.0.1', '::1']));
  });
});

describe('classifyNat validates every reply', () => {
  it('ignores replies with a wrong transaction id, from a wrong source, with a bad fingerprint or unknown attributes; takes the right one', async () => {
    const server = await RawUdp.open('127.0.0.1');
    const other = await RawUdp.open('127.0.0.2');
    try {
      const probe = probeNat({ server: server.address, ...fast, timeoutMs: 2000 });
      const req = (await server.next(1000))!;
      const m = parseMessage(req.bytes);
      const claimed: StunAddress = { ip: '198.51.100.9', port: 61000 };
      const good = bindingSuccess(m.transactionId, { xorMapped: claimed, fingerprint: true });
      const wrongTx = bindingSuccess(Uint8Array.from(m.transactionId).reverse(), { xorMapped: { ip: '192.0.2.66', port: 1 } });
      const badFingerprint = Uint8Array.from(good);
      badFingerprint[badFingerprint.length - 1] ^= 0xff;
      const unknownAttr = encodeMessage({ class: 'success', method: 1, transactionId: m.transactionId, attributes: [{ type: 0x7777, value: new Uint8Array(4) }] });
      const v6 = bindingSuccess(m.transactionId, { xorMapped: { ip: '2001:db8::1', port: 1 } });
      await server.send(wrongTx, req.from);
      await other.send(bindingSuccess(m.transactionId, { xorMapped: { ip: '192.0.2.77', port: 2 } }), req.from); // right id, wrong source
      await server.send(badFingerprint, req.from);
      await server.send(unknownAttr, req.from);
      await server.send(v6, req.from);
      await server.send(Uint8Array.from([1, 2, 3]), req.from);
      await new Promise((r) => setTimeout(r, 20));
      await server.send(good, req.from);
      const p = await probe;
      expect(p.classification).toMatchObject({ mappedAddress: '198.51.100.9:61000', nat: 'unknown', mapping: 'unknown' });
      expect(p.classification.method).toContain('behind a NAT');
      expect(p.ignored).toMatchObject({ 'unknown-transaction': 1, 'wrong-source': 1, 'bad-fingerprint': 1, 'unknown-attribute': 1, 'no-mapped-address': 1, 'not-stun': 1 });
    } finally {
      await Promise.all([server.close(), other.close()]);
    }
  });

  it('does not probe an OTHER-ADDRESS a remote server could use to aim traffic elsewhere', async () => {
    const server = await RawUdp.open('127.0.0.1');
    try {
      const probe = probeNat({ server: server.address, ...fast, timeoutMs: 1500 });
      const req = (await server.next(1000))!;
      const m = parseMessage(req.bytes);
      await server.send(bindingSuccess(m.transactionId, { xorMapped: { ip: '198.51.100.9', port: 61000 }, otherAddress: { ip: '224.0.0.251', port: 5353 } }), req.from);
      const p = await probe;
      expect(p.classification.method).toContain('OTHER-ADDRESS 224.0.0.251:5353 ignored: not a unicast address');
      expect(await server.drain(50)).toEqual([]); // nothing more was sent to the server either
    } finally {
      await server.close();
    }
  });

  it('an endpoint-dependent "NAT" (a scripted server mapping each destination to the next port): edm, sequential, within the budget', async () => {
    // Three sockets play A1:P1, A2:P1 and A2:P2 and report made-up mappings; CHANGE-REQUESTs get no answer.
    const [a1p1, a2p1] = await samePortPair('127.0.0.1', '127.0.0.2');
    const a2p2 = await RawUdp.open('127.0.0.2');
    const sockets = [a1p1, a2p1, a2p2];
    // A sequentially allocating NAT: each new (local port, destination) pair gets the next port.
    const mappings = new Map<string, number>();
    const answer = (s: RawUdp) =>
      s.socket.on('message', (msg, rinfo) => {
        const m = parseMessage(new Uint8Array(msg));
        if (m.changeRequest) return; // filtering: address-and-port-dependent
        const flow = `${rinfo.port}>${s.address.ip}:${s.address.port}`;
        if (!mappings.has(flow)) mappings.set(flow, 50000 + mappings.size);
        s.socket.send(bindingSuccess(m.transactionId, { xorMapped: { ip: '198.51.100.9', port: mappings.get(flow)! }, otherAddress: a2p2.address }), rinfo.port, rinfo.address);
      });
    sockets.forEach(answer);
    try {
      // The NAT lock: for test I's first datagram, then once for the mapping and allocation tests.
      let held = 0;
      let released = 0;
      const natLock = async () => (held++, () => void released++);
      const p = await probeNat({ server: a1p1.address, ...fast, testTimeoutMs: 300, timeoutMs: 2000, natLock });
      expect([held, released]).toEqual([2, 2]);
      expect(p.classification).toMatchObject({ nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.9:50000', portStep: 1 });
      // Tests I-III from one socket, the allocation tests from two others.
      const local = String(p.observations.local.port);
      const sources = [...mappings.keys()].map((f) => f.split('>')[0]);
      expect(sources.slice(0, 3)).toEqual([local, local, local]);
      expect(new Set([local, sources[3], sources[4]]).size).toBe(3);
      expect(p.observations.allocation).toMatchObject([{ outcome: 'mapped', mapped: { port: 50003 } }, { outcome: 'mapped', mapped: { port: 50004 } }]);
      expect(p.durationMs).toBeLessThan(1000);
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  });
});

/** Two sockets on one port, at two addresses: a free port of the first, tried at the second until one is free at both. */
async function samePortPair(first: string, second: string): Promise<[RawUdp, RawUdp]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = await RawUdp.open(first);
    const b = await RawUdp.open(second, a.address.port).catch(() => undefined);
    if (b) return [a, b];
    await a.close();
  }
  throw new Error(`no port free at both ${first} and ${second} in 20 tries`);
}
