import { ACCESS, Patterns } from '@wgmesh/contracts';
import { createKey } from './jwt';
import { enrollPermissions, inboxPrefix, memberPermissions, registryPermissions } from './permissions';

describe('role permissions (from contracts ACCESS)', () => {
  const user = createKey('user').getPublicKey();

  it('gives every pattern an entry (a new pattern cannot be forgotten)', () => {
    expect(Object.keys(ACCESS).sort()).toEqual(Object.values(Patterns).sort());
  });

  it("gives a member its own node's subjects, peer events, the snapshot, and addressed messages as itself to anyone and to itself from anyone", () => {
    const p = memberPermissions('m1', 'a', user);
    expect(p.pub!.allow!.sort()).toEqual(
      [
        'wgmesh.v1.m1.peers.snapshot',
        'wgmesh.v1.m1.registries.get',
        'wgmesh.v1.m1.node.a.credential',
        'wgmesh.v1.m1.node.a.dataplane.apply',
        'wgmesh.v1.m1.node.a.dataplane.state',
        'wgmesh.v1.m1.node.a.dataplane.state.get',
        'wgmesh.v1.m1.node.a.nat',
        'wgmesh.v1.m1.node.a.paths',
        'wgmesh.v1.m1.node.*.paths.get',
        'wgmesh.v1.m1.node.*.paths.from.a',
        'wgmesh.v1.m1.node.*.punch.a',
        'wgmesh.v1.m1.node.a.connect',
      ].sort(),
    );
    expect(p.sub!.allow!.sort()).toEqual(
      [
        'wgmesh.v1.m1.peers.events',
        'wgmesh.v1.m1.registries.events',
        'wgmesh.v1.m1.node.a.dataplane.apply',
        'wgmesh.v1.m1.node.a.dataplane.state',
        'wgmesh.v1.m1.node.a.dataplane.state.get',
        'wgmesh.v1.m1.node.a.nat',
        'wgmesh.v1.m1.node.a.paths',
        'wgmesh.v1.m1.node.a.paths.get',
        'wgmesh.v1.m1.node.a.paths.from.*',
        'wgmesh.v1.m1.node.a.punch.*',
        'wgmesh.v1.m1.node.a.connect',
        `_INBOX.${user}.>`,
      ].sort(),
    );
    expect(p.resp).toEqual({ max: 1, ttl: 60_000_000_000 });
    // No member credential can ever cover the registry's hub (node.registry.*).
    expect(() => memberPermissions('m1', 'registry', user)).toThrow(/"registry" is reserved/);
  });

  it('never lets a member publish peer events or the registries, enrol others, remove members, send as another sender, or use any wildcard but the receiver of asking for path decisions and of addressed messages', () => {
    const p = memberPermissions('m1', 'a', user);
    const addressed = p.pub!.allow!.filter((x) => x.startsWith('wgmesh.v1.m1.node.*.'));
    expect(addressed.sort()).toEqual(['wgmesh.v1.m1.node.*.paths.from.a', 'wgmesh.v1.m1.node.*.paths.get', 'wgmesh.v1.m1.node.*.punch.a']);
    for (const s of addressed) expect(s.split('.').slice(5).join('.')).not.toMatch(/[*>]/); // only the receiver token is a wildcard; the sender is itself
    for (const s of p.pub!.allow!.filter((x) => !addressed.includes(x))) {
      expect(s).not.toMatch(/[*>]/);
      expect(s).not.toMatch(/peers\.events|registries\.events|enroll|members\.remove|_INBOX/);
      expect(s === 'wgmesh.v1.m1.peers.snapshot' || s === 'wgmesh.v1.m1.registries.get' || s.startsWith('wgmesh.v1.m1.node.a.')).toBe(true);
    }
    expect(() => memberPermissions('m1', 'a.b', user)).toThrow();
    expect(() => memberPermissions('m1', '*', user)).toThrow();
  });

  it('gives the enrolment credential the enroll request and its own inbox only', () => {
    expect(enrollPermissions('m1', user)).toEqual({ pub: { allow: ['wgmesh.v1.m1.enroll'] }, sub: { allow: [`${inboxPrefix(user)}.>`] } });
  });

  it('leaves the registry unrestricted inside its account', () => {
    expect(registryPermissions()).toEqual({});
  });
});
