import { headers, Msg } from 'nats';
import { CHUNK_HEADER, chunkHeaders, MAX_CHUNKS, parseChunkHeader, Reassembler, splitBody } from './chunks';

const chunk = (subject: string, id: string, index: number, count: number, text: string): Msg =>
  ({ subject, sid: 1, data: Buffer.from(text), headers: chunkHeaders(undefined, { id, index, count }), respond: () => true, json: () => ({}) as never, string: () => text }) as Msg;
const ID = 'AAAAAAAAAAAAAAAA';

describe('chunks of messages larger than max_payload', () => {
  it('splits a body into slices of at most the chunk size', () => {
    const data = Buffer.from('0123456789');
    expect(splitBody(data, 4).map((b) => Buffer.from(b).toString())).toEqual(['0123', '4567', '89']);
    expect(splitBody(data, 10)).toHaveLength(1);
    expect(splitBody(Buffer.alloc(0), 4)).toHaveLength(1);
  });

  it('puts chunks back together in order; a plain message passes as it is', () => {
    const r = new Reassembler();
    expect(r.accept(chunk('s', ID, 0, 3, '{"a":'))).toMatchObject({ kind: 'held', header: { index: 0 } });
    expect(r.accept(chunk('s', ID, 1, 3, '[1,2'))).toMatchObject({ kind: 'held', header: { index: 1 } });
    const done = r.accept(chunk('s', ID, 2, 3, ']}'));
    expect(done.kind).toBe('message');
    expect(done.kind === 'message' && Buffer.from(done.msg.data).toString()).toBe('{"a":[1,2]}');
    expect(r.size).toBe(0);
    const plain = { subject: 's', data: Buffer.from('{}'), headers: headers() } as unknown as Msg;
    expect(r.accept(plain)).toEqual({ kind: 'message', msg: plain });
  });

  it.each([
    ['a gap', [[0, 3], [2, 3]], /chunk 2 of 3 of message .* out of order \(expected 1 of 3\)/],
    ['a repeated first chunk', [[0, 3], [0, 3]], /chunk 0 of message .* came twice/],
    ['a count that changes', [[0, 3], [1, 4]], /out of order/],
    ['a chunk without its first', [[1, 3]], /whose first chunk never came/],
  ])('refuses %s', (_name, seq, error) => {
    const r = new Reassembler();
    const results = (seq as number[][]).map(([i, n]) => r.accept(chunk('s', ID, i, n, 'x')));
    expect(results.at(-1)).toMatchObject({ kind: 'refused', error: { message: expect.stringMatching(error as RegExp) } });
    expect(r.size).toBe(0);
  });

  it('refuses malformed headers and absurd counts', () => {
    for (const h of ['', 'x 0 2', `${ID} 0 1`, `${ID} 2 2`, `${ID} 0 ${MAX_CHUNKS + 1}`, `${ID} -1 2`, `${ID}  0 2`]) {
      expect(() => parseChunkHeader(h)).toThrow(CHUNK_HEADER);
    }
    expect(parseChunkHeader(`${ID} 1 2`)).toEqual({ id: ID, index: 1, count: 2 });
  });

  it('holds a bounded number of incomplete messages, and forgets them after the timeout', async () => {
    const r = new Reassembler(50);
    for (let i = 0; i < 20; i++) r.accept(chunk('s', `${ID.slice(0, 14)}${String(i).padStart(2, '0')}`, 0, 2, 'x'));
    expect(r.size).toBe(16);
    await new Promise((res) => setTimeout(res, 80));
    expect(r.size).toBe(0);
    expect(r.accept(chunk('s', `${ID.slice(0, 14)}19`, 1, 2, 'x')).kind).toBe('refused');
  });
});
