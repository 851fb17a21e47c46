import type { PathDecision, PeerRecord, PunchMessage } from '@wgmesh/contracts';
import { parsePunchMessage } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import type { StunAddress } from '@wgmesh/stun';
import { NatLock, predictedPorts, PUNCH_CANDIDATES, PUNCH_OFFER_INTERVAL_MS, Puncher, PuncherDeps } from './punch';

// Two Punchers wired back to back through a fake bus (every published message is validated by
// the contract and delivered to the other side with the sender's node), with fake NAT samples
// and sprays. Keys: A < B ("AAA…" < "EEE…"), so A leads the pair.
const A = 'A'.repeat(43) + '=';
const B = 'E'.repeat(43) + '=';
const quiet = createLogger({ service: 'test', level: 'error' });
const decision: PathDecision = { peer: B, peerName: 'b', path: 'relayed', attempt: true, reason: 'relayed while trying direct', retryAt: null, since: 5, technique: 'punch' };

interface Node {
  puncher: Puncher;
  lock: NatLock;
  sprays: Array<{ peer: string; endpoints: string[] }>;
  followed: Array<{ leader: string; decision: PathDecision }>;
  sent: PunchMessage[];
}

function pair(opts: { stepA?: number; stepB?: number; sampleA?: StunAddress | null; sampleB?: StunAddress | null; table?: PeerRecord[]; sprayFailsB?: string; nowB?: () => number; deliver?: (m: PunchMessage, from: string) => boolean } = {}) {
  const table = opts.table ?? [
    { publicKey: A, name: 'a', allowedIps: ['10.99.0.2/32'], endpoint: '198.51.100.11:51820' },
    { publicKey: B, name: 'b', allowedIps: ['10.99.0.3/32'], endpoint: '198.51.100.12:51820' },
  ];
  const nodes: Record<string, Node> = {};
  const make = (key: string, name: string, step: number | undefined, sample: StunAddress | null | undefined, extra: Partial<PuncherDeps> = {}): Node => {
    const n: Node = { puncher: undefined as unknown as Puncher, lock: new NatLock(), sprays: [], followed: [], sent: [] };
    n.puncher = new Puncher({
      self: { publicKey: key, name },
      portStep: () => step,
      sample: async () => sample ?? null,
      spray: async (peer, endpoints) => void n.sprays.push({ peer, endpoints }),
      publish: (m) => {
        const checked = parsePunchMessage(JSON.parse(JSON.stringify(m)));
        n.sent.push(checked);
        const to = Object.values(nodes).find((x) => x !== n)!;
        if (opts.deliver && !opts.deliver(checked, name)) return;
        setImmediate(() => void to.puncher.handle(checked, name));
      },
      peer: (k) => table.find((p) => p.publicKey === k),
      follow: (leader, d) => void n.followed.push({ leader, decision: d }),
      exclusive: (fn) => n.lock.run(fn),
      log: quiet,
      ...extra,
    });
    return n;
  };
  nodes.a = make(A, 'a', opts.stepA, opts.sampleA);
  nodes.b = make(B, 'b', opts.stepB, opts.sampleB, {
    ...(opts.nowB ? { now: opts.nowB } : {}),
    ...(opts.sprayFailsB ? { spray: async () => Promise.reject(new Error(opts.sprayFailsB)) } : {}),
  });
  return nodes as { a: Node; b: Node };
}

describe('Puncher', () => {
  it('eim + sequential: the peer sprays the leader’s endpoint and answers with its predicted ports; the leader sprays those', async () => {
    const { a, b } = pair({ stepB: 1, sampleB: { ip: '198.51.100.12', port: 30000 } });
    const outcome = await a.puncher.lead(B, decision);
    expect(b.followed).toEqual([{ leader: A, decision }]); // before it sprays
    expect(b.sprays).toEqual([{ peer: A, endpoints: ['198.51.100.11:51820'] }]);
    expect(a.sprays).toEqual([{ peer: B, endpoints: ['198.51.100.12:30001', '198.51.100.12:30002', '198.51.100.12:30003', '198.51.100.12:30004', '198.51.100.12:30005'] }]);
    expect(outcome).toEqual({ technique: 'prediction', detail: 'port prediction: a at its registry-observed endpoint, b at predicted ports 30001-30005', aim: '198.51.100.12:30001' });
    expect(a.puncher.counters).toMatchObject({ offersSent: 1, answersReceived: 1 });
    expect(b.puncher.counters).toMatchObject({ offersAnswered: 1 });
  });

  it('sequential + sequential: both sides predict, the sprays line up port by port', async () => {
    const { a, b } = pair({ stepA: 1, sampleA: { ip: '198.51.100.11', port: 40000 }, stepB: 2, sampleB: { ip: '198.51.100.12', port: 30000 } });
    const outcome = await a.puncher.lead(B, decision);
    expect(b.sprays[0].endpoints).toEqual(['198.51.100.11:40001', '198.51.100.11:40002', '198.51.100.11:40003', '198.51.100.11:40004', '198.51.100.11:40005']);
    expect(a.sprays[0].endpoints).toEqual(['198.51.100.12:30002', '198.51.100.12:30004', '198.51.100.12:30006', '198.51.100.12:30008', '198.51.100.12:30010']);
    expect(outcome.technique).toBe('prediction');
    expect(outcome.detail).toBe('port prediction: a at predicted ports 40001-40005 (step +1), b at predicted ports 30002-30010');
  });

  it('no prediction on either side: a plain punch at the registry-observed endpoints', async () => {
    const { a, b } = pair();
    expect(await a.puncher.lead(B, decision)).toEqual({ technique: 'punch', detail: 'punched: a at its registry-observed endpoint, b at its registry-observed endpoint', aim: '198.51.100.12:51820' });
    expect(b.sprays[0].endpoints).toEqual(['198.51.100.11:51820']);
    expect(a.sprays[0].endpoints).toEqual(['198.51.100.12:51820']);
  });

  it('a nudge sends to where the punch left the device aiming, nothing else', async () => {
    const { a, b } = pair({ stepB: 1, sampleB: { ip: '198.51.100.12', port: 30000 } });
    const { aim } = await a.puncher.lead(B, decision);
    await a.puncher.nudge(B, aim!);
    expect(a.sprays.at(-1)).toEqual({ peer: B, endpoints: ['198.51.100.12:30001'] });
    expect(b.sprays).toHaveLength(1);
  });

  it('without an answer the leader punches at the registry-observed endpoint and says so', async () => {
    const { a } = pair({ deliver: () => false });
    const outcome = await a.puncher.lead(B, decision, 50);
    expect(a.sprays).toEqual([{ peer: B, endpoints: ['198.51.100.12:51820'] }]);
    expect(outcome.detail).toBe('punched: a at its registry-observed endpoint, b at its registry-observed endpoint (no answer from b in 50 ms)');
    expect(a.puncher.counters.noAnswer).toBe(1);
  });

  it('a silent STUN server: no prediction, the registry-observed endpoint instead', async () => {
    const { a, b } = pair({ stepB: 1, sampleB: null });
    expect((await a.puncher.lead(B, decision)).technique).toBe('punch');
    expect(b.sent[0]).toMatchObject({ kind: 'answer', candidates: ['198.51.100.12:51820'], predicted: false });
  });

  it('samples and sprays only while it holds the NAT lock (no classification in between)', async () => {
    const { a, b } = pair({ stepB: 1, sampleB: { ip: '198.51.100.12', port: 30000 } });
    let release!: () => void;
    const classifying = b.lock.run(() => new Promise<void>((r) => (release = r)));
    const led = a.puncher.lead(B, decision);
    await new Promise((r) => setTimeout(r, 20));
    expect(b.sprays).toEqual([]); // b waits for its classification to end
    release();
    await classifying;
    expect((await led).technique).toBe('prediction');
    expect(b.sprays).toHaveLength(1);
  });

  it('NatLock runs one holder at a time, in order, and goes on after a failure', async () => {
    const lock = new NatLock();
    const order: string[] = [];
    const slow = (name: string, fail = false) => () => new Promise<string>((res, rej) => setTimeout(() => (order.push(name), fail ? rej(new Error(name)) : res(name)), 5));
    const results = await Promise.allSettled([lock.run(slow('one')), lock.run(slow('two', true)), lock.run(slow('three'))]);
    expect(order).toEqual(['one', 'two', 'three']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('NatLock.acquire holds the lock until released, in turn with run', async () => {
    const lock = new NatLock();
    const order: string[] = [];
    const release = await lock.acquire();
    const after = lock.run(async () => void order.push('run'));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    release();
    release(); // once is enough
    await after;
    expect(order).toEqual(['run']);
  });

  it('predicts within the port range only', () => {
    expect(predictedPorts({ ip: '198.51.100.1', port: 65533 }, 1, PUNCH_CANDIDATES)).toEqual(['198.51.100.1:65534', '198.51.100.1:65535']);
    expect(predictedPorts({ ip: '2001:db8::1', port: 3 }, -1, PUNCH_CANDIDATES)).toEqual(['[2001:db8::1]:2', '[2001:db8::1]:1']);
  });

  describe('offers the peer refuses or drops (nothing sprayed, nothing followed)', () => {
    const offer = (o: Partial<PunchMessage> = {}): PunchMessage => ({ kind: 'offer', from: A, to: B, id: 'x1', candidates: ['198.51.100.11:51820'], predicted: false, decision, at: 1, ...o });

    it.each([
      ['from a node whose enrolled key is another', offer(), 'c', null],
      ['from a key nobody enrolled', offer({ from: 'I'.repeat(43) + '=' }), 'c', null],
    ])('drops an offer %s', async (_what, m, node) => {
      const { b } = pair();
      await b.puncher.handle(m, node);
      expect(b.sprays).toEqual([]);
      expect(b.sent).toEqual([]);
      expect(b.puncher.counters.dropped).toBe(1);
    });

    it.each([
      ['candidates elsewhere than where the registry sees the sender (a reflector)', offer({ candidates: ['203.0.113.77:53'] }), {}, 'candidates are not at 198.51.100.11, where the registry sees the sender'],
      ['from the follower of the pair', { ...offer(), from: B, to: A }, {}, 'the sender does not lead this pair'],
      ['when its own device cannot punch', offer(), { sprayFailsB: 'the VPP API connection was lost during the apply' }, 'cannot punch: the VPP API connection was lost during the apply'],
    ] as const)('refuses an offer %s', async (_what, m, opts, why) => {
      const { a, b } = pair(opts);
      const [target, node] = m.to === B ? [b, 'a'] : [a, 'b'];
      await target.puncher.handle(m, node);
      expect(target.sent).toEqual([expect.objectContaining({ kind: 'answer', refused: why, candidates: [] })]);
      expect(target.sprays).toEqual([]);
    });

    it('takes one offer per leader per interval', async () => {
      let t = 1000;
      const { b } = pair({ nowB: () => t });
      await b.puncher.handle(offer({ id: 'one' }), 'a');
      await b.puncher.handle(offer({ id: 'two' }), 'a');
      t += PUNCH_OFFER_INTERVAL_MS;
      await b.puncher.handle(offer({ id: 'three' }), 'a');
      expect(b.sent.map((m) => [m.id, m.refused ?? 'ok'])).toEqual([['one', 'ok'], ['two', 'too many offers'], ['three', 'ok']]);
    });

    it('ignores what is for another member, and an answer to no offer of its own', async () => {
      const { b } = pair();
      await b.puncher.handle(offer({ to: 'I'.repeat(43) + '=' }), 'a');
      await b.puncher.handle({ ...offer(), kind: 'answer', decision: undefined }, 'a');
      expect(b.sent).toEqual([]);
      expect(b.puncher.counters.dropped).toBe(1); // the stray answer
    });
  });
});
