import { join } from 'node:path';
import { checkFloors, importsOf, isTestFile, Project, readWorkspace } from './floors';

const P = (root: string, floor: Project['floor']): Project => ({ name: root.split('/')[1], root, floor });
const projects = [P('libs/codec', 'ground'), P('libs/logic', 'middle'), P('libs/other', 'middle'), P('libs/kit', 'test'), P('apps/svc', 'app'), P('tools/bench', 'tool'), P('tools/deploy', 'tool')];
const check = (files: Record<string, string>) => checkFloors(projects, new Map(Object.entries(files)));
// A call such as require('…') spelled so that this file's own scan does not take it for an import.
const call = (fn: 'require' | 'import', spec: string) => `${fn}('${spec}')`;
const kinds = (files: Record<string, string>) => check(files).map((v) => v.kind);

describe('the dependency rule', () => {
  it('lets imports go down or stay level', () => {
    expect(
      check({
        'libs/logic/src/a.ts': "import { x } from '@wgmesh/codec';\nimport { y } from '@wgmesh/other';\nimport { z } from './z';",
        'apps/svc/src/main.ts': "import { a } from '@wgmesh/logic';\nexport { b } from '@wgmesh/codec';",
        'tools/bench/src/b.ts': "import { run } from '@wgmesh/app/svc';\nimport { Lab } from '@wgmesh/kit';\nimport { k } from '@wgmesh/codec/testing';\nimport { d } from '../../deploy/src/d';",
      }),
    ).toEqual([]);
  });

  it('refuses an import from a lower floor to a higher one', () => {
    const v = check({ 'libs/codec/src/a.ts': "import { a } from '@wgmesh/logic';" });
    expect(v).toEqual([expect.objectContaining({ kind: 'floor', file: 'libs/codec/src/a.ts' })]);
    expect(v[0].message).toContain('libs/logic (floor middle)');
    expect(kinds({ 'libs/logic/src/a.ts': `const { run } = ${call('require', '@wgmesh/app/svc')};` })).toEqual(['floor']);
    expect(kinds({ 'apps/svc/src/a.ts': `import type { B } from '@wgmesh/app/svc';\nimport { c } from\n  '@wgmesh/logic';\nawait ${call('import', '@wgmesh/kit')};` })).toEqual([]);
  });

  it('lets a test use test kits and the lab, but not an app', () => {
    expect(check({ 'libs/logic/src/a.spec.ts': "import { Lab } from '@wgmesh/kit';\nimport { k } from '@wgmesh/other/testing';" })).toEqual([]);
    expect(kinds({ 'libs/logic/src/a.spec.ts': "import { run } from '@wgmesh/app/svc';" })).toEqual(['floor']);
  });

  it('keeps test kits out of production code below the test floor', () => {
    expect(kinds({ 'libs/logic/src/a.ts': "import { k } from '@wgmesh/codec/testing';" })).toEqual(['testing-kit']);
    expect(kinds({ 'libs/logic/src/testing.ts': "import { k } from '@wgmesh/codec/testing';" })).toEqual([]);
  });

  it('refuses a relative path into another project and an unknown @wgmesh import', () => {
    expect(kinds({ 'apps/svc/src/a.ts': "import { x } from '../../../libs/logic/src/x';" })).toEqual(['deep-import']);
    expect(kinds({ 'libs/logic/src/a.ts': "import { x } from '@wgmesh/nothing';" })).toEqual(['unknown-import']);
  });

  it('finds a cycle between projects of one floor', () => {
    const v = check({ 'libs/logic/src/a.ts': "import { b } from '@wgmesh/other';", 'libs/other/src/b.ts': "import { a } from '@wgmesh/logic';" });
    expect(v.map((x) => x.kind)).toEqual(['cycle']);
    expect(v[0].message).toMatch(/libs\/(logic|other) → libs\/(other|logic) → libs\/(logic|other)/);
    // A test importing back is no cycle of the product.
    expect(check({ 'libs/logic/src/a.ts': "import { b } from '@wgmesh/other';", 'libs/other/src/b.spec.ts': "import { a } from '@wgmesh/logic';" })).toEqual([]);
  });

  it('names a file in no project', () => {
    expect(kinds({ 'libs/stray/src/a.ts': '' })).toEqual(['no-floor']);
  });

  it('reads imports, not strings that look like them', () => {
    expect(importsOf("import a from 'a';\nconst f = { 'x.ts': \"import { b } from 'b';\" };\n// import c from 'c'\nexport * from './d';\nimport 'e';")).toEqual(['a', './d', 'e']);
    expect(isTestFile('libs/x/src/a.int.spec.ts')).toBe(true);
    expect(isTestFile('libs/x/src/testing/golden.ts')).toBe(true);
    expect(isTestFile('libs/x/src/testing.ts')).toBe(true);
    expect(isTestFile('libs/x/src/attesting.ts')).toBe(false);
  });
});

describe('this workspace', () => {
  const { projects: real, sources, untagged } = readWorkspace(join(__dirname, '../../..'));

  it('tags every project with a floor', () => {
    expect(untagged).toEqual([]);
    expect(real.find((p) => p.root === 'libs/contracts')?.floor).toBe('ground');
    expect(real.find((p) => p.root === 'apps/cli')?.floor).toBe('app');
  });

  it('keeps the rule: imports go down or level, no cycle, public surfaces only', () => {
    expect(sources.size).toBeGreaterThan(100);
    expect(checkFloors(real, sources).map((v) => v.message)).toEqual([]);
  });
});
