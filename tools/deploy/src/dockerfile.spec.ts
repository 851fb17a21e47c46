import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDockerfile } from './dockerfile';

describe('Dockerfile stages', () => {
  it('reads stages, entrypoints and packages, inherited along FROM <stage>', () => {
    const stages = parseDockerfile(
      [
        'ARG X=1',
        'FROM node:20 AS base',
        '# a comment',
        'ENV A=1 B="two"',
        'RUN apt-get update \\',
        '  # comment inside',
        ' && apt-get install -y --no-install-recommends iproute2 wireguard-tools=1.0 \\',
        ' && rm -rf /var/lib/apt/lists/*',
        'ENTRYPOINT ["node", "x.js"]',
        'CMD ["--help"]',
        'FROM base AS tools',
        'RUN apt-get install -y wireguard-go',
        'from debian as other',
      ].join('\n'),
    );
    expect([...stages.keys()]).toEqual(['base', 'tools', 'other']);
    expect(stages.get('base')).toMatchObject({ from: 'node:20', entrypoint: ['node', 'x.js'], cmd: ['--help'] });
    expect([...stages.get('base')!.env]).toEqual([['A', '1'], ['B', 'two']]);
    expect([...stages.get('tools')!.packages].sort()).toEqual(['iproute2', 'wireguard-go', 'wireguard-tools']);
    expect(stages.get('tools')!.entrypoint).toEqual(['node', 'x.js']);
    expect(stages.get('other')!.packages.size).toBe(0);
  });

  it('refuses the shell form of ENTRYPOINT, instructions before FROM and stages defined twice', () => {
    expect(() => parseDockerfile('FROM a\nENTRYPOINT node x.js\n')).toThrow('line 2: ENTRYPOINT must use the exec form');
    expect(() => parseDockerfile('RUN true\nFROM a\n')).toThrow('line 1: RUN before the first FROM');
    expect(() => parseDockerfile('FROM a AS x\nFROM b AS x\n')).toThrow('stage "x" is defined twice');
  });

  it('reads deploy/Dockerfile: two runtime targets, the WireGuard tools in the dataplane one', () => {
    const stages = parseDockerfile(readFileSync(join(resolve(__dirname, '../../..'), 'deploy/Dockerfile'), 'utf8'));
    expect(stages.get('wgmesh')).toMatchObject({ from: 'node:20-bookworm-slim', entrypoint: ['node', '--enable-source-maps', '/opt/wgmesh/dist/bin/wgmesh.js'] });
    expect([...stages.get('wgmesh-dataplane')!.packages].sort()).toEqual(['iproute2', 'wireguard-go', 'wireguard-tools']);
    expect(stages.get('wgmesh')!.packages.size).toBe(0);
  });
});
