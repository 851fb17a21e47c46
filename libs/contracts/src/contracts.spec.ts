import { ContractError, parseDataplaneApplyResult, parseDataplaneState, parseConnectReply, parseConnectRequest, parseMemberRemoveReply, parseMemberRemoveRequest, decodeJson, parseDataplaneApplyRequest, parseEnrollReply, parseEnrollRequest, parsePeerEvent, parsePeerRecord, parsePeerSnapshot, parseSnapshotRequest, Patterns, subjectFor, parseNatReport, parsePathReport, parsePathsGetRequest, nodeOfSubject, parsePunchMessage, parseNodeId, parseCredentialRequest, parseCredentialReply } from './index';

const KEY = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';

describe('subjects', () => {
  it('spells subjects from patterns, mesh and node', () => {
    expect(subjectFor(Patterns.peerEvents, { mesh: 'prod' })).toBe('wgmesh.v1.prod.peers.events');
    expect(subjectFor(Patterns.dataplaneApply, { mesh: 'prod', node: 'site-a' })).toBe('wgmesh.v1.prod.node.site-a.dataplane.apply');
    expect(subjectFor(Patterns.nat, { mesh: 'prod', node: '*' })).toBe('wgmesh.v1.prod.node.*.nat');
  });

  it.each(['', 'Prod', 'a.b', 'a>', '-a', 'x'.repeat(64)])('refuses mesh name %p', (mesh) => {
    expect(() => subjectFor(Patterns.peerEvents, { mesh })).toThrow(ContractError);
  });

  it('needs a node id for node patterns', () => {
    expect(() => subjectFor(Patterns.dataplaneState, { mesh: 'prod' })).toThrow(/node/);
  });
});

describe('peer records', () => {
  it('normalises prefixes and endpoints', () => {
    expect(parsePeerRecord({ publicKey: KEY, allowedIps: ['10.0.0.7/24', 'FD00::1'], endpoint: '[2001:DB8::1]:51820' })).toEqual({
      publicKey: KEY,
      allowedIps: ['10.0.0.0/24', 'fd00::1/128'],
      endpoint: '[2001:db8::1]:51820',
    });
  });

  it.each([
    [{ publicKey: 'nope', allowedIps: [], endpoint: null }, /peer.publicKey: must be a WireGuard public key/],
    [{ publicKey: KEY, allowedIps: ['10.0.0.0/33'], endpoint: null }, /peer.allowedIps\[0\]: .*invalid prefix length/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '127.0.0.1:51820' }, /peer.endpoint: must not be a loopback/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '224.0.0.1:51820' }, /peer.endpoint: must not be a loopback/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '[::ffff:127.0.0.1]:51820' }, /peer.endpoint: must not be a loopback/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '[::ffff:224.0.0.1]:51820' }, /peer.endpoint: must not be a loopback/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '[::ffff:0.0.0.0]:51820' }, /peer.endpoint: must not be a loopback/],
    [{ publicKey: KEY, allowedIps: [], endpoint: '192.0.2.1:0' }, /peer.endpoint: .*1-65535/],
    [{ publicKey: KEY, allowedIps: [], endpoint: null, extra: 1 }, /peer.extra: is not a known field/],
    [{ publicKey: KEY, allowedIps: 'x', endpoint: null }, /peer.allowedIps: must be an array/],
    [{ publicKey: KEY, allowedIps: [], endpoint: null, nat: 'weird' }, /peer.nat: must be one of/],
    [{ publicKey: KEY, allowedIps: [], endpoint: null, persistentKeepalive: -1 }, /persistentKeepalive/],
  ])('refuses %j', (value, message) => {
    expect(() => parsePeerRecord(value)).toThrow(message);
  });
});

describe('messages', () => {
  it('parses events and snapshots', () => {
    const peer = { publicKey: KEY, allowedIps: ['10.0.0.2/32'], endpoint: '192.0.2.1:51820' };
    expect(parsePeerEvent({ type: 'upsert', revision: 3, peer })).toEqual({ type: 'upsert', revision: 3, peer });
    expect(parsePeerEvent({ type: 'remove', revision: 4, peer: { publicKey: KEY } })).toEqual({ type: 'remove', revision: 4, peer: { publicKey: KEY } });
    expect(parsePeerSnapshot({ revision: 4, peers: [peer], nextCursor: null }).peers).toHaveLength(1);
    expect(parseSnapshotRequest(undefined)).toEqual({});
    expect(() => parsePeerEvent({ type: 'upsert', revision: 0, peer })).toThrow(/revision/);
    expect(() => parsePeerEvent({ type: 'delete', revision: 1, peer })).toThrow(/type: must be one of/);
    expect(() => parseSnapshotRequest({ limit: 1e6 })).toThrow(/limit/);
  });

  it('bounds and checks JSON bodies', () => {
    expect(() => decodeJson('{', parsePeerEvent)).toThrow(/not valid JSON/);
    expect(() => decodeJson('x'.repeat(2_000_000), parsePeerEvent)).toThrow(/more than/);
    expect(decodeJson(Buffer.from('{}'), parseSnapshotRequest)).toEqual({});
  });
});

describe('dataplane and enrolment messages', () => {
  it('parses an apply request and refuses bad ones', () => {
    expect(parseDataplaneApplyRequest({ peers: [{ publicKey: KEY, endpoint: null, allowedIps: ['10.99.0.2'] }], replace: true })).toEqual({
      peers: [{ publicKey: KEY, endpoint: null, allowedIps: ['10.99.0.2/32'] }],
      replace: true,
    });
    expect(() => parseDataplaneApplyRequest({ peers: [] })).toThrow(/replace: must be true or false/);
    expect(() => parseDataplaneApplyRequest({ peers: [{ publicKey: KEY, endpoint: '::1:5', allowedIps: [] }], replace: false })).toThrow(/peers\[0\].endpoint/);
    expect(() => parseDataplaneApplyRequest({ peers: [], replace: false, remove: ['x'] })).toThrow(/remove\[0\]/);
  });

  it('parses punches in an apply request and refuses bad ones', () => {
    const punch = { publicKey: KEY, endpoints: ['198.51.100.1:30001', '198.51.100.1:30002'], allowedIps: [], persistentKeepalive: 25 };
    expect(parseDataplaneApplyRequest({ peers: [], replace: false, punch: [punch] }).punch).toEqual([punch]);
    const bad = (p: object) => () => parseDataplaneApplyRequest({ peers: [], replace: false, punch: [{ ...punch, ...p }] });
    expect(bad({ endpoints: [] })).toThrow(/punch\[0\].endpoints: must name at least one endpoint/);
    expect(bad({ endpoints: Array(17).fill('198.51.100.1:1') })).toThrow(/punch\[0\].endpoints/);
    expect(bad({ endpoints: ['127.0.0.1:5'] })).toThrow(/punch\[0\].endpoints\[0\]: must not be a loopback/);
    expect(bad({ persistentKeepalive: 0 })).toThrow(/punch\[0\].persistentKeepalive/);
    expect(bad({ allowedIps: ['10.0.0.300/32'] })).toThrow(/punch\[0\].allowedIps\[0\]/);
  });

  const proof = { id: 'ab'.repeat(32), sig: `${'A'.repeat(86)}==` };
  const possession = { at: 1_765_000_000_000, nonce: `${'B'.repeat(22)}==`, mac: `${'C'.repeat(43)}=` };

  it('parses enrolment: both proofs, a valid unreserved node id', () => {
    const req = { publicKey: KEY, name: 'site-a', proof, possession };
    expect(parseEnrollRequest(req)).toEqual(req);
    expect(() => parseEnrollRequest({ ...req, name: 'Bad Name' })).toThrow(/name: must be 1-63 lowercase/);
    expect(() => parseEnrollRequest({ ...req, possession: undefined })).toThrow(/possession: must be a JSON object/);
    expect(() => parseEnrollRequest({ ...req, possession: { ...possession, mac: 'x' } })).toThrow(/possession.mac: must be a base64 HMAC-SHA256/);
    expect(() => parseEnrollRequest({ ...req, possession: { ...possession, nonce: 'x' } })).toThrow(/possession.nonce/);
    expect(() => parseEnrollRequest({ ...req, possession: { ...possession, at: -1 } })).toThrow(/possession.at/);
  });

  it('refuses the raw token, naming it, whatever else the request holds', () => {
    expect(() => parseEnrollRequest({ publicKey: KEY, name: 'site-a', token: 'wgm_x' })).toThrow(/^token: the raw token is never accepted/);
    expect(() => parseEnrollRequest({ publicKey: KEY, name: 'site-a', proof, possession, token: 'wgm_x' })).toThrow(/^token: the raw token is never accepted/);
  });

  it.each([
    ['registry', /name: "registry" is reserved: it is the registry's own node id/],
    ['enroll', /name: "enroll" is reserved/],
    ['system', /name: "system" is reserved/],
    ['registry-b', /names starting with "registry-" are the node ids of a mesh's further registries/],
  ])('refuses the reserved node id %p, naming the rule', (name, message) => {
    expect(() => parseEnrollRequest({ publicKey: KEY, name, proof, possession })).toThrow(message);
    expect(() => parseNodeId(name, 'node')).toThrow(ContractError);
  });

  it('reserves a registry node id given at run time too', () => {
    expect(parseNodeId('hub', 'name')).toBe('hub');
    expect(() => parseNodeId('hub', 'name', ['hub'])).toThrow(/name: "hub" is reserved: it is this registry's own node id/);
  });

  it('parses credential renewal', () => {
    const natsKey = `U${'A'.repeat(55)}`;
    expect(parseCredentialRequest({ natsKey })).toEqual({ natsKey });
    expect(() => parseCredentialRequest({ natsKey: 'x' })).toThrow(/natsKey: must be a NATS user public key/);
    expect(parseCredentialReply({ natsJwt: 'a.b.c' })).toEqual({ natsJwt: 'a.b.c' });
    expect(() => parseCredentialReply({ natsJwt: 'a.b' })).toThrow(/natsJwt: must be a JWT/);
    expect(subjectFor(Patterns.credential, { mesh: 'prod', node: 'site-a' })).toBe('wgmesh.v1.prod.node.site-a.credential');
  });

  it('parses the enrolment reply', () => {
    const reply = { address: '10.99.0.5/32', meshCidr: '10.99.0.0/16', registry: { publicKey: KEY, endpoint: '203.0.113.1:51820', address: '10.99.0.1' } };
    expect(parseEnrollReply(reply)).toEqual(reply);
    expect(() => parseEnrollReply({ ...reply, registry: { ...reply.registry, address: 'x' } })).toThrow(/registry.address/);
  });
});

describe('member control messages', () => {
  it('parses connect and member removal', () => {
    expect(subjectFor(Patterns.connect, { mesh: 'prod', node: 'site-a' })).toBe('wgmesh.v1.prod.node.site-a.connect');
    expect(subjectFor(Patterns.memberRemove, { mesh: 'prod' })).toBe('wgmesh.v1.prod.members.remove');
    expect(parseConnectRequest({ targets: [KEY, '10.99.0.5', 'site-b'] })).toEqual({ targets: [KEY, '10.99.0.5', 'site-b'] });
    expect(parseConnectRequest({ targets: [], all: true })).toEqual({ targets: [], all: true });
    expect(() => parseConnectRequest({ targets: [] })).toThrow(/at least one/);
    expect(() => parseConnectRequest({ targets: ['a b'] })).toThrow(/targets\[0\]/);
    expect(() => parseConnectRequest({ targets: ['x'], remove: 'yes' })).toThrow(/remove: must be true or false/);
    expect(parseConnectReply({ mode: 'on-demand', targets: ['site-b'], peers: [KEY] }).peers).toEqual([KEY]);
    expect(parseMemberRemoveRequest({ member: 'site-b' })).toEqual({ member: 'site-b' });
    expect(parseMemberRemoveReply({ publicKey: KEY, name: null, address: '10.99.0.5' }).address).toBe('10.99.0.5');
  });

  it('parses device state and apply results', () => {
    const peer = { publicKey: KEY, endpoint: '127.0.0.1:51820', allowedIps: ['10.99.0.2/32'], latestHandshake: 0, rxBytes: 1, txBytes: 2, persistentKeepalive: 25 };
    const state = { node: 'site-a', driver: 'uapi', device: 'wg0', publicKey: KEY, listenPort: 51820, peers: [peer], at: 1 };
    expect(parseDataplaneState(state)).toEqual(state); // a device may report any endpoint (a dataplane.state.get reply)
    expect(() => parseDataplaneState({ ...state, driver: 'ebpf' })).toThrow(/driver: must be one of/);
    expect(() => parseDataplaneState({ ...state, peers: [{ ...peer, rxBytes: -1 }] })).toThrow(/peers\[0\].rxBytes/);
    expect(parseDataplaneApplyResult({ added: 1, updated: 0, removed: 0, unchanged: 3, durationMs: 1.5 })).toEqual({ added: 1, updated: 0, removed: 0, unchanged: 3, durationMs: 1.5 });
    expect(() => parseDataplaneApplyResult({ added: 1, updated: 0, removed: 0, unchanged: 3, durationMs: -1 })).toThrow(/durationMs/);
  });
});

describe('NAT reports and path decisions', () => {
  const KEY = Buffer.alloc(32, 7).toString('base64');
  const report = { node: 'site-a', publicKey: KEY, nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'unknown', mappedAddress: '198.51.100.7:40000', server: '203.0.113.1:3478', method: 'RFC 5780 tests I-III', at: 1 };
  const decision = { peer: KEY, peerName: 'b', path: 'relayed', attempt: false, reason: 'relayed: both endpoint-dependent', retryAt: null, since: 5 };

  it('accepts valid messages as they are', () => {
    expect(parseNatReport(report)).toEqual(report);
    expect(parsePathReport({ node: 'site-a', publicKey: KEY, nat: 'eim', decisions: [decision], at: 9 }).decisions).toEqual([decision]);
  });

  it.each([
    [{ ...report, nat: 'full-cone' }, /^nat: must be one of/],
    [{ ...report, mappedAddress: '198.51.100.7' }, /^mappedAddress: /],
    [{ ...report, node: 'Site A' }, /^node: /],
    [{ ...report, extra: 1 }, /^extra: is not a known field/],
  ])('refuses a bad NAT report (%#)', (value, error) => {
    expect(() => parseNatReport(value)).toThrow(error);
  });

  it.each([
    [{ ...decision, path: 'direct', attempt: true }, /attempt: can only be true on a relayed path/],
    [{ ...decision, attempt: 'yes' }, /attempt: must be true or false/],
    [{ ...decision, retryAt: -1 }, /retryAt: must be an integer/],
    [{ ...decision, peer: 'x' }, /peer: must be a WireGuard public key/],
  ])('refuses a bad path decision (%#)', (value, error) => {
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'eim', decisions: [value], at: 1 })).toThrow(error);
  });

  it('takes a port step, techniques and counters', () => {
    expect(parseNatReport({ ...report, portStep: 1 }).portStep).toBe(1);
    expect(() => parseNatReport({ ...report, portStep: 0 })).toThrow(/^portStep: must not be 0/);
    expect(() => parseNatReport({ ...report, portStep: 65 })).toThrow(/^portStep: /);
    const counts = { attempts: 2, successes: 1, failures: 0 };
    const techniques = { direct: counts, punch: counts, prediction: counts };
    const r = parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [{ ...decision, attempt: true, technique: 'prediction' }], techniques, at: 1 });
    expect(r.decisions[0].technique).toBe('prediction');
    expect(r.techniques).toEqual(techniques);
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [{ ...decision, technique: 'magic' }], at: 1 })).toThrow(/decisions\[0\].technique: must be one of/);
    expect(parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [{ ...decision, cause: 'no-handshake', why: 'eim-edm' }], at: 1 }).decisions[0]).toMatchObject({ cause: 'no-handshake', why: 'eim-edm' });
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [{ ...decision, cause: 'luck' }], at: 1 })).toThrow(/decisions\[0\].cause: must be one of/);
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [{ ...decision, why: 'vibes' }], at: 1 })).toThrow(/decisions\[0\].why: must be one of/);
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [], techniques: { ...techniques, relay: counts }, at: 1 })).toThrow(/techniques.relay: is not a known field/);
    expect(() => parsePathReport({ node: 'a', publicKey: KEY, nat: 'edm', decisions: [], techniques: { ...techniques, punch: { ...counts, failures: -1 } }, at: 1 })).toThrow(/techniques.punch.failures/);
  });

  it('takes a paths.get request for the whole report or for one peer', () => {
    expect(parsePathsGetRequest({})).toEqual({});
    expect(parsePathsGetRequest({ peer: KEY })).toEqual({ peer: KEY });
    expect(() => parsePathsGetRequest({ peer: 'x' })).toThrow(/^peer: must be a WireGuard public key/);
    expect(() => parsePathsGetRequest({ peers: [KEY] })).toThrow(/^peers: is not a known field/);
  });

  describe('punch messages', () => {
    const OTHER = Buffer.alloc(32, 8).toString('base64');
    const offer = { kind: 'offer', from: KEY, to: OTHER, id: 'p-1', candidates: ['198.51.100.7:30001', '198.51.100.7:30002'], predicted: true, decision: { ...decision, attempt: true, technique: 'punch' }, at: 3 };
    const answer = { kind: 'answer', from: OTHER, to: KEY, id: 'p-1', candidates: ['203.0.113.9:51820'], predicted: false, at: 4 };

    it('accepts offers, answers and refusals', () => {
      expect(parsePunchMessage(offer)).toEqual(offer);
      expect(parsePunchMessage(answer)).toEqual(answer);
      expect(parsePunchMessage({ ...answer, candidates: [], refused: 'a direct session is up' }).refused).toBe('a direct session is up');
      expect(subjectFor(Patterns.punch, { mesh: 'prod', node: 'a', from: 'b' })).toBe('wgmesh.v1.prod.node.a.punch.b');
      // A newer sender's extra optional field does not make the message refused (rolling upgrades).
      expect(parsePunchMessage({ ...answer, hint: 'new' })).toEqual(answer);
    });

    it.each([
      [{ ...offer, to: KEY }, /^to: must not be the sender/],
      [{ ...offer, id: 'a b' }, /^id: must be 1-64 characters/],
      [{ ...offer, candidates: ['198.51.100.7:1', '198.51.100.8:2'] }, /^candidates: must all have the same address/],
      [{ ...offer, candidates: [] }, /^candidates: must name at least one endpoint/],
      [{ ...offer, candidates: ['224.0.0.1:5'] }, /^candidates\[0\]: must not be/],
      [{ ...offer, refused: 'no' }, /^refused: only an answer can refuse/],
      [{ ...answer, decision }, /^decision: only an offer carries a decision/],
      [{ ...offer, predicted: 1 }, /^predicted: must be true or false/],
      [{ ...offer, kind: 'hello' }, /^kind: must be one of/],
    ])('refuses a bad punch message (%#)', (value, error) => {
      expect(() => parsePunchMessage(value)).toThrow(error);
    });
  });

  it('reads the node out of a node subject', () => {
    expect(nodeOfSubject('wgmesh.v1.prod.node.site-a.nat', 'prod')).toBe('site-a');
    expect(nodeOfSubject('wgmesh.v1.prod.node.*.nat', 'prod')).toBeNull();
    expect(nodeOfSubject('wgmesh.v1.other.node.site-a.nat', 'prod')).toBeNull();
    expect(nodeOfSubject('wgmesh.v1.prod.peers.events', 'prod')).toBeNull();
    expect(subjectFor(Patterns.paths, { mesh: 'prod', node: 'a' })).toBe('wgmesh.v1.prod.node.a.paths');
  });
});
