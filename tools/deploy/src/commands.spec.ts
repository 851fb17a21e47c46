import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseOptions, values, type OptionSpec } from '@wgmesh/config';
import { resolverOptions } from '@wgmesh/app/registry-resolver';
import { checkWorkloads, Images } from './checks';
import { COMMANDS, findCommand, listenersOf } from './commands';
import { parseDockerfile } from './dockerfile';
import type { Workload } from './workload';

const ROOT = resolve(__dirname, '../../..');
const images: Images = { dockerfiles: new Map([['deploy/Dockerfile', parseDockerfile(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'))]]), main: 'deploy/Dockerfile', version: '0.1.0' };

const parse = (words: string[], env: Record<string, string>, argv: string[] = []) => {
  const c = findCommand(words)!;
  return { c, o: parseOptions(c.command.options, { argv: [...c.rest, ...argv], env }).options };
};
const listeners = (words: string[], env: Record<string, string>, argv: string[] = []) => {
  const { c, o } = parse(words, env, argv);
  return listenersOf(c.command.options, o, c.command.listeners).map((l) => `${l.kind} ${l.host}:${l.port}/${l.protocols.join('+')}`);
};

function workload(command: string[], env: Record<string, string>): Workload {
  return {
    platform: 'compose', where: 'test', image: 'wgmesh:0.1.0', command, env: Object.entries(env).map(([name, value]) => ({ name, value, source: 'environment' })),
    netns: 'test', hostNetwork: false, ownsNetns: true, capabilities: new Set(), privileged: false, tun: false, mounts: new Map(), ports: [],
    probes: [{ kind: 'healthcheck', http: { host: '127.0.0.1', port: 9470, path: '/ready' }, text: '' }],
  };
}

describe('the wgmesh service commands', () => {
  it('are found by their words, the longest match first', () => {
    expect(findCommand(['member', 'up', '--name', 'a'])).toMatchObject({ command: { words: ['member', 'up'] }, rest: ['--name', 'a'] });
    expect(findCommand(['peer-discovery', '--mode', 'member'])!.command.words).toEqual(['peer-discovery']);
    expect(findCommand(['member', 'remove'])).toBeNull();
    expect(findCommand(['registry', 'token', 'create'])).toBeNull();
  });

  it('take their options from the apps, every one with an environment variable', () => {
    for (const c of COMMANDS) {
      expect(c.options.length).toBeGreaterThan(3);
      // A one-shot set-up command (registry init) also has flags for a person at a terminal only.
      expect(c.options.filter((o) => !o.env).map((o) => o.flag)).toEqual(c.oneShot ? ['json', 'yes'] : []);
      const envs = c.options.map((o) => o.env).filter(Boolean);
      expect(new Set(envs).size).toBe(envs.length); // one variable, one option
    }
    expect(COMMANDS.find((c) => c.words[0] === 'resolver')!.options).toBe(resolverOptions);
    expect(COMMANDS.filter((c) => c.oneShot).map((c) => c.words.join(' '))).toEqual(['registry init']);
  });

  it('listen where their options say: DNS, HTTP, the WireGuard port, STUN; a client address is no listener', () => {
    expect(listeners(['resolver'], { WGMESH_ZONE: 'z.' })).toEqual(['dns 0.0.0.0:5353/udp+tcp', 'http 127.0.0.1:9470/tcp']);
    expect(listeners(['resolver'], { WGMESH_ZONE: 'z.', WGMESH_HTTP_LISTEN: 'off', WGMESH_DNS_LISTEN: '10.99.0.1:53' })).toEqual(['dns 10.99.0.1:53/udp+tcp']);
    expect(listeners(['dataplane'], { WGMESH_NODE: 'n', WGMESH_LISTEN_PORT: '51820' })).toEqual(['wireguard 0.0.0.0:51820/udp', 'http 127.0.0.1:9472/tcp']);
    expect(listeners(['dataplane'], { WGMESH_NODE: 'n' })).toEqual(['http 127.0.0.1:9472/tcp']); // no port: the device keeps its own
    expect(listeners(['nat-probe', 'server'], {})).toEqual(['stun 0.0.0.0:3478/udp', 'http 127.0.0.1:9473/tcp']);
    expect(listeners(['nat-probe', 'server'], { WGMESH_STUN_LISTEN: '192.0.2.1:3478', WGMESH_STUN_ALTERNATE: '192.0.2.1:3479' })).toEqual(['stun 192.0.2.1:3478/udp', 'stun 192.0.2.1:3479/udp', 'http 127.0.0.1:9473/tcp']);
    const member = { WGMESH_DEVICE: 'wg0', WGMESH_REGISTRY_KEY: 'iO5mEzBv5spXR4oVJilwPaU/MqX8UIbsdhVumLsR2xI=', WGMESH_REGISTRY_ENDPOINT: '192.0.2.1:51820', WGMESH_MESH_CIDR: '10.99.0.0/16' };
    expect(listeners(['member', 'up'], { ...member, WGMESH_STUN_SERVER: '192.0.2.1:3478', WGMESH_DNS_SERVER: '10.99.0.1:53', WGMESH_LISTEN_PORT: '51820' })).toEqual(['wireguard 0.0.0.0:51820/udp', 'http 127.0.0.1:9471/tcp']);
  });

  it('find listeners among options they do not know yet, by flag', () => {
    const specs: OptionSpec[] = [
      { key: 'a', flag: 'admin-http-listen', value: '<addr:port>', parse: values.listen, default: '127.0.0.1:1', description: '' },
      { key: 'b', flag: 'relay-listen-port', value: '<port>', parse: values.int(1, 65535), default: '2', description: '' },
      { key: 'c', flag: 'stun-listen', value: '<addr:port>', parse: values.listen, default: '0.0.0.0:3', description: '' },
      { key: 'd', flag: 'dns-listen', value: '<addr:port>', parse: values.listen, default: '0.0.0.0:4', description: '' },
      { key: 'e', flag: 'upstream', value: '<addr:port>', parse: values.listen, default: '0.0.0.0:5', description: '' },
    ];
    const o = parseOptions(specs, { argv: [], env: {} }).options;
    expect(listenersOf(specs, o).map((l) => `${l.kind} ${l.port}/${l.protocols.join('+')}`)).toEqual(['http 1/tcp', 'wireguard 2/udp', 'stun 3/udp', 'dns 4/udp+tcp']);
  });
});

describe('environment variables of the manifests', () => {
  it('every option of every command is accepted by its variable (values: the defaults)', () => {
    for (const c of COMMANDS) {
      const env = Object.fromEntries(c.options.filter((o) => o.env && typeof o.default === 'string').map((o) => [o.env!, o.default as string]));
      const errors = checkWorkloads([workload([...c.words], env)], images);
      expect(errors.filter((e) => /is not an option/.test(e))).toEqual([]);
    }
  });

  it('an option added to an app is accepted at once; a variable no option reads is refused', () => {
    const resolver = (env: Record<string, string>) => checkWorkloads([workload(['resolver'], { WGMESH_ZONE: 'mesh.example.', ...env })], images);
    expect(resolver({ WGMESH_BRAND_NEW: '7' })).toEqual(['test: environment variable WGMESH_BRAND_NEW (environment) is not an option of "wgmesh resolver"']);
    resolverOptions.push({ key: 'brandNew', flag: 'brand-new', env: 'WGMESH_BRAND_NEW', value: '<n>', parse: values.int(1, 9), default: '1', description: 'new' });
    try {
      expect(resolver({ WGMESH_BRAND_NEW: '7' })).toEqual([]);
      expect(resolver({ WGMESH_BRAND_NEW: '70' })).toEqual([expect.stringContaining('invalid environment variable WGMESH_BRAND_NEW (option --brand-new)')]);
    } finally {
      resolverOptions.pop();
    }
  });

  it('placeholders and run-time values are not parsed, and count as given', () => {
    const w = workload(['resolver'], {});
    w.env.push({ name: 'WGMESH_ZONE', unchecked: 'a placeholder', source: 'Secret s key k' });
    expect(checkWorkloads([w], images)).toEqual([]);
  });
});
