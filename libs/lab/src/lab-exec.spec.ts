import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError, LabSpecError } from './errors';
import type { LabStatus } from './lab';
import { execTarget, hostEnv } from './lab-exec';
import { planLab } from './plan';

/** A lab's status as `Lab.list` gives it, for a spec of members. */
function status(id: string, present = true): LabStatus {
  const plan = planLab({ members: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'public' }] }, id);
  return { id, createdAt: '', stateFile: '', detached: true, owner: { pid: 1, alive: false }, hosts: plan.hosts.map((h) => ({ ...h, present })), processes: [], devices: [] };
}

describe('lab exec: which lab and host, and their environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-lab-exec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the only lab when none is named, and needs a name among several', () => {
    expect(execTarget(['a'], [status('k1')])).toMatchObject({ lab: { id: 'k1' }, host: 'a' });
    expect(execTarget(['k2', 'registry'], [status('k1'), status('k2')])).toMatchObject({ lab: { id: 'k2' }, host: 'registry' });
    expect(() => execTarget(['a'], [status('k1'), status('k2')])).toThrow(new LabSpecError('2 labs run (k1, k2): name one, wgmesh lab exec <lab-id> a -- …'));
    expect(() => execTarget(['a'], [])).toThrow(LabError);
    expect(() => execTarget(['k9', 'a'], [status('k1')])).toThrow(/^no lab k9 \(running: k1\)/);
    expect(() => execTarget([], [status('k1')])).toThrow(LabSpecError);
  });

  it('runs wgmesh on the registry and members only, in namespaces that are there', () => {
    expect(() => execTarget(['nat-a'], [status('k1')])).toThrow(new LabSpecError('lab k1 has no host "nat-a" that runs wgmesh: registry, a, b'));
    expect(() => execTarget(['zz'], [status('k1')])).toThrow(LabSpecError);
    expect(() => execTarget(['a'], [status('k1', false)])).toThrow(/the namespace of a \(wgl-k1-a\) is gone/);
  });

  it("gives a member its state directory, the registry its credential and Redis password from the lab's files", () => {
    expect(hostEnv(dir, 'a')).toEqual({ WGMESH_STATE_DIR: join(dir, 'members', 'a') });
    expect(() => hostEnv(dir, 'registry')).toThrow(/Redis ACL file .* is missing/);
    mkdirSync(join(dir, 'redis'));
    writeFileSync(join(dir, 'redis', 'users.acl'), 'user default off\nuser wgmesh-registry on >s3cret ~wgmesh:* +@read\n');
    expect(hostEnv(dir, 'registry')).toEqual({
      WGMESH_STATE_DIR: join(dir, 'registry'),
      WGMESH_MESH: 'lab',
      WGMESH_NATS_URL: 'nats://127.0.0.1:4222',
      WGMESH_NATS_CREDS: join(dir, 'registry', 'nats', 'registry.creds'),
      WGMESH_REDIS_URL: 'redis://wgmesh-registry:s3cret@127.0.0.1:6379',
    });
  });
});
