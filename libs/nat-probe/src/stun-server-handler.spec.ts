import { ATTR, bindingRequest, bindingSuccess, encodeMessage, parseMessage, StunAddress } from '@wgmesh/stun';
import { prng } from '@wgmesh/testing';
import { answerDatagram, MAX_RESPONSE_BYTES, MAX_UNKNOWN_LISTED, Outcome, ServerTopology, SocketSlot, unmapIp } from './stun-server-handler';

const TX = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const CLIENT: StunAddress = { ip: '198.51.100.7', port: 40000 };
const FULL: ServerTopology = { mode: 'rfc5780', ips: ['203.0.113.1', '203.0.113.2'], ports: [3478, 3479] };
const ONE_IP: ServerTopology = { mode: 'change-port', ips: ['203.0.113.1'], ports: [3478, 3479] };
const BASIC: ServerTopology = { mode: 'basic', ips: ['203.0.113.1'], ports: [3478] };
const A1P1: SocketSlot = { ip: 0, port: 0 };

function reply(o: Outcome) {
  if (o.kind !== 'reply') throw new Error(`expected a reply, got a drop (${o.reason}: ${o.detail ?? ''})`);
  return { ...o, message: parseMessage(o.bytes) };
}
const answer = (bytes: Uint8Array, t: ServerTopology = FULL, on: SocketSlot = A1P1, client = CLIENT) => answerDatagram(bytes, client, on, t, 'wgmesh');
const addr = (t: ServerTopology, s: SocketSlot) => ({ ip: t.ips[s.ip], port: t.ports[s.port] });

describe('STUN server decisions: Binding', () => {
  it('answers a bare request with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE and FINGERPRINT', () => {
    const r = reply(answer(bindingRequest(TX)));
    expect(r.answer).toBe('success');
    expect(r.via).toEqual(A1P1);
    expect(r.message).toMatchObject({
      class: 'success',
      method: 1,
      transactionId: TX,
      xorMappedAddress: CLIENT,
      mappedAddress: CLIENT,
      responseOrigin: { ip: '203.0.113.1', port: 3478 },
      otherAddress: { ip: '203.0.113.2', port: 3479 },
      software: 'wgmesh',
      fingerprintOk: true,
    });
    expect(r.bytes.length).toBe(88); // 20 + 4 addresses of 12 + SOFTWARE 12 + FINGERPRINT 8
  });

  it('answers IPv6 clients with their IPv6 address', () => {
    const t: ServerTopology = { mode: 'rfc5780', ips: ['2001:db8::1', '2001:db8::2'], ports: [3478, 3479] };
    const client = { ip: '2001:db8:ffff::7', port: 1 };
    const r = reply(answer(bindingRequest(TX), t, A1P1, client));
    expect(r.message).toMatchObject({ xorMappedAddress: client, responseOrigin: { ip: '2001:db8::1', port: 3478 }, otherAddress: { ip: '2001:db8::2', port: 3479 } });
    expect(r.bytes.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
  });

  it('leaves out RESPONSE-ORIGIN when listening on a wildcard (the local address is not known), and OTHER-ADDRESS without an alternate', () => {
    const r = reply(answer(bindingRequest(TX), { mode: 'basic', ips: ['0.0.0.0'], ports: [3478] }));
    expect(r.message.xorMappedAddress).toEqual(CLIENT);
    expect(r.message.responseOrigin).toBeUndefined();
    expect(r.message.otherAddress).toBeUndefined();
    expect(reply(answer(bindingRequest(TX), BASIC)).message.responseOrigin).toEqual({ ip: '203.0.113.1', port: 3478 });
  });

  it('reports IPv4 clients of a dual-stack socket as IPv4', () => {
    expect(unmapIp('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(unmapIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(unmapIp('192.0.2.1')).toBe('192.0.2.1');
  });

  it('ignores unknown comprehension-optional attributes', () => {
    const req = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: 0x8055, value: new Uint8Array(3) }], fingerprint: true });
    expect(reply(answer(req)).message.xorMappedAddress).toEqual(CLIENT);
  });
});

describe('STUN server decisions: RFC 5780 CHANGE-REQUEST (section 6.1, Table 1)', () => {
  const slots: SocketSlot[] = [
    { ip: 0, port: 0 },
    { ip: 0, port: 1 },
    { ip: 1, port: 0 },
    { ip: 1, port: 1 },
  ];
  const flags = [
    { changeIp: false, changePort: false },
    { changeIp: true, changePort: false },
    { changeIp: false, changePort: true },
    { changeIp: true, changePort: true },
  ];
  const cases = slots.flatMap((on) => flags.map((f) => [on, f] as const));

  it.each(cases)('request on %j with %j: source and RESPONSE-ORIGIN Ca/Da, Cp/Dp; OTHER-ADDRESS Ca:Cp', (on, f) => {
    const r = reply(answer(bindingRequest(TX, f), FULL, on));
    const other = (i: 0 | 1): 0 | 1 => (i === 0 ? 1 : 0);
    const via: SocketSlot = { ip: f.changeIp ? other(on.ip) : on.ip, port: f.changePort ? other(on.port) : on.port };
    expect(r.via).toEqual(via);
    expect(r.message.responseOrigin).toEqual(addr(FULL, via));
    expect(r.message.otherAddress).toEqual(addr(FULL, { ip: other(on.ip), port: other(on.port) }));
    expect(r.message.xorMappedAddress).toEqual(CLIENT);
  });

  it('one IP: change port is answered from A1:P2, change IP gets 420 naming CHANGE-REQUEST', () => {
    const port = reply(answer(bindingRequest(TX, { changePort: true }), ONE_IP));
    expect(port.via).toEqual({ ip: 0, port: 1 });
    expect(port.message).toMatchObject({ class: 'success', responseOrigin: { ip: '203.0.113.1', port: 3479 }, otherAddress: { ip: '203.0.113.1', port: 3479 } });
    for (const f of [{ changeIp: true }, { changeIp: true, changePort: true }]) {
      const r = reply(answer(bindingRequest(TX, f), ONE_IP));
      expect(r.answer).toBe('change-unavailable');
      expect(r.via).toEqual(A1P1);
      expect(r.message).toMatchObject({ class: 'error', transactionId: TX, errorCode: { code: 420, reason: 'Unknown Attribute' }, unknownAttributes: [ATTR.CHANGE_REQUEST], fingerprintOk: true });
    }
    // A CHANGE-REQUEST with neither flag asks for nothing the server cannot do.
    const none = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: ATTR.CHANGE_REQUEST, value: new Uint8Array(4) }] });
    expect(reply(answer(none, ONE_IP)).message.class).toBe('success');
  });

  it('no alternate: any CHANGE-REQUEST gets 420 (RFC 5780 section 6), and no OTHER-ADDRESS is ever sent', () => {
    const none = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: ATTR.CHANGE_REQUEST, value: new Uint8Array(4) }] });
    for (const req of [bindingRequest(TX, { changePort: true }), bindingRequest(TX, { changeIp: true }), none]) {
      const r = reply(answer(req, BASIC));
      expect(r.message).toMatchObject({ class: 'error', errorCode: { code: 420 }, unknownAttributes: [ATTR.CHANGE_REQUEST] });
    }
    expect(reply(answer(bindingRequest(TX), BASIC)).message.otherAddress).toBeUndefined();
  });
});

describe('STUN server decisions: errors and drops', () => {
  it('answers unknown comprehension-required attributes (RESPONSE-PORT, PADDING, …) with 420 listing them, at most 8', () => {
    const attrs = [0x0027, 0x0026, ...Array.from({ length: 12 }, (_, i) => 0x0040 + i)].map((type) => ({ type, value: new Uint8Array(4) }));
    const r = reply(answer(encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: attrs, fingerprint: true })));
    expect(r.answer).toBe('unknown-attribute');
    expect(r.message).toMatchObject({ class: 'error', transactionId: TX, errorCode: { code: 420 } });
    expect(r.message.unknownAttributes).toEqual([0x0027, 0x0026, 0x0040, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045]);
    expect(r.message.unknownAttributes).toHaveLength(MAX_UNKNOWN_LISTED);
  });

  it('honours RESPONSE-PORT (RFC 5780 7.5): the reply goes to that port, from the socket CHANGE-REQUEST asks for', () => {
    const req = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: 0x0027, value: Uint8Array.of(0x9c, 0x41, 0, 0) }, { type: ATTR.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, 6) }], fingerprint: true });
    const r = reply(answer(req));
    expect(r).toMatchObject({ answer: 'success', port: 40001, via: { ip: 1, port: 1 } });
    expect(r.message).toMatchObject({ transactionId: TX, xorMappedAddress: CLIENT, responseOrigin: { ip: '203.0.113.2', port: 3479 } });
    const rp = (value: Uint8Array) => encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: 0x0027, value }] });
    expect(answer(rp(Uint8Array.of(0x9c, 0x41)))).toMatchObject({ kind: 'drop', reason: 'malformed' });
    expect(answer(rp(new Uint8Array(4)))).toMatchObject({ kind: 'drop', reason: 'malformed', detail: 'RESPONSE-PORT 0' });
    // With PADDING (which we do not support) it is a 420 listing both, to the source port.
    const both = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: 0x0027, value: Uint8Array.of(0x9c, 0x41, 0, 0) }, { type: 0x0026, value: new Uint8Array(8) }] });
    const refused = reply(answer(both));
    expect(refused.port).toBeUndefined();
    expect(refused.message).toMatchObject({ class: 'error', errorCode: { code: 420 }, unknownAttributes: [0x0027, 0x0026] });
  });

  const success = bindingSuccess(TX, { xorMapped: CLIENT });
  const indication = encodeMessage({ class: 'indication', method: 1, transactionId: TX });
  const allocate = encodeMessage({ class: 'request', method: 3, transactionId: TX });
  const badLength = encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: ATTR.CHANGE_REQUEST, value: new Uint8Array(5) }] });
  const badFingerprint = bindingRequest(TX, { fingerprint: true });
  badFingerprint[badFingerprint.length - 1] ^= 1;
  const wrongCookie = bindingRequest(TX);
  wrongCookie[4] = 0;
  it.each([
    ['an empty datagram', new Uint8Array(0), 'short'],
    ['19 bytes', bindingRequest(TX).subarray(0, 19), 'short'],
    ['a 2049-byte datagram', new Uint8Array(2049), 'oversize'],
    ['a WireGuard-sized datagram of zeros', new Uint8Array(148), 'not-stun'],
    ['a wrong magic cookie', wrongCookie, 'not-stun'],
    ['DNS', Buffer.from('abcd01000001000000000000076578616d706c6503636f6d0000010001', 'hex'), 'not-stun'],
    ['a Binding success (reflection)', success, 'not-request'],
    ['a Binding indication (keepalive)', indication, 'indication'],
    ['an Allocate request (TURN)', allocate, 'unsupported-method'],
    ['a CHANGE-REQUEST of 5 bytes', badLength, 'malformed'],
    ['a wrong FINGERPRINT', badFingerprint, 'bad-fingerprint'],
  ])('drops %s', (_name, bytes, reason) => {
    expect(answer(Uint8Array.from(bytes))).toMatchObject({ kind: 'drop', reason });
  });

  it('never throws, and never sends more than MAX_RESPONSE_BYTES, for 20,000 mutated requests (seed 0x5e4e)', () => {
    const rnd = prng(0x5e4e);
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds = [
      bindingRequest(TX),
      bindingRequest(TX, { changeIp: true, changePort: true, software: 'client', fingerprint: true }),
      encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: 0x0027, value: new Uint8Array(4) }, { type: 0x0006 /* USERNAME */, value: new Uint8Array(9) }], fingerprint: true }),
    ];
    const seen = new Map<string, number>();
    const topologies = [FULL, ONE_IP, BASIC, { mode: 'rfc5780', ips: ['2001:db8::1', '2001:db8::2'], ports: [3478, 3479] } as ServerTopology];
    for (let i = 0; i < 20_000; i++) {
      const b = Uint8Array.from(seeds[int(seeds.length)]);
      for (let n = 1 + int(4); n > 0; n--) b[int(b.length)] = int(256);
      const cut = rnd() < 0.2 ? b.subarray(0, int(b.length + 1)) : b;
      const t = topologies[int(topologies.length)];
      const client = t.ips[0].includes(':') ? { ip: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 } : CLIENT;
      const o = answerDatagram(cut, client, { ip: 0, port: int(t.ports.length) as 0 | 1 }, t, 'wgmesh-16-bytes!');
      const key = o.kind === 'drop' ? o.reason : o.answer;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (o.kind === 'reply') {
        expect(o.bytes.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
        expect(parseMessage(o.bytes).transactionId).toEqual(cut.subarray(8, 20));
      }
    }
    // The mutations reach replies of every kind and the main drop reasons, not just the header check.
    for (const k of ['success', 'unknown-attribute', 'change-unavailable', 'short', 'not-stun', 'malformed', 'bad-fingerprint', 'unsupported-method', 'not-request']) expect([k, (seen.get(k) ?? 0) > 10]).toEqual([k, true]);
  });

  it('bounds the largest response: 144 bytes (IPv6, every attribute, 16-byte SOFTWARE)', () => {
    expect(MAX_RESPONSE_BYTES).toBe(144);
    const t: ServerTopology = { mode: 'rfc5780', ips: ['2001:db8::1', '2001:db8::2'], ports: [3478, 3479] };
    const o = answerDatagram(bindingRequest(TX), { ip: '2001:db8::7', port: 1 }, A1P1, t, 'x'.repeat(16));
    expect(o.kind === 'reply' && o.bytes.length).toBe(MAX_RESPONSE_BYTES);
  });
});
