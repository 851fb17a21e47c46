import { parseQuery } from './query';
import { optRecord, query, wireName } from './testkit';

/** A query with QDCOUNT 1 and the given raw tail after the 12-byte header. */
function raw(tail: Buffer, counts: { qd?: number; an?: number; ns?: number; ar?: number } = {}): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0xbeef, 0);
  h.writeUInt16BE(counts.qd ?? 1, 4);
  h.writeUInt16BE(counts.an ?? 0, 6);
  h.writeUInt16BE(counts.ns ?? 0, 8);
  h.writeUInt16BE(counts.ar ?? 0, 10);
  return Buffer.concat([h, tail]);
}

const typeIn = Buffer.from([0, 33, 0, 1]);
const question = Buffer.concat([wireName('Peer._wireguard._udp.Mesh.Example'), typeIn]);
const tsigLike = Buffer.concat([Buffer.from([0xc0, 12]), Buffer.from([0, 250, 0, 255, 0, 0, 0, 0, 0, 3, 1, 2, 3])]);

describe('parseQuery', () => {
  it('reads header, question (lowercased) and EDNS', () => {
    const q = parseQuery(query({ name: 'Peer._wireguard._udp.Mesh.Example', type: 'SRV', id: 7, edns: { udpSize: 4096, dnssecOk: true } }));
    expect(q).toEqual({
      id: 7,
      opcode: 0,
      rd: true,
      question: { name: 'peer._wireguard._udp.mesh.example.', type: 33, class: 1 },
      edns: { udpSize: 4096, version: 0, dnssecOk: true },
      problem: null,
    });
  });

  it('reads an EDNS payload size under 512 as 512', () => {
    expect(parseQuery(query({ name: 'a', edns: { udpSize: 100 } }))?.edns?.udpSize).toBe(512);
  });

  it('drops what is not a query: under 12 bytes, or QR=1', () => {
    expect(parseQuery(new Uint8Array(0))).toBeNull();
    expect(parseQuery(new Uint8Array(11))).toBeNull();
    const response = query({ name: 'a' });
    response[2] |= 0x80;
    expect(parseQuery(response)).toBeNull();
  });

  it('writes odd label bytes escaped, so the text form is exact', () => {
    const name = Buffer.concat([Buffer.from([3]), Buffer.from('a.B', 'latin1'), Buffer.from([2, 0x5c, 0x00]), Buffer.from([1, 0xff, 0])]);
    expect(parseQuery(raw(Buffer.concat([name, typeIn])))?.question?.name).toBe('a\\.b.\\\\\\000.\\255.');
    expect(parseQuery(raw(Buffer.concat([Buffer.from([0]), typeIn])))?.question?.name).toBe('.');
  });

  it('skips other additional records (TSIG-like, compressed owner) but reads the OPT', () => {
    const q = parseQuery(raw(Buffer.concat([question, tsigLike, optRecord({ udpSize: 1400 })]), { ar: 2 }));
    expect(q?.problem).toBeNull();
    expect(q?.edns?.udpSize).toBe(1400);
  });

  it('reports a non-QUERY opcode with the question when it parses', () => {
    const q = parseQuery(query({ name: 'x.mesh.example', opcode: 2 }));
    expect(q?.problem).toBe('opcode');
    expect(q?.opcode).toBe(2);
    expect(q?.question?.name).toBe('x.mesh.example.');
  });

  const longLabel = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
  it.each([
    ['no question', raw(Buffer.alloc(0), { qd: 0 }), 'question-count', false],
    ['two questions', raw(Buffer.concat([question, question]), { qd: 2 }), 'question-count', false],
    ['a pointer in the question', raw(Buffer.concat([Buffer.from([1, 0x61, 0xc0, 12]), typeIn])), 'pointer-in-question', false],
    ['a pointer loop in the question', raw(Buffer.concat([Buffer.from([0xc0, 12]), typeIn])), 'pointer-in-question', false],
    ['a label over 63 (0x40 type)', raw(Buffer.concat([Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0]), typeIn])), 'bad-label', false],
    ['a name over 255 bytes', raw(Buffer.concat([longLabel, longLabel, longLabel, longLabel, Buffer.from([0]), typeIn])), 'name-too-long', false],
    ['a name running off the end', raw(Buffer.from([5, 0x61, 0x62])), 'truncated', false],
    ['a missing type/class', raw(Buffer.concat([wireName('a.b'), Buffer.from([0, 1])])), 'truncated', false],
    ['an answer record', raw(question, { an: 1 }), 'answer-or-authority', true],
    ['an authority record', raw(question, { ns: 1 }), 'answer-or-authority', true],
    ['trailing bytes', raw(Buffer.concat([question, Buffer.from([0, 0, 0])])), 'trailing-bytes', true],
    ['ARCOUNT beyond the message', raw(question, { ar: 1 }), 'truncated', true],
    ['a truncated additional record', raw(Buffer.concat([question, optRecord({}).subarray(0, 8)]), { ar: 1 }), 'truncated', true],
    ['OPT rdata beyond the message', raw(Buffer.concat([question, optRecord({}, undefined, Buffer.alloc(4)).subarray(0, 13)]), { ar: 1 }), 'truncated', true],
    ['two OPT records', raw(Buffer.concat([question, optRecord({}), optRecord({})]), { ar: 2 }), 'duplicate-opt', true],
    ['an OPT with a non-root owner', raw(Buffer.concat([question, optRecord({}, wireName('x'))]), { ar: 1 }), 'opt-owner', true],
    ['malformed OPT options', raw(Buffer.concat([question, optRecord({}, undefined, Buffer.from([0, 10, 0, 9, 1]))]), { ar: 1 }), 'bad-opt-options', true],
  ])('flags %s', (_what, msg, problem, hasQuestion) => {
    const q = parseQuery(msg);
    expect(q?.id).toBe(0xbeef);
    expect(q?.problem).toBe(problem);
    expect(q?.question !== null).toBe(hasQuestion);
  });

  it('accepts well-formed OPT options', () => {
    const cookie = Buffer.concat([Buffer.from([0, 10, 0, 8]), Buffer.alloc(8, 7)]);
    expect(parseQuery(raw(Buffer.concat([question, optRecord({}, undefined, cookie)]), { ar: 1 }))?.problem).toBeNull();
  });
});
