import { describeE2E } from '@wgmesh/testing';
import { Lab } from './lab';
import { Mesh, missingMeshTools, startMesh } from './mesh';
import { byPair, pairChecks } from './pair-checks';
import { missingRequirements } from './requirements';

/**
 * Port prediction in the lab: members behind NATs that hand out ports in sequence (seq: every new
 * UDP flow gets the next port) are endpoint-dependent, yet go direct: nat-probe measures the step,
 * and the pair's leader punches at the ports the NAT will hand out next.
 *   a eim, b seq, c seq, d edm (random ports, MASQUERADE --random-fully)
 *   a-b, a-c   eim + seq: the seq side's next port is predicted, the eim side opens its NAT to it
 *   b-c        seq + seq: both sides predicted, their sprays line up port by port
 *   *-d        random ports: nothing to predict: relayed after the attempt
 */
const DEADLINE_S = 5;
const problems = [...missingRequirements(), ...missingMeshTools()];
const report = (line: string) => process.stderr.write(`port-prediction e2e: ${line}\n`);

describeE2E('port prediction in a lab: a eim, b and c behind sequential NATs, d behind a random one', problems, () => {
  let lab: Lab;
  let mesh: Mesh;
  const { history, leaderOf, expectTunnels } = pairChecks(() => lab, () => mesh);

  beforeAll(async () => {
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'seq' },
        { name: 'c', nat: 'seq' },
        { name: 'd', nat: 'edm' },
      ],
    });
    mesh = await startMesh(lab, { pathDeadlineS: DEADLINE_S });
  }, 60_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('measures the sequential NATs, goes direct through them by port prediction, relays what cannot be predicted, and counts it', async () => {
    const { rows, convergeMs, settledAt } = await mesh.waitForPaths({ timeoutMs: 40_000, until: (r) => !r.attempt });
    const lastEnrolled = Math.max(...['a', 'b', 'c', 'd'].map((n) => mesh.member(n).enrolledAt));
    report(`settled ${convergeMs} ms after the last enrolment; direct by prediction: ${['a-b', 'a-c', 'b-c'].map((p) => `${p} ${settledAt[p] - lastEnrolled} ms`).join(', ')}`);

    const nat = mesh.paths.natReports();
    expect(['a', 'b', 'c', 'd'].map((n) => [nat.get(n)?.nat, nat.get(n)?.portStep])).toEqual([['eim', undefined], ['edm', 1], ['edm', 1], ['edm', undefined]]);

    const t = byPair(rows);
    for (const pair of ['a-b', 'a-c', 'b-c']) {
      expect({ pair, path: t[pair].path, attempt: t[pair].attempt, ...(t[pair].path === 'direct' ? {} : { reason: t[pair].reason }) }).toEqual({ pair, path: 'direct', attempt: false });
      expect(t[pair].reason).toMatch(/^direct: handshake on a direct attempt \(.+; port prediction: .+predicted ports \d+-\d+.*\) \(decided by [abc]\)$/);
      const [x, y] = pair.split('-');
      // The leader's decision carries the technique: the endpoints are the ones the punch found.
      expect(history(x, y).at(-1)).toMatchObject({ path: 'direct', technique: 'prediction' });
    }
    expect(t['b-c'].reason).toMatch(/both endpoint-dependent, . allocates ports sequentially \(step \+1\)/);
    const failedAttempt = /^relayed: no handshake in 5s on direct \((punched|port prediction): .*d at its registry-observed endpoint.*\), retry at /;
    for (const pair of ['a-d', 'b-d', 'c-d']) {
      expect({ pair, path: t[pair].path, attempt: t[pair].attempt }).toEqual({ pair, path: 'relayed', attempt: false });
      // A seq leader tries (its own ports predicted, d's random); d leading a seq pair does not.
      const seqPair = pair !== 'a-d' && leaderOf(pair[0], 'd') === 'd';
      expect(t[pair].reason).toMatch(seqPair ? /^relayed: both endpoint-dependent \(decided by d\)$/ : failedAttempt);
    }

    // Counters per technique, from the leaders' path reports: three predictions succeeded.
    const reports = mesh.paths.reports();
    const sum = (technique: 'direct' | 'punch' | 'prediction', field: 'attempts' | 'successes' | 'failures') =>
      [...reports.values()].reduce((n, r) => n + (r.techniques?.[technique][field] ?? 0), 0);
    expect(sum('prediction', 'successes')).toBeGreaterThanOrEqual(3);
    report(
      `techniques: prediction ${sum('prediction', 'successes')}/${sum('prediction', 'attempts')} succeeded, punch ${sum('punch', 'successes')}/${sum('punch', 'attempts')}, ` +
        `direct ${sum('direct', 'successes')}/${sum('direct', 'attempts')}; leaders a-b ${leaderOf('a', 'b')}, a-c ${leaderOf('a', 'c')}, b-c ${leaderOf('b', 'c')}`,
    );
    await expectTunnels(rows);
  });
});
