import { createLogger } from '@wgmesh/log';
import { ATTR, bindingRequest, encodeMessage, newTransactionId, parseMessage, StunAddress } from '@wgmesh/stun';
import { prng, waitFor } from '@wgmesh/testing';
import { MAX_RESPONSE_BYTES } from './stun-server-handler';
import { StunServer, startStunServer, StunServerConfigError, StunServerOptions } from './stun-server';
import { RawUdp } from './testing';

// The server on real loopback sockets: 127.0.0.1 and 127.0.0.2 are both addresses of this host.

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ service: 'test', level: 'debug', write: (l) => lines.push(JSON.parse(l)) }) };
}

describe('STUN server on loopback', () => {
  const servers: StunServer[] = [];
  const clients: RawUdp[] = [];
  const start = async (o: Partial<StunServerOptions>) => {
    const s = await startStunServer({ listen: { host: '127.0.0.1', port: 0 }, log: logged().log, ...o });
    servers.push(s);
    return s;
  };
  const client = async (host = '127.0.0.1') => {
    const c = await RawUdp.open(host);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  it('RFC 5780 with two IPs: four sockets, and each change request is answered from the socket Table 1 names', async () => {
    const { log, lines } = logged();
    const s = await start({ alternate: { host: '127.0.0.2', port: 0 }, log });
    const [p1, p2] = [s.addresses.primary.port, s.addresses.other!.port];
    expect(s.addresses).toEqual({
      mode: 'rfc5780',
      primary: { ip: '127.0.0.1', port: p1 },
      other: { ip: '127.0.0.2', port: p2 },
      sockets: [
        { ip: '127.0.0.1', port: p1 },
        { ip: '127.0.0.1', port: p2 },
        { ip: '127.0.0.2', port: p1 },
        { ip: '127.0.0.2', port: p2 },
      ],
    });
    expect(p1).not.toBe(p2);
    expect(lines[0]).toMatchObject({ level: 'info', mode: 'rfc5780', otherAddress: `127.0.0.2:${p2}` });

    const c = await client();
    const cases: Array<[StunAddress, { changeIp?: boolean; changePort?: boolean }, StunAddress, StunAddress]> = [
      // to, flags, expected source (= RESPONSE-ORIGIN), expected OTHER-ADDRESS
      [{ ip: '127.0.0.1', port: p1 }, {}, { ip: '127.0.0.1', port: p1 }, { ip: '127.0.0.2', port: p2 }],
      [{ ip: '127.0.0.1', port: p1 }, { changeIp: true, changePort: true }, { ip: '127.0.0.2', port: p2 }, { ip: '127.0.0.2', port: p2 }],
      [{ ip: '127.0.0.1', port: p1 }, { changePort: true }, { ip: '127.0.0.1', port: p2 }, { ip: '127.0.0.2', port: p2 }],
      [{ ip: '127.0.0.1', port: p1 }, { changeIp: true }, { ip: '127.0.0.2', port: p1 }, { ip: '127.0.0.2', port: p2 }],
      [{ ip: '127.0.0.2', port: p2 }, {}, { ip: '127.0.0.2', port: p2 }, { ip: '127.0.0.1', port: p1 }],
      [{ ip: '127.0.0.2', port: p1 }, { changePort: true }, { ip: '127.0.0.2', port: p2 }, { ip: '127.0.0.1', port: p2 }],
    ];
    for (const [to, flags, source, other] of cases) {
      const tx = newTransactionId();
      await c.send(bindingRequest(tx, flags), to);
      const r = await c.next();
      expect(r?.from).toEqual(source);
      const m = parseMessage(r!.bytes);
      expect(m).toMatchObject({ class: 'success', transactionId: tx, xorMappedAddress: c.address, mappedAddress: c.address, responseOrigin: source, otherAddress: other, software: 'wgmesh', fingerprintOk: true });
    }
    expect(s.counters.answered.success).toBe(cases.length);
  });

  it('one IP and two ports: change port works, change IP gets 420, and the log says so', async () => {
    const { log, lines } = logged();
    const s = await start({ alternate: { host: '127.0.0.1', port: 0 }, log });
    expect(s.addresses.mode).toBe('change-port');
    expect(s.addresses.sockets).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'warn', mode: 'change-port' });
    expect(String(lines[0].msg)).toContain('change-IP requests get 420');
    const c = await client();
    await c.send(bindingRequest(newTransactionId(), { changePort: true }), s.addresses.primary);
    const port = await c.next();
    expect(port?.from).toEqual(s.addresses.other);
    await c.send(bindingRequest(newTransactionId(), { changeIp: true, changePort: true }), s.addresses.primary);
    const refused = await c.next();
    expect(refused?.from).toEqual(s.addresses.primary);
    expect(parseMessage(refused!.bytes)).toMatchObject({ class: 'error', errorCode: { code: 420 }, unknownAttributes: [ATTR.CHANGE_REQUEST] });
    expect(s.counters.answered).toEqual({ success: 1, 'unknown-attribute': 0, 'change-unavailable': 1 });
  });

  it('IPv6 on ::1 (change-port mode): XOR-MAPPED-ADDRESS is the client’s IPv6 address', async () => {
    const s = await start({ listen: { host: '::1', port: 0 }, alternate: { host: '::1', port: 0 } });
    const c = await client('::1');
    await c.send(bindingRequest(newTransactionId(), { changePort: true }), s.addresses.primary);
    const r = await c.next();
    expect(r?.from).toEqual(s.addresses.other);
    expect(parseMessage(r!.bytes)).toMatchObject({ xorMappedAddress: { ip: '::1', port: c.address.port }, responseOrigin: s.addresses.other });
  });

  it('a wildcard listener (basic mode) answers IPv4 clients, with no RESPONSE-ORIGIN or OTHER-ADDRESS', async () => {
    const s = await start({ listen: { host: '0.0.0.0', port: 0 } });
    const c = await client();
    await c.send(bindingRequest(newTransactionId()), { ip: '127.0.0.2', port: s.addresses.primary.port });
    const m = parseMessage((await c.next())!.bytes);
    expect(m).toMatchObject({ class: 'success', xorMappedAddress: c.address });
    expect(m.responseOrigin).toBeUndefined();
    expect(m.otherAddress).toBeUndefined();
  });

  it('a :: listener also answers IPv4 clients, with their IPv4 address', async () => {
    const s = await start({ listen: { host: '::', port: 0 } });
    const v4 = await client();
    await v4.send(bindingRequest(newTransactionId()), { ip: '127.0.0.1', port: s.addresses.primary.port });
    expect(parseMessage((await v4.next())!.bytes).xorMappedAddress).toEqual(v4.address);
    const v6 = await client('::1');
    await v6.send(bindingRequest(newTransactionId()), { ip: '::1', port: s.addresses.primary.port });
    expect(parseMessage((await v6.next())!.bytes).xorMappedAddress).toEqual(v6.address);
  });

  it('survives hostile input: random, truncated and mutated datagrams are dropped and counted, then it still answers', async () => {
    const { log, lines } = logged();
    const s = await start({ alternate: { host: '127.0.0.2', port: 0 }, log, rateLimit: false });
    const targets = s.addresses.sockets;
    const c = await client();
    const rnd = prng(0xbad);
    const int = (n: number) => Math.floor(rnd() * n);
    const valid = [bindingRequest(newTransactionId(), { changeIp: true, changePort: true, fingerprint: true }), encodeMessage({ class: 'request', method: 1, transactionId: newTransactionId(), attributes: [{ type: 0x0026, value: new Uint8Array(4) }] })]; // PADDING: 420
    let sent = 0;
    for (let i = 0; i < 3000; i++) {
      let b: Uint8Array;
      switch (i % 4) {
        case 0: // random bytes
          b = Uint8Array.from({ length: int(200) }, () => int(256));
          break;
        case 1: // truncated
          b = valid[int(2)].subarray(0, int(valid[0].length));
          break;
        case 2: // bit flips
          b = Uint8Array.from(valid[int(2)]);
          for (let n = 1 + int(3); n > 0; n--) b[int(b.length)] ^= 1 << int(8);
          break;
        default: // a STUN header with a garbage body
          b = Uint8Array.from({ length: 20 + 4 * int(20) }, () => int(256));
          b.set([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
          new DataView(b.buffer).setUint16(2, b.length - 20);
      }
      await c.send(b, targets[i % targets.length]);
      sent++;
      // Let the server keep up, so that the kernel's receive buffer does not drop datagrams.
      if (sent % 100 === 0) await waitFor('the server to read the flood', () => s.counters.received === sent, 2000, 1);
    }
    await c.send(Uint8Array.from({ length: 9000 }, () => 0x5a), targets[0]);
    sent++;
    await waitFor('the server to read the flood', () => s.counters.received === sent, 2000, 1);
    const replies = await c.drain(100);
    // Whatever was answered is a well-formed, small STUN response; garbage got no reply.
    for (const r of replies) {
      expect(r.bytes.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
      expect(['success', 'error']).toContain(parseMessage(r.bytes).class);
    }
    const counters = s.counters;
    const dropped = Object.values(counters.dropped).reduce((a, b) => a + b, 0);
    const answered = Object.values(counters.answered).reduce((a, b) => a + b, 0);
    expect(counters.received).toBe(sent);
    expect(dropped + answered).toBe(sent);
    expect(replies.length).toBe(answered - counters.toResponsePort); // a mutation may ask for another port
    expect(counters.dropped.internal).toBe(0);
    for (const reason of ['short', 'oversize', 'not-stun', 'malformed'] as const) expect([reason, counters.dropped[reason] > 0]).toEqual([reason, true]);
    // Noisy warnings are throttled: a handful of lines for thousands of drops.
    expect(lines.filter((l) => l.msg === 'dropped a datagram').length).toBeLessThanOrEqual(Object.keys(counters.dropped).length);

    const tx = newTransactionId();
    await c.send(bindingRequest(tx), s.addresses.primary);
    const ok = await c.next();
    expect(parseMessage(ok!.bytes)).toMatchObject({ class: 'success', transactionId: tx, xorMappedAddress: c.address });
  });

  it('rate-limits replies per source address', async () => {
    const s = await start({ rateLimit: { perSecond: 5, burst: 10 } });
    const c = await client();
    for (let i = 0; i < 40; i++) await c.send(bindingRequest(newTransactionId()), s.addresses.primary);
    const replies = await c.drain(200);
    expect(replies.length).toBeGreaterThanOrEqual(10);
    expect(replies.length).toBeLessThanOrEqual(12);
    expect(s.counters.dropped['rate-limited']).toBe(40 - replies.length);
    // Another source has its own budget.
    const other = await client('127.0.0.2');
    await other.send(bindingRequest(newTransactionId()), s.addresses.primary);
    expect(await other.next()).toBeDefined();
  });

  it.each([
    [{ listen: { host: '127.0.0.1', port: 3478 }, alternate: { host: '127.0.0.2', port: 3478 } }, 'the alternate port must differ'],
    [{ listen: { host: '0.0.0.0', port: 0 }, alternate: { host: '127.0.0.2', port: 0 } }, 'specific IPs'],
    [{ listen: { host: '127.0.0.1', port: 0 }, alternate: { host: '::1', port: 0 } }, 'same IP family'],
    [{ listen: { host: 'localhost', port: 0 } }, 'is not an IP address'],
    [{ listen: { host: '127.0.0.1', port: 0 }, software: 'x'.repeat(17) }, 'longer than 16 bytes'],
    // 198.51.100.77 is not an address of this host: binding fails before anything is sent.
    [{ listen: { host: '127.0.0.1', port: 0 }, alternate: { host: '198.51.100.77', port: 0 } }, 'not an address of this host'],
  ])('refuses %j', async (opts, message) => {
    await expect(startStunServer({ log: logged().log, ...(opts as Pick<StunServerOptions, 'listen'>) })).rejects.toThrow(message);
    await expect(startStunServer({ log: logged().log, ...(opts as Pick<StunServerOptions, 'listen'>) })).rejects.toThrow(StunServerConfigError);
  });

  it('refuses a port in use, naming it', async () => {
    const s = await start({});
    await expect(start({ listen: { host: '127.0.0.1', port: s.addresses.primary.port } })).rejects.toThrow(`cannot listen on 127.0.0.1:${s.addresses.primary.port}: the port is in use`);
  });
});
