import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeWorkloads, interpolate, loadCompose } from './compose';
import { workspaceFiles } from './files';

describe('compose interpolation', () => {
  const env = new Map([['SET', 'v'], ['EMPTY', '']]);
  const run = (text: string) => {
    const errors: string[] = [];
    return { value: interpolate(text, env, (m) => errors.push(m)), errors };
  };

  it.each([
    ['${SET}', 'v'],
    ['$SET/x', 'v/x'],
    ['$$SET', '$SET'],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${SET:+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${SET:?need it}', 'v'],
    ['a ${SET} b ${UNSET:-${SET}}', 'a v b v'],
  ])('%s → %s', (text, want) => {
    expect(run(text)).toEqual({ value: want, errors: [] });
  });

  it('reports required and unset variables', () => {
    expect(run('${UNSET:?give it}').errors).toEqual(['${UNSET} is required: give it (the env file gives no value)']);
    expect(run('${EMPTY:?}').errors).toEqual(['${EMPTY} is required: not set (the env file gives no value)']);
    expect(run('${UNSET}').errors).toEqual(['${UNSET} is not set in the env file (compose would use an empty string)']);
  });

  it('interpolates values, not keys, through lists and maps', () => {
    expect(interpolate({ '${SET}': ['${SET}', 1, { k: '${SET}' }] }, env, () => undefined)).toEqual({ '${SET}': ['v', 1, { k: 'v' }] });
  });
});

describe('compose files', () => {
  const root = mkdtempSync(join(tmpdir(), 'wgmesh-compose-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const load = (yml: string, env = '') => {
    writeFileSync(join(root, 'c.yml'), yml);
    writeFileSync(join(root, 'c.env'), env);
    return loadCompose(workspaceFiles(root), 'c.yml', 'c.env');
  };

  it('reads anchors and merge keys, and the services as workloads', () => {
    const file = load(
      [
        'x-base: &base { image: "wgmesh:1", init: true, network_mode: "service:ns" }',
        'services:',
        '  ns: { image: "wgmesh:1", ports: ["127.0.0.1:80:8080/tcp", "53:53/udp", "9000"] }',
        '  a:',
        '    <<: *base',
        '    command: resolver --zone "mesh.example."',
        '    environment: ["A=${X}", "B"]',
        '    volumes: ["data:/data", "./here:/here", "/abs/../x:/x"]',
        '    cap_add: [CAP_NET_ADMIN]',
        '    devices: ["/dev/net/tun:/dev/net/tun"]',
        'volumes: { data: {} }',
      ].join('\n'),
      'X=1\n',
    );
    expect(file.errors).toEqual([]);
    const { workloads, errors } = composeWorkloads(file);
    expect(errors).toEqual([]);
    const [ns, a] = workloads;
    expect(ns.ports.map((p) => [p.hostIp, p.port, p.protocol])).toEqual([['127.0.0.1', 8080, 'tcp'], [undefined, 53, 'udp'], [undefined, 9000, 'tcp']]);
    expect(a).toMatchObject({ netns: 'c.yml#ns', ownsNetns: false, command: ['resolver', '--zone', 'mesh.example.'], tun: true });
    expect(a.env).toEqual([{ name: 'A', value: '1', unchecked: undefined, source: 'environment' }, { name: 'B', unchecked: 'taken from the environment of docker compose', source: 'environment' }]);
    expect([...a.mounts]).toEqual([['/data', 'volume c.yml#data'], ['/here', 'bind here'], ['/x', 'bind /x']]);
    expect([...a.capabilities]).toEqual(['NET_ADMIN']);
  });

  it('reports what compose would refuse or mis-wire', () => {
    const file = load(
      [
        'services:',
        '  a: { image: "x:1", network_mode: "service:nope", ports: ["1:1"], depends_on: { b: { condition: service_healthy } }, volumes: ["undeclared:/u"] }',
        '  b: { image: "x:1", imagee: 1 }',
        '  c: { image: "x:1", env_file: [x.env] }',
      ].join('\n'),
    );
    expect(file.errors).toEqual(['c.yml: services.b must NOT have additional properties "imagee"']);
    expect(composeWorkloads(file).errors).toEqual([
      'c.yml services.a: network_mode service:nope: no such service',
      'c.yml services.a: ports cannot be published with network_mode service:nope: publish them on nope',
      'c.yml services.a: depends_on b (service_healthy): b has no healthcheck',
      'c.yml services.a: volume "undeclared" is not declared under the top-level volumes',
      'c.yml services.c: env_file is not used by these files: give environment entries, so each is checked',
    ]);
  });
});
