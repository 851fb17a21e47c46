import { posix } from 'node:path';
import { ConfigError, parseOptions, type OptionSpec, type Options } from '@wgmesh/config';
import { registryAddress } from '@wgmesh/app/peer-discovery';
import { COMMANDS, COMMON_ENV, CommandSpec, findCommand, Listener, listenersOf, Needs } from './commands';
import type { Stage } from './dockerfile';
import { closest } from './k8s-schema';
import { thirdParty } from './third-party';
import { isLoopback, isWildcard, parseImage, splitCommand, Workload } from './workload';

/**
 * The checks that tie manifests to the code: every container's command is a wgmesh command
 * (or wireguard-go, or a known third-party image), every environment variable is an option of
 * that command and every value parses as that option does, required options are there, ports
 * published or declared are ports something listens on (and the public ones are published),
 * probes ask /health and /ready on the HTTP port, images are Dockerfile targets, and containers
 * that drive WireGuard have NET_ADMIN, /dev/net/tun and the shared UAPI socket directory.
 */
export interface Images {
  /** Stages of the Dockerfile(s), by path. */
  dockerfiles: Map<string, Map<string, Stage>>;
  /** The Dockerfile that builds the wgmesh images (deploy/Dockerfile). */
  main: string;
  /** The tag wgmesh images carry: package.json's version. */
  version: string;
}

export const UAPI_DIR = '/var/run/wireguard';

interface Analysed {
  w: Workload;
  stage?: Stage;
  argv: string[];
  kind: 'wgmesh' | 'wireguard-go' | 'pause' | 'third-party' | 'unknown';
  command?: CommandSpec;
  parsed?: Options;
  listeners: Array<Listener & { owner: string }>;
  needs: Needs;
  /** wireguard-go: the device it creates. */
  device?: string;
}

export function checkWorkloads(workloads: readonly Workload[], images: Images): string[] {
  const errors: string[] = [];
  const analysed = workloads.map((w) => analyse(w, images, (msg) => errors.push(`${w.where}: ${msg}`)));
  const groups = new Map<string, Analysed[]>();
  for (const a of analysed) groups.set(a.w.netns, [...(groups.get(a.w.netns) ?? []), a]);
  for (const group of groups.values()) checkNetns(group, (msg) => errors.push(msg));
  return errors;
}

function analyse(w: Workload, images: Images, fail: (msg: string) => void): Analysed {
  const stage = imageStage(w, images, fail);
  const entrypoint = w.entrypoint ?? stage?.entrypoint ?? [];
  const cmd = w.command ?? (w.entrypoint ? [] : (stage?.cmd ?? []));
  const argv = shellCommand([...entrypoint, ...cmd]);
  const a: Analysed = { w, stage, argv, kind: 'unknown', listeners: [], needs: {} };
  const own = (l: Listener) => ({ ...l, owner: w.where });

  const wgmeshAt = argv.findIndex((word, i) => (i === 0 && posix.basename(word) === 'wgmesh') || (i > 0 && posix.basename(argv[0]) === 'node' && /(^|\/)wgmesh(\.js)?$/.test(word)));
  if (wgmeshAt >= 0) {
    a.kind = 'wgmesh';
    const args = argv.slice(wgmeshAt + 1);
    const found = findCommand(args);
    if (!found) {
      fail(`runs "wgmesh ${args.join(' ')}", which is not a service command (${COMMANDS.map((c) => c.words.join(' ')).join(', ')})`);
      return a;
    }
    a.command = found.command;
    checkOneShot(found.command, w, fail);
    a.parsed = parseCommandLine(found.command, found.rest, w, fail) ?? undefined;
    if (!a.parsed) return a;
    a.listeners = listenersOf(found.command.options, a.parsed, found.command.listeners).map(own);
    a.needs = found.command.needs(a.parsed);
    checkNeeds(a, fail);
    checkProbes(a, fail);
  } else if (argv.length > 0 && posix.basename(argv[0]) === 'wireguard-go') {
    a.kind = 'wireguard-go';
    a.device = argv[argv.length - 1];
    if (!argv.includes('-f') && !argv.includes('--foreground')) fail('wireguard-go must run in the foreground (-f): it daemonizes otherwise and the container exits');
    if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(a.device ?? '') || argv.length < 2) fail('wireguard-go needs the interface name as its last argument');
    a.needs = { netAdmin: true, tun: true, uapiSocket: true, packages: ['wireguard-go'] };
    checkNeeds(a, fail);
  } else if (argv.length === 2 && posix.basename(argv[0]) === 'sleep' && argv[1] === 'infinity') {
    a.kind = 'pause'; // holds a network namespace (compose), like a pod's pause container
  } else if (!stage) {
    const known = thirdParty(w.image);
    if (known) {
      a.kind = 'third-party';
      a.listeners = known.listeners(argv).map(own);
    }
  }
  if (w.platform === 'kubernetes') {
    for (const p of w.ports) {
      if (!a.listeners.some((l) => l.port === p.port && l.protocols.includes(p.protocol))) fail(`declares port ${p.port}/${p.protocol}, on which it does not listen${listening(a.listeners)}`);
    }
    if (!w.requests || !('cpu' in w.requests) || !('memory' in w.requests)) fail('needs resources.requests for cpu and memory');
  }
  if (a.kind === 'unknown' && (w.ports.length > 0 || w.platform === 'kubernetes')) fail(`cannot tell what ${w.image || 'this container'} runs: use a wgmesh image target or an image known to tools/deploy/src/third-party.ts`);
  return a;
}

/**
 * `sh -c '<guard> || exec wgmesh …'` (a one-shot command that must not run twice): the command of
 * the script's last step, so its options are checked like any other's. Other argument lists as
 * they are.
 */
export function shellCommand(argv: string[]): string[] {
  if (argv.length < 3 || !['sh', 'bash'].includes(posix.basename(argv[0])) || argv[1] !== '-c') return argv;
  const steps = argv[2].split(/\|\||&&|;|\n/).map((x) => x.trim()).filter(Boolean);
  const words = splitCommand(steps[steps.length - 1] ?? '');
  if (words[0] === 'exec') words.shift();
  return words.length && posix.basename(words[0]) === 'wgmesh' ? words : argv;
}

/** One-shot commands run to completion before what needs them; services keep running. */
function checkOneShot(command: CommandSpec, w: Workload, fail: (msg: string) => void): void {
  const what = `"wgmesh ${command.words.join(' ')}"`;
  if (command.oneShot) {
    if (w.platform === 'compose' && w.restart !== 'no' && w.restart !== 'on-failure') fail(`${what} runs once: give it restart: "no" (or on-failure), not ${w.restart}, and make what needs it depend on it with condition service_completed_successfully`);
    if (w.platform === 'kubernetes' && w.init !== 'init') fail(`${what} runs once: make it a plain init container (no restartPolicy Always), before the containers that need it`);
  } else if (w.init === 'init') fail(`${what} is a service that keeps running: as a plain init container it would block the pod; make it a sidecar (restartPolicy Always) or a container`);
}

function listening(listeners: readonly Listener[]): string {
  return listeners.length ? ` (it listens on ${listeners.map((l) => `${l.port}/${l.protocols.join('+')}`).join(', ')})` : ' (it listens on nothing known)';
}

function imageStage(w: Workload, images: Images, fail: (msg: string) => void): Stage | undefined {
  const image = parseImage(w.image);
  if (w.build) {
    const stages = images.dockerfiles.get(w.build.dockerfile);
    if (!stages) {
      fail(`build: no Dockerfile ${w.build.dockerfile}`);
      return undefined;
    }
    const target = w.build.target ?? [...stages.keys()].pop()!;
    const stage = stages.get(target);
    if (!stage) fail(`build target "${target}" is not a stage of ${w.build.dockerfile} (stages: ${[...stages.keys()].join(', ')})`);
    if (image.name !== target) fail(`image ${w.image} is built from target ${target}: name it ${target}:${images.version}`);
    if (image.tag !== images.version) fail(`image ${w.image}: tag it ${images.version} (package.json's version)`);
    return stage;
  }
  if (image.name.startsWith('wgmesh')) {
    const stages = images.dockerfiles.get(images.main)!;
    const stage = stages.get(image.name);
    if (!stage) fail(`image ${w.image}: ${images.main} has no target "${image.name}" (targets: ${[...stages.keys()].join(', ')})`);
    if (image.tag !== images.version) fail(`image ${w.image}: tag it ${images.version} (package.json's version)`);
    return stage;
  }
  if (!image.digest && (!image.tag || image.tag === 'latest')) fail(`image ${w.image}: pin a version tag (not latest)`);
  return undefined;
}

/**
 * parseOptions, as the command itself runs it, on the container's arguments and environment:
 * unknown flags, values that do not parse and missing required options fail here as they would at
 * start. Values only known at run time (secrets' placeholders, fieldRefs) are left out of the
 * parse, and an option they give counts as present.
 */
function parseCommandLine(command: CommandSpec, rest: string[], w: Workload, fail: (msg: string) => void): Options | null {
  const byEnv = new Map(command.options.filter((o) => o.env).map((o) => [o.env!, o]));
  const env: Record<string, string> = {};
  const unchecked = new Set<string>();
  for (const e of w.env) {
    if (!byEnv.has(e.name) && !COMMON_ENV.has(e.name)) {
      const near = closest(e.name, [...byEnv.keys()]);
      fail(`environment variable ${e.name} (${e.source}) is not an option of "wgmesh ${command.words.join(' ')}"${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    if (e.unchecked !== undefined) unchecked.add(e.name);
    else if (e.value !== undefined) env[e.name] = e.value;
  }
  const specs: OptionSpec[] = command.options.map((o) => (o.env && unchecked.has(o.env) ? { ...o, required: false } : o));
  try {
    const parsed = parseOptions(specs, { argv: rest, env });
    if (parsed.help) {
      fail('runs --help, not the service');
      return null;
    }
    if (parsed.rest.length) throw new ConfigError(`unexpected argument "${parsed.rest[0]}"`);
    if (unchecked.size === 0) command.check?.(parsed.options);
    return parsed.options;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    fail(`"wgmesh ${command.words.join(' ')}" would refuse to start: ${err.message}`);
    return null;
  }
}

function checkNeeds(a: Analysed, fail: (msg: string) => void): void {
  const { w, needs } = a;
  const what = a.kind === 'wgmesh' ? `"wgmesh ${a.command!.words.join(' ')}"${needs.device ? ` (driver ${needs.device.driver}${needs.device.create ? ', create' : ''})` : ''}` : a.kind;
  if (needs.netAdmin && !w.capabilities.has('NET_ADMIN') && !w.privileged) fail(`${what} configures the network: add the NET_ADMIN capability`);
  if (needs.tun && !w.tun) fail(`${what} opens /dev/net/tun: ${w.platform === 'compose' ? 'add devices: [/dev/net/tun:/dev/net/tun]' : 'mount a hostPath /dev/net/tun (type CharDevice) at /dev/net/tun'}`);
  if (needs.uapiSocket && !w.mounts.has(UAPI_DIR)) fail(`${what} uses the device's UAPI socket: mount the shared ${UAPI_DIR} directory`);
  if (a.stage) for (const p of needs.packages ?? []) if (!a.stage.packages.has(p)) fail(`${what} needs the Debian package ${p}, which image target ${a.stage.name} does not install`);
}

function checkProbes(a: Analysed, fail: (msg: string) => void): void {
  const { w } = a;
  const http = a.listeners.find((l) => l.kind === 'http');
  const httpProbes = w.probes.filter((p) => p.http);
  if (!http) {
    for (const p of httpProbes) fail(`${p.kind} probe asks HTTP, but "wgmesh ${a.command!.words.join(' ')}" serves no HTTP here (--http-listen is off or not an option)`);
    return;
  }
  if (w.init === 'init') return; // runs to completion: no probes
  const want = (p: { http?: { path: string; port: number | null; host?: string } }, paths: string[], kind: string) => {
    if (!p.http) return fail(`${kind} probe must be an HTTP GET of ${paths.join(' or ')} on the HTTP port ${http.port}`);
    if (!paths.includes(p.http.path)) fail(`${kind} probe asks ${p.http.path}: it must ask ${paths.join(' or ')}`);
    if (p.http.port !== http.port) fail(`${kind} probe asks port ${p.http.port}, but the HTTP endpoint listens on ${http.host}:${http.port} (--${http.flag})`);
    if (isLoopback(http.host)) {
      if (w.platform === 'kubernetes' && !(w.hostNetwork && isLoopback(p.http.host))) fail(`${kind} probe: the HTTP endpoint listens on ${http.host} only; the kubelet reaches it only with hostNetwork and httpGet.host 127.0.0.1 (or listen on 0.0.0.0)`);
      if (w.platform === 'compose' && p.http.host !== undefined && !isLoopback(p.http.host)) fail(`${kind} probe asks ${p.http.host}, but the HTTP endpoint listens on ${http.host}`);
    } else if (!isWildcard(http.host) && p.http.host !== http.host && w.platform === 'compose') fail(`${kind} probe asks ${p.http.host}, but the HTTP endpoint listens on ${http.host}`);
  };
  if (w.platform === 'compose') {
    const hc = w.probes.find((p) => p.kind === 'healthcheck');
    if (!hc) fail(`needs a healthcheck asking http://127.0.0.1:${http.port}/ready (the HTTP endpoint, --${http.flag})`);
    else want(hc, ['/ready', '/health'], 'healthcheck');
    return;
  }
  const live = w.probes.find((p) => p.kind === 'liveness');
  const ready = w.probes.find((p) => p.kind === 'readiness');
  const startup = w.probes.find((p) => p.kind === 'startup');
  if (!live) fail(`needs a livenessProbe: httpGet /health on port ${http.port}`);
  else want(live, ['/health'], 'liveness');
  if (!ready) fail(`needs a readinessProbe: httpGet /ready on port ${http.port}`);
  else want(ready, ['/ready'], 'readiness');
  if (startup) want(startup, ['/ready', '/health'], 'startup');
}

function checkNetns(group: Analysed[], fail: (msg: string) => void): void {
  const listeners = group.flatMap((a) => a.listeners);
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const [x, y] = [listeners[i], listeners[j]];
      const proto = x.protocols.find((p) => y.protocols.includes(p));
      if (proto && x.port === y.port && x.port !== 0 && (x.host === y.host || isWildcard(x.host) || isWildcard(y.host))) {
        fail(`${y.owner}: ${y.host}:${y.port}/${proto} (--${y.flag}) is also taken by ${x.owner} (--${x.flag}) in the same network namespace`);
      }
    }
  }

  const wgGo = group.filter((a) => a.kind === 'wireguard-go');
  for (const a of group) {
    const device = a.needs.device;
    if (a.kind !== 'wgmesh' || !device || device.driver !== 'uapi') continue;
    const daemon = wgGo.find((g) => g.device === device.name);
    if (!device.create && !daemon) {
      fail(`${a.w.where}: uses the userspace device ${device.name} without --create, but no wireguard-go in its network namespace creates ${device.name}${wgGo.length ? ` (wireguard-go creates ${wgGo.map((g) => g.device).join(', ')})` : ''}`);
    }
    if (daemon && a.w.mounts.has(UAPI_DIR) && daemon.w.mounts.get(UAPI_DIR) !== a.w.mounts.get(UAPI_DIR)) {
      fail(`${a.w.where}: ${UAPI_DIR} must be the same directory as wireguard-go's (${daemon.w.where}): ${a.w.mounts.get(UAPI_DIR)} vs ${daemon.w.mounts.get(UAPI_DIR)}`);
    }
  }

  const meshes = new Set(group.filter((a) => a.parsed && typeof a.parsed.mesh === 'string').map((a) => a.parsed!.mesh as string));
  if (meshes.size > 1) fail(`${group[0].w.netns}: the services of one node disagree on the mesh name: ${[...meshes].join(', ')}`);

  // The hub: the registry's dataplane-programmer must give the device the address peer-discovery hands out as the registry's.
  for (const pd of group.filter((a) => a.command?.words[0] === 'peer-discovery' && a.parsed?.mode === 'registry')) {
    const hub = group.find((a) => a.command?.words[0] === 'dataplane' && a.parsed?.node === pd.parsed!.registryNode);
    if (!hub || !pd.parsed!.meshCidr) continue;
    const want = `${registryAddress(pd.parsed as { address?: string; meshCidr?: string })}/${String(pd.parsed!.meshCidr).split('/')[1]}`;
    const addresses = (hub.parsed!.address as string[]) ?? [];
    if (!addresses.includes(want)) fail(`${hub.w.where}: the hub device's address must be ${want} (the registry address in --mesh-cidr ${String(pd.parsed!.meshCidr)} of ${pd.w.where}); it is ${addresses.join(', ') || 'not set'}`);
    if (hub.parsed!.device !== pd.parsed!.device) fail(`${pd.w.where}: watches device ${String(pd.parsed!.device)}, but the hub's dataplane-programmer owns ${String(hub.parsed!.device)}`);
  }

  const compose = group[0].w.platform === 'compose';
  const published = group.flatMap((a) => a.w.ports.map((p) => ({ p, a })));
  if (compose) {
    for (const { p, a } of published) {
      const match = listeners.find((l) => l.port === p.port && l.protocols.includes(p.protocol));
      if (!match) fail(`${a.w.where}: publishes ${p.text}, but nothing in its network namespace listens on ${p.port}/${p.protocol}${listening(listeners)}`);
      else if (isLoopback(match.host)) fail(`${a.w.where}: publishes ${p.text}, but ${match.owner} listens on ${match.host}:${match.port} only (--${match.flag})`);
    }
  }
  for (const l of listeners.filter((x) => x.kind === 'wireguard' || x.kind === 'stun')) {
    const owner = group.find((a) => a.w.where === l.owner)!;
    if (owner.w.hostNetwork) continue;
    if (!compose) fail(`${l.owner}: ${l.kind === 'wireguard' ? 'the WireGuard device' : 'the STUN server'} listens on UDP ${l.port}: members must reach it from outside, with the source address intact: use hostNetwork`);
    else if (!published.some(({ p }) => p.port === l.port && p.protocol === 'udp')) fail(`${l.owner}: ${l.kind === 'wireguard' ? 'the WireGuard device' : 'the STUN server'} listens on UDP ${l.port} (--${l.flag}), which is not published: add "${l.port}:${l.port}/udp" to the ports of the service owning the network namespace`);
  }
}
