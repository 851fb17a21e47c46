import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDefinitions, loadDefinitions, VppDefinitionError } from './index';
import { API_DIR, describeGolden } from './testing/golden';

const HDR = [
  ['u16', '_vl_msg_id'],
  ['u32', 'context'],
];
const msg = (name: string, ...fields: unknown[]) => [name, ...HDR, ...fields, { crc: '0x12345678', options: {} }];

function problem(files: Array<{ file: string; json: unknown }>): string {
  try {
    buildDefinitions(files);
  } catch (e) {
    expect(e).toBeInstanceOf(VppDefinitionError);
    return (e as Error).message;
  }
  throw new Error('expected a VppDefinitionError');
}

describe('buildDefinitions', () => {
  it('registers types, unions, enums (sized by enumtype), enumflags, aliases, messages and services', () => {
    const defs = buildDefinitions([
      {
        file: 'core/a.api.json',
        json: {
          module: 'a',
          types: [['pair', ['u8', 'x'], ['u16', 'y', { default: 3 }], { comment: 'a comment is not a field' }]],
          unions: [['either', ['u8', 'b'], ['u32', 'w']]],
          enums: [['small', ['S_A', 1], { enumtype: 'u8' }], ['plain', ['P_A', 7]]],
          enumflags: [['fl', ['F_A', 1], ['F_B', 2], { enumtype: 'u16' }]],
          aliases: { idx: { type: 'u32' }, mac: { type: 'u8', length: 6 } },
          messages: [msg('get', ['bool', 'on', { default: 'true' }]), msg('get_reply', ['i32', 'retval'])],
          services: { get: { reply: 'get_reply' }, want_x: { reply: 'want_x_reply', events: ['x_event'] }, d_dump: { reply: 'd_details', stream: true } },
        },
      },
    ]);
    expect(defs.type('vl_api_pair_t')).toMatchObject({ kind: 'struct', fields: [{ name: 'x', type: 'u8' }, { name: 'y', default: 3 }] });
    expect(defs.type('either')).toMatchObject({ kind: 'union' });
    expect(defs.type('small')).toMatchObject({ kind: 'enum', type: 'u8', flags: false });
    expect(defs.type('plain')).toMatchObject({ kind: 'enum', type: 'u32' });
    expect(defs.type('fl')).toMatchObject({ kind: 'enum', type: 'u16', flags: true });
    expect(defs.type('mac')).toMatchObject({ kind: 'alias', type: 'u8', length: 6 });
    expect(defs.message('get')).toMatchObject({ crc: '0x12345678', module: 'a', file: 'core/a.api.json', fields: [{}, {}, { name: 'on', default: true }] });
    expect(defs.service('get')).toEqual({ reply: 'get_reply' });
    expect(defs.service('other')).toEqual({ reply: 'other_reply' });
    expect(defs.service('d_dump')).toEqual({ reply: 'd_details', stream: true });
    expect(defs.isEvent('x_event')).toBe(true);
    expect(defs.isEvent('get_reply')).toBe(false);
  });

  it('keeps the first of two different definitions and records the conflict; identical copies are fine', () => {
    const a = { types: [['t', ['u8', 'x']]], messages: [msg('m')] };
    const b = { types: [['t', ['u16', 'x']]], messages: [msg('m')] };
    const defs = buildDefinitions([
      { file: 'core/a.api.json', json: a },
      { file: 'core/copy.api.json', json: a },
      { file: 'plugins/b.api.json', json: b },
    ]);
    expect(defs.conflicts).toEqual(['type t: core/a.api.json vs plugins/b.api.json']);
    expect(defs.type('t')).toMatchObject({ fields: [{ type: 'u8' }] });
  });

  it.each([
    ['a document that is not an object', [], 'x.api.json: the document is not a JSON object'],
    ['messages not an array', { messages: {} }, 'x.api.json: "messages" is not an array'],
    ['a message without crc', { messages: [['m', ['u16', '_vl_msg_id'], {}]] }, 'x.api.json: message m: "crc" is missing or not 0x + 8 hex digits'],
    ['a message not starting with _vl_msg_id', { messages: [['m', ['u32', 'context'], { crc: '0x1' }]] }, 'x.api.json: message m: the first field must be u16 _vl_msg_id'],
    ['a field that is not [type, name]', { messages: [msg('m', ['u8'])] }, 'x.api.json: message m field 3: a field is [type, name, (length, (count field)), ({options})]'],
    ['a bad array length', { messages: [msg('m', ['u8', 'x', -1])] }, 'x.api.json: message m field 3 (x): the array length is not a non-negative integer'],
    ['a count field that comes later', { messages: [msg('m', ['u8', 'xs', 0, 'n'], ['u8', 'n'])] }, 'x.api.json: message m field 3 (xs): the count field "n" is not an earlier field'],
    ['a duplicate field', { messages: [msg('m', ['u8', 'x'], ['u8', 'x'])] }, 'x.api.json: message m field 4: duplicate field name "x"'],
    ['an unknown type', { messages: [msg('m', ['vl_api_nope_t', 'x'])] }, 'x.api.json: message m field x: unknown type vl_api_nope_t'],
    ['an enum with a bad enumtype', { enums: [['e', ['A', 1], { enumtype: 'f64' }]] }, 'x.api.json: enum e: enumtype "f64" is not an integer type'],
    ['an enum value that is not an integer', { enums: [['e', ['A', '1']]] }, 'x.api.json: enum e: each value is [SYMBOL, integer]'],
    ['an alias without type', { aliases: { a: { length: 4 } } }, 'x.api.json: alias a: needs a "type" string'],
    ['a service without reply', { services: { s: {} } }, 'x.api.json: service s: needs a "reply" string'],
    ['a type that contains itself', { types: [['loop', ['vl_api_loop2_t', 'x']], ['loop2', ['vl_api_loop_t', 'y']]] }, 'x.api.json: type loop contains itself (loop → loop2 → loop)'],
  ])('names the file and the problem: %s', (_what, json, message) => {
    expect(problem([{ file: 'x.api.json', json }])).toBe(message);
  });
});

describe('loadDefinitions', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wgmesh-vpp-defs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads *.api.json recursively, core/ first, and ignores other files', () => {
    mkdirSync(join(dir, 'core'));
    mkdirSync(join(dir, 'plugins'));
    writeFileSync(join(dir, 'plugins/p.api.json'), JSON.stringify({ types: [['t', ['u16', 'x']]], messages: [msg('p')] }));
    writeFileSync(join(dir, 'core/c.api.json'), JSON.stringify({ types: [['t', ['u8', 'x']]], messages: [msg('c')] }));
    writeFileSync(join(dir, 'core/notes.txt'), 'not json');
    const defs = loadDefinitions(dir);
    expect(defs.files).toEqual(['core/c.api.json', 'plugins/p.api.json']);
    expect([...defs.messages.keys()].sort()).toEqual(['c', 'p']);
    expect(defs.conflicts).toEqual(['type t: core/c.api.json vs plugins/p.api.json']);
  });

  it('names the file that is not valid JSON', () => {
    mkdirSync(join(dir, 'plugins'));
    writeFileSync(join(dir, 'plugins/bad.api.json'), '{"messages": [');
    expect(() => loadDefinitions(dir)).toThrow(/^plugins\/bad.api.json: not valid JSON \(/);
  });

  it('says when the directory is missing or empty', () => {
    expect(() => loadDefinitions(join(dir, 'nope'))).toThrow(`${join(dir, 'nope')}: no such directory (VPP API definitions; install VPP or set apiDir)`);
    expect(() => loadDefinitions(dir)).toThrow(`${dir}: no *.api.json files in this directory or below`);
  });
});

describeGolden('the VPP v26.06 definitions', () => {
  it('load: 58 files, 870 messages, enums sized as the README says', () => {
    const defs = loadDefinitions(API_DIR);
    expect(defs.files).toHaveLength(58);
    expect(defs.messages.size).toBe(870);
    expect(defs.conflicts).toEqual([]);
    const enumType = (n: string) => (defs.type(n) as { type: string }).type;
    expect(['if_status_flags', 'wireguard_peer_flags', 'address_family', 'fib_path_type', 'fib_path_flags', 'fib_path_nh_proto'].map(enumType)).toEqual([
      'u32',
      'u8',
      'u8',
      'u32',
      'u32',
      'u32',
    ]);
    expect(defs.message('wireguard_peer_add').options).toEqual({ deprecated: null });
    expect(defs.message('wireguard_peer_add_v2').options).toEqual({ in_progress: null });
    expect(defs.service('wireguard_peers_dump')).toEqual({ reply: 'wireguard_peers_details', stream: true });
    expect(defs.isEvent('wireguard_peer_event')).toBe(true);
    expect(defs.message('ip_route_add_del').fields[3]).toEqual({ name: 'is_add', type: 'bool', default: true });
  });
});
