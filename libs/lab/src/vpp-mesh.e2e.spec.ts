import { describeWithVpp } from '@wgmesh/vpp-live';
import { Lab } from './lab';
import { Mesh, missingMeshTools, startMesh } from './mesh';
import { byPair } from './pair-checks';
import { missingRequirements } from './requirements';

/**
 * A mixed mesh: VPP and wireguard-go members behind eim and edm NATs, with a VPP registry (VPP
 * owning each VPP node's uplink, the host reaching the mesh through it). It must converge as the
 * wireguard-go mesh does: every pair that can be direct is direct in fact (the pair table checks
 * both ways of a VPP pair by the replies' TTL: through the registry is one router more), the rest
 * relayed with the reason.
 *   a (eim, vpp) – b (eim)       direct: a punch between a VPP and a wireguard-go member
 *   a – c (edm, vpp), b – c      relayed once the attempt fails (c's ports are random)
 *   a – d, b – d, c – d (public, vpp)   direct (c's real port comes with its handshake)
 * Skipped, with the reason, where no VPP is installed.
 */
const problems = [...missingRequirements(), ...missingMeshTools()];
const report = (line: string) => process.stderr.write(`vpp mesh e2e: ${line}\n`);

describeWithVpp('a mixed mesh: VPP and wireguard-go members behind eim and edm NATs, a VPP registry', () => {
  let lab: Lab;
  let mesh: Mesh;

  beforeAll(async () => {
    if (problems.length > 0) throw new Error(`cannot run the lab here:\n  ${problems.join('\n  ')}`);
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim', dataplane: 'vpp' },
        { name: 'b', nat: 'eim' },
        { name: 'c', nat: 'edm', dataplane: 'vpp' },
        { name: 'd', nat: 'public', dataplane: 'vpp' },
      ],
      registryDataplane: 'vpp',
    });
    mesh = await startMesh(lab, { natIntervalS: 3 });
  }, 90_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('converges like the wireguard-go mesh: direct where it can be, in fact, relayed otherwise with the reason', async () => {
    const { rows, convergeMs } = await mesh.waitForPaths({ timeoutMs: 60_000, until: (r) => !r.attempt });
    report(`every pair settled ${convergeMs} ms after the last enrolment`);
    const t = byPair(rows);
    const direct = ['a-b', 'a-d', 'b-d', 'c-d'];
    for (const pair of Object.keys(t)) {
      const want = direct.includes(pair) ? 'direct' : 'relayed';
      // settled: both ends apply it, and the pings went that way (VPP pairs: both ways, by TTL)
      expect({ pair, path: t[pair].path, observed: t[pair].observed, settled: t[pair].settled }).toEqual({ pair, path: want, observed: want, settled: true });
    }
    expect(t['a-b'].reason).toMatch(/^direct: both endpoint-independent \(decided by [ab]\)$/);
    expect(t['a-c'].reason).toMatch(/^relayed: no handshake in 10s on direct \(punched: .+\), retry at .+ \(decided by [ac]\)$/);
    expect(t['c-d'].reason).toMatch(/^direct: d has a public address \(decided by [cd]\)$/);
  }, 90_000);
});
