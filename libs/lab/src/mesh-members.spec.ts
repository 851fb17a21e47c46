import { meshMembers, memberName, parseMemberOption, parseNatList } from './mesh-members';

describe('lab up members (--members, --nat)', () => {
  const specs = (members: number | undefined, nat: string | undefined) => meshMembers(members, nat === undefined ? undefined : parseNatList(nat)).map((m) => `${m.name}:${m.nat}`).join(',');

  it.each([
    [undefined, undefined, 'a:eim,b:eim,c:eim,d:public'],
    [2, undefined, 'a:eim,b:public'],
    [1, undefined, 'a:public'], // N-1 behind eim NATs and a public one, as the help says
    [undefined, 'eim,edm,public', 'a:eim,b:edm,c:public'],
    [3, 'edm', 'a:edm,b:edm,c:edm'],
    [2, 'public,eim', 'a:public,b:eim'],
  ])('--members %p --nat %p → %s', (members, nat, expected) => {
    expect(specs(members, nat)).toBe(expected);
  });

  it('refuses a --nat list that does not fit the count, and unknown NAT types', () => {
    expect(() => specs(3, 'eim,edm')).toThrow('--nat lists 2 NAT types for 3 members');
    expect(() => parseNatList('eim,full-cone')).toThrow('--nat "full-cone" must be eim, edm, seq or public');
  });

  it('--members is a count or the lab’s name:nat list', () => {
    expect(parseMemberOption('5')).toBe(5);
    expect(parseMemberOption('x:eim,y:public')).toEqual([{ name: 'x', nat: 'eim' }, { name: 'y', nat: 'public' }]);
    expect(() => parseMemberOption('0')).toThrow('--members must be from 1 to 100');
    expect(() => meshMembers([{ name: 'x', nat: 'eim' }], ['edm'])).toThrow('--nat goes with --members <count>');
  });

  it('names members a … z, then aa, ab, …', () => {
    expect([0, 1, 25, 26, 27, 51, 52].map(memberName)).toEqual(['a', 'b', 'z', 'aa', 'ab', 'az', 'ba']);
  });
});
