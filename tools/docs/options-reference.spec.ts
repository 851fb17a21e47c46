import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { OptionSpec } from '@wgmesh/config';
import { COMMANDS } from '../deploy/src/commands';
import { BEGIN, DOC, END, optionsReference, optionsTable, withReference } from './options-reference';

const ROOT = resolve(__dirname, '../..');

describe('the configuration reference in deploy/README.md', () => {
  it('is what tools/docs/options-reference.ts generates from the options (run it with --write after changing an option)', () => {
    const readme = readFileSync(join(ROOT, DOC), 'utf8');
    const committed = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END) + END.length);
    expect(committed).toBe(optionsReference());
  });

  it('has a section per service command and a row per option, with its variable and default', () => {
    const text = optionsReference();
    for (const c of COMMANDS) {
      expect(text).toContain(`### \`wgmesh ${c.words.join(' ')}\``);
      for (const o of c.options) {
        const row = text.split('\n').find((l) => l.startsWith(`| \`--${o.flag}`) && (!o.env || l.includes(`\`${o.env}\``)));
        expect(row).toBeDefined();
      }
    }
  });

  it('renders defaults, required options, repeatable ones, and escapes what Markdown would eat', () => {
    const specs: OptionSpec[] = [
      { key: 'a', flag: 'alpha', env: 'WGMESH_ALPHA', value: '<a|b>', default: 'a', parse: (t) => t, description: 'one | two, default <dir>/x' },
      { key: 'b', flag: 'beta', env: 'WGMESH_BETA', value: '<n>', required: true, parse: (t) => t, description: 'needed' },
      { key: 'c', flag: 'gamma', repeatable: true, default: [], parse: (t) => t, description: 'many' },
    ];
    expect(optionsTable(specs).split('\n').slice(2)).toEqual([
      '| `--alpha <a\\|b>` | `WGMESH_ALPHA` | `a` | one \\| two, default &lt;dir&gt;/x |',
      '| `--beta <n>` | `WGMESH_BETA` | **required** | needed |',
      '| `--gamma` | — | — | many (repeatable; comma-separated in the variable) |',
    ]);
  });

  it('replaces only the generated section', () => {
    const readme = `intro\n${BEGIN}\nold\n${END}\noutro\n`;
    expect(withReference(readme, `${BEGIN}\nnew\n${END}`)).toBe(`intro\n${BEGIN}\nnew\n${END}\noutro\n`);
    expect(() => withReference('no section')).toThrow(/has no/);
  });
});
