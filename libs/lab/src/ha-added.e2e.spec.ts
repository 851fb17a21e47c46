import { describeE2E, waitFor } from '@wgmesh/testing';
import { Lab } from './lab';
import { Mesh, MESH, missingMeshTools, startMesh } from './mesh';
import { missingRequirements } from './requirements';

/**
 * High availability (issue 15), in the lab with real wireguard-go: a registry added to a running
 * mesh. Members a (eim NAT) and b (edm NAT: a-b is relayed) enrol while only the first registry
 * host runs ("registry"; the lab has a second, "registry2", and the three-node NATS cluster). Then
 * the second registry starts; without restarting `member up`:
 * - each member puts it on its device (its endpoint, its own /32), the first still carrying the
 *   mesh CIDR, and says so in its log;
 * - the first registry host killed entirely, each member moves the mesh CIDR to the second, and
 *   the relayed pair a-b answers again through it.
 */
const problems = [...missingRequirements(), ...missingMeshTools()];
const report = (line: string) => process.stderr.write(`ha-added e2e: ${line}\n`);
const RESUME_BOUND_MS = 30_000;

describeE2E('high availability: a registry added to a running mesh', problems, () => {
  let lab: Lab;
  let mesh: Mesh;

  beforeAll(async () => {
    lab = await Lab.up({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'edm' }], registries: 2 });
    mesh = await startMesh(lab, { members: ['a', 'b'], registries: ['registry'], natIntervalS: 3, startTimeoutMs: 60_000 });
    await mesh.waitForPaths({ timeoutMs: 60_000 });
  }, 180_000);
  afterAll(async () => {
    await mesh?.down();
    await lab?.down();
  }, 60_000);

  it('members peer with a registry added after they enrolled, and move the mesh CIDR to it when the first dies', async () => {
    const r1 = mesh.registryOf('registry');
    for (const n of ['a', 'b']) expect([...(await mesh.devicePeers(n)).values()].filter((p) => p.allowedIps.includes(MESH.cidr)).map((p) => p.publicKey)).toEqual([r1.publicKey]);
    expect((await lab.ping('a', mesh.member('b').address, { count: 3, timeoutMs: 2000 })).received).toBeGreaterThan(0);

    const addedAt = Date.now();
    await mesh.startRegistry('registry2');
    const r2 = mesh.registryOf('registry2');
    await waitFor('every member to peer with registry2 (its own address)', async () => {
      for (const n of ['a', 'b']) {
        const peers = await mesh.devicePeers(n);
        if (peers.get(r2.publicKey)?.allowedIps.join() !== `${r2.address}/32` || peers.get(r1.publicKey)?.allowedIps.join() !== MESH.cidr) return false;
      }
      return true;
    }, 20_000, 100);
    report(`both members peer with registry2 ${Date.now() - addedAt} ms after its "registry up" began`);
    for (const n of ['a', 'b']) expect(mesh.member(n).log.messages('registry peers changed').length).toBeGreaterThan(0);
    // It answers (the hub's keepalives reach the member) before the first one dies.
    await waitFor('registry2 to answer each member', async () => {
      for (const n of ['a', 'b']) if (!((await mesh.devicePeers(n)).get(r2.publicKey)?.rxBytes ?? 0)) return false;
      return true;
    }, 20_000, 200);

    const killedAt = Date.now();
    await mesh.killRegistryHost('registry');
    await waitFor('every member to route the mesh CIDR through registry2', async () => {
      for (const n of ['a', 'b']) if ((await mesh.devicePeers(n)).get(r2.publicKey)?.allowedIps.join() !== MESH.cidr) return false;
      return true;
    }, 20_000, 100);
    const movedMs = Date.now() - killedAt;
    let resumeMs = Infinity;
    while (Date.now() - killedAt < RESUME_BOUND_MS + 10_000) {
      if ((await lab.ping('a', mesh.member('b').address, { count: 1, timeoutMs: 500 })).received === 1) {
        resumeMs = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    report(`registry host killed: the mesh CIDR on registry2 at every member after ${movedMs} ms; relayed a → b answered after ${resumeMs} ms`);
    expect(resumeMs).toBeLessThan(RESUME_BOUND_MS);
  }, 180_000);
});
