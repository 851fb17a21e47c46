import { ACCESS, memberSubjects } from './access';
import { MAX_PATH_DECISIONS, parseAddressedPathReport, parsePathDecision, parsePathReport, parsePathsGetRequest, parsePathUpdate, PathDecision, PathReport, PathReportView, PATHS_PAGE_MAX, PathsGetRequest, PathUpdate, readPathReport } from './nat';
import { isAddressed, matchSubject, Patterns, senderOfSubject, subjectFor } from './subjects';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const A = key(1);
const B = key(2);
const C = key(3);
const decision = (peer: string, reason = 'direct: both endpoint-independent'): PathDecision => ({ peer, peerName: 'x', path: 'direct', attempt: false, reason, retryAt: null, since: 5 });

describe('addressed subjects (node.{node}.….{from})', () => {
  it('spell the receiver and the sender, each one token (or "*")', () => {
    expect(subjectFor(Patterns.pathsTo, { mesh: 'prod', node: 'b', from: 'a' })).toBe('wgmesh.v1.prod.node.b.paths.from.a');
    expect(subjectFor(Patterns.punch, { mesh: 'prod', node: '*', from: 'a' })).toBe('wgmesh.v1.prod.node.*.punch.a');
    expect(subjectFor(Patterns.punch, { mesh: 'prod', node: 'b', from: '*' })).toBe('wgmesh.v1.prod.node.b.punch.*');
    expect(() => subjectFor(Patterns.punch, { mesh: 'prod', node: 'b' })).toThrow(/^from: /);
    expect(() => subjectFor(Patterns.punch, { mesh: 'prod', node: 'b', from: 'a.c' })).toThrow(/^from: /);
    expect(() => subjectFor(Patterns.punch, { mesh: 'prod', node: 'b', from: '>' })).toThrow(/^from: /);
    expect(isAddressed(Patterns.punch)).toBe(true);
    expect(isAddressed(Patterns.pathsTo)).toBe(true);
    expect(isAddressed(Patterns.paths)).toBe(false);
  });

  it('read the receiver and the sender back out of a subject of that pattern only', () => {
    expect(matchSubject(Patterns.pathsTo, 'wgmesh.v1.prod.node.b.paths.from.a', 'prod')).toEqual({ node: 'b', from: 'a' });
    expect(senderOfSubject(Patterns.punch, 'wgmesh.v1.prod.node.b.punch.a', 'prod')).toBe('a');
    expect(senderOfSubject(Patterns.punch, 'wgmesh.v1.prod.node.b.punch.*', 'prod')).toBeNull();
    expect(senderOfSubject(Patterns.punch, 'wgmesh.v1.prod.node.b.punch', 'prod')).toBeNull();
    expect(senderOfSubject(Patterns.punch, 'wgmesh.v1.prod.node.b.punch.a.c', 'prod')).toBeNull();
    expect(senderOfSubject(Patterns.punch, 'wgmesh.v1.other.node.b.punch.a', 'prod')).toBeNull();
    expect(senderOfSubject(Patterns.pathsTo, 'wgmesh.v1.prod.node.b.punch.a', 'prod')).toBeNull();
  });

  it('a member sends addressed messages only as itself and receives only those addressed to it', () => {
    const { publish, subscribe } = memberSubjects('prod', 'a');
    for (const pattern of [Patterns.pathsTo, Patterns.punch]) {
      expect(publish).toContain(subjectFor(pattern, { mesh: 'prod', node: '*', from: 'a' }));
      expect(subscribe).toContain(subjectFor(pattern, { mesh: 'prod', node: 'a', from: '*' }));
      // No permission names another sender, nor lets it receive what is addressed to others.
      expect(publish.filter((s) => matchSubject(pattern, s.replace(/\*/g, 'any'), 'prod') !== null).map((s) => s.split('.').at(-1))).toEqual(['a']);
      expect(subscribe.filter((s) => matchSubject(pattern, s.replace(/\*/g, 'any'), 'prod') !== null).map((s) => s.split('.')[4])).toEqual(['a']);
    }
    // A member follows its own path updates only (the others' decisions about it come addressed).
    expect(subscribe).toContain(subjectFor(Patterns.paths, { mesh: 'prod', node: 'a' }));
    expect(subscribe).not.toContain(subjectFor(Patterns.paths, { mesh: 'prod', node: '*' }));
  });

  it('ACCESS gives addressed patterns the addressed scopes, and the others not', () => {
    for (const [pattern, access] of Object.entries(ACCESS) as Array<[Parameters<typeof isAddressed>[0], (typeof ACCESS)[keyof typeof ACCESS]]>) {
      for (const scope of [access.memberSend, access.memberReceive]) {
        if (scope === undefined) continue;
        expect([pattern, isAddressed(pattern)]).toEqual([pattern, scope === 'from-self' || scope === 'to-self']);
      }
    }
  });
});

describe('path updates, addressed decisions, and the report a consumer holds', () => {
  const report = (decisions: PathDecision[], seq: number, epoch = 100, at = seq + 1000): PathReport => ({ node: 'a', publicKey: A, nat: 'eim', decisions, at, epoch, seq });
  const update = (seq: number, changed: PathDecision[], removed: string[] = [], epoch = 100): PathUpdate => ({ node: 'a', publicKey: A, nat: 'eim', epoch, seq, changed, removed, at: seq + 1000 });

  it('parses updates and refuses contradictory ones', () => {
    const u = update(2, [decision(B)], [C]);
    expect(parsePathUpdate(u)).toEqual(u);
    expect(() => parsePathUpdate({ ...u, seq: 0 })).toThrow(/^seq: /);
    expect(() => parsePathUpdate({ ...u, removed: [B] })).toThrow(/^removed\[0\]: is also in changed/);
    expect(() => parsePathUpdate({ ...u, changed: [decision(B), decision(B)] })).toThrow(/^changed\[1\].peer: has a decision already/);
    expect(() => parsePathUpdate({ ...u, removed: ['x'] })).toThrow(/^removed\[0\]: /);
  });

  it('an addressed decision holds one decision at most', () => {
    expect(parseAddressedPathReport({ node: 'a', publicKey: A, nat: 'eim', decisions: [], at: 1 }).decisions).toEqual([]);
    expect(() => parseAddressedPathReport({ node: 'a', publicKey: A, nat: 'eim', decisions: [decision(B), decision(C)], at: 1 })).toThrow(/^decisions: must hold at most the one/);
  });

  it('ignores fields it does not know in events between members (rolling upgrades), not in known nested records', () => {
    expect(parsePathDecision({ ...decision(B), confidence: 3 }, 'd')).toEqual(decision(B));
    expect(parsePathUpdate({ ...update(1, [{ ...decision(B), x: 1 } as PathDecision]), extra: true })).toEqual(update(1, [decision(B)]));
    expect(parsePathReport({ ...report([], 0), extra: 1 })).toEqual(report([], 0));
    expect(() => parsePathReport({ ...report([], 0), seq: undefined })).toThrow(/^seq: epoch and seq come together/);
  });

  it('applies updates in sequence, and says "gap" for a missed one, another epoch or none held', () => {
    const view = new PathReportView();
    expect(view.update(update(1, [decision(B)]))).toBe('gap'); // nothing held yet: fetch
    expect(view.full(report([decision(B), decision(C)], 3))).toBe(true);
    expect(view.update(update(3, [decision(B, 'old')]))).toBe('stale'); // included already
    expect(view.update(update(4, [decision(B, 'relayed: no handshake')], [C]))).toBe('applied');
    expect(view.report).toMatchObject({ seq: 4, decisions: [decision(B, 'relayed: no handshake')] });
    expect(view.update(update(6, [decision(C)]))).toBe('gap'); // 5 was missed
    expect(view.full(report([decision(B)], 2))).toBe(false); // an older reply that crossed an update
    expect(view.update(update(1, [decision(C)], [], 200))).toBe('gap'); // nat-probe restarted
    expect(view.full(report([decision(C)], 0, 200))).toBe(true);
    expect(view.update(update(9, [], [], 100))).toBe('stale'); // the previous run's
    expect(view.update({ ...update(1, [decision(B)], [], 200), publicKey: B })).toBe('gap'); // not the key held
  });

  it('a whole report of MAX_PATH_DECISIONS decisions parses, and is rebuilt from updates', () => {
    const keys = Array.from({ length: MAX_PATH_DECISIONS }, (_, i) => Buffer.alloc(32, 0).fill(i % 256, 0, 1).fill(Math.floor(i / 256), 1, 2).toString('base64'));
    const all = keys.map((k) => decision(k));
    const big = JSON.parse(JSON.stringify(report(all, 7))) as unknown;
    const parsed = parsePathReport(big);
    expect(parsed.decisions).toHaveLength(MAX_PATH_DECISIONS);
    expect(() => parsePathReport({ ...report([...all, decision(A)], 7) })).toThrow(/^decisions: /);
    const view = new PathReportView();
    view.full(parsed);
    expect(view.update(update(8, [decision(keys[5]!, 'relayed: both endpoint-dependent')], [keys[6]!]))).toBe('applied');
    expect(view.report!.decisions).toHaveLength(MAX_PATH_DECISIONS - 1);
    expect(view.report!.decisions.find((d) => d.peer === keys[5])!.reason).toBe('relayed: both endpoint-dependent');
  });
});

describe('paged paths.get (a reply must fit one NATS message)', () => {
  const keys = [A, B, C].sort();
  const report = (decisions: PathDecision[], seq: number, epoch = 100): PathReport => ({ node: 'a', publicKey: A, nat: 'eim', decisions, at: seq, epoch, seq });

  it('parses page requests', () => {
    expect(parsePathsGetRequest({ after: B, limit: 5 })).toEqual({ after: B, limit: 5 });
    expect(() => parsePathsGetRequest({ limit: PATHS_PAGE_MAX + 1 })).toThrow(/^limit: /);
    expect(() => parsePathsGetRequest({ peer: B, after: C })).toThrow(/^peer: asks for one decision/);
    expect(parsePathReport({ ...report([], 1), next: B }).next).toBe(B);
  });

  it('puts the pages together, with the first page seq (updates after it are applied again harmlessly)', async () => {
    const asked: PathsGetRequest[] = [];
    const pages = [{ ...report([decision(keys[0]!)], 5), next: keys[0]! }, { ...report([decision(keys[1]!, 'changed since')], 7), next: keys[1]! }, report([decision(keys[2]!)], 7)];
    const whole = await readPathReport(async (req) => {
      asked.push(req);
      return pages[asked.length - 1]!;
    });
    expect(asked).toEqual([{ limit: PATHS_PAGE_MAX }, { after: keys[0], limit: PATHS_PAGE_MAX }, { after: keys[1], limit: PATHS_PAGE_MAX }]);
    expect(whole.decisions.map((d) => d.peer)).toEqual(keys);
    expect(whole).toMatchObject({ seq: 5, epoch: 100 });
    expect(whole.next).toBeUndefined();
  });

  it('refuses pages from a restarted member', async () => {
    const pages = [{ ...report([decision(keys[0]!)], 5), next: keys[0]! }, report([decision(keys[1]!)], 1, 200)];
    let i = 0;
    await expect(readPathReport(async () => pages[i++]!)).rejects.toThrow(/restarted/);
  });
});
