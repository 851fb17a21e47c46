import { CommandError, ConfigError, defineOptions, pickOptions, OptionsOf, EXIT, formatOptionsHelp, runCommand, values } from '@wgmesh/config';
import { DesiredPeer, parseDriverKind, parseMemberRemoveReply, Patterns, REGISTRY_NODE, type RegistryInfo } from '@wgmesh/contracts';
import { createDriver, DEFAULT_MTU, DEFAULT_STATE_DIR, vppOptions } from '@wgmesh/dataplane';
import { createLogger, Logger, parseLevel, withDeadline } from '@wgmesh/log';
import { parseCidr } from '@wgmesh/netaddr';
import { carrierPeers, Enrollment, memberCredsPath, nodeKey, registriesOf, watchRelayCarrier, writeEnrollment } from '@wgmesh/peer-discovery';
import { natsCredsOption } from '@wgmesh/nats-transport';
import { type RunningDataplane, startDataplaneProgrammer } from '@wgmesh/app/dataplane-programmer';
import { registryPeersApply } from './registry-peers';
import { RoleProcess } from './role-process';
import { checkPeerDiscoveryConfig, EnrollmentError, ensureEnrolled, natsOverTunnel, PeerDiscoveryConfig, peerDiscoveryOptions, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { DEFAULT_HTTP_LISTEN, FlagCheck, httpListenOption } from '@wgmesh/health';
import { natProbeMemberOptions, startNatProbeMember } from '@wgmesh/app/nat-probe';
import { CLIENT_FAILURES, clientOptions, connectClient } from './peers';

// `wgmesh member …`: up (the member role), remove (ask the registry to drop a member).

/** Keepalive of the registry (bootstrap) peer: keeps the member's NAT mapping to the hub open. */
const REGISTRY_KEEPALIVE = 25;

export const memberUsage = `Usage: wgmesh member <command> [options]

Commands:
  up --device <dev> --registry-key <b64> --registry-endpoint <ip:port> --mesh-cidr <cidr> --token-file <f>
                    run the member role in the foreground (see "member up --help")
  remove <key|name|address>
                    ask the registry to remove a member (hub peer, address, enrolment)`;

export async function memberCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'up') return memberUp(rest);
  if (sub === 'remove') return memberRemove(rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`${memberUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  process.stderr.write(`wgmesh member: unknown command "${sub}"\n\n${memberUsage}\n`);
  return EXIT.usage;
}

export const upOptions = defineOptions([
  { key: 'device', flag: 'device', env: 'WGMESH_DEVICE', value: '<dev>', required: true, parse: values.string, description: "this node's WireGuard device (adopted, or created with --create)" },
  { key: 'driver', flag: 'driver', env: 'WGMESH_DRIVER', value: '<uapi|wg|vpp>', parse: (t) => parseDriverKind(t, 'value'), default: 'uapi', description: 'uapi (wireguard-go, boringtun), wg (kernel WireGuard) or vpp (FD.io VPP; see --vpp-*)' },
  ...vppOptions,
  { key: 'registryKey', flag: 'registry-key', env: 'WGMESH_REGISTRY_KEY', value: '<base64>', required: true, parse: values.publicKey, description: "the registry's public key (printed by \"wgmesh registry up\")" },
  { key: 'registryEndpoint', flag: 'registry-endpoint', env: 'WGMESH_REGISTRY_ENDPOINT', value: '<ip:port>', required: true, parse: values.endpoint, description: "the registry's public WireGuard endpoint" },
  { key: 'meshCidr', flag: 'mesh-cidr', env: 'WGMESH_MESH_CIDR', value: '<cidr>', required: true, parse: values.cidr, description: "the mesh's tunnel addresses (routed through the registry peer; checked against enrolment)" },
  ...pickOptions(peerDiscoveryOptions, ['tokenFile']),
  { key: 'token', flag: 'token', env: 'WGMESH_TOKEN', value: '<token>', parse: values.string, description: 'pre-auth token (first run only; "wgmesh registry token create"); prefer --token-file: a value here stays in this long-lived process\'s command line or environment' },
  { key: 'nats', flag: 'nats', env: 'WGMESH_NATS_URL', value: '<url>[,<url>…]', parse: values.urls(['nats', 'tls']), description: "NATS after enrolment [default: nats://<registry tunnel address>:4222]" },
  natsCredsOption("NATS credentials of this member's services [default: <state-dir>/nats.creds, issued at enrolment to the node's own NATS key, when it exists]"),
  { key: 'name', flag: 'name', env: 'WGMESH_NAME', value: '<id>', parse: values.name, description: "this node's name and node id [default: the host name]" },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_STATE_DIR', value: '<dir>', parse: values.string, default: '/var/lib/wgmesh', description: 'private key (private.key, 0600; never leaves the node) and enrolment state' },
  { key: 'listenPort', flag: 'listen-port', env: 'WGMESH_LISTEN_PORT', value: '<port>', parse: values.int(1, 65535), description: 'UDP port of the device, one socket for the registry and every direct peer [default: 51820 with --create; an adopted device keeps its port]' },
  { key: 'create', flag: 'create', env: 'WGMESH_CREATE', parse: values.bool, default: 'false', description: 'create the device when missing (uapi: start wireguard-go)' },
  { key: 'mesh', flag: 'mesh', env: 'WGMESH_MESH', value: '<name>', parse: values.name, default: 'default', description: 'mesh name' },
  ...pickOptions(peerDiscoveryOptions, ['enrollNats', 'keepalive', 'onDemand', 'connect', 'zone', 'dnsServer', 'dnsPullInterval', 'applyDelay']),
  ...natProbeMemberOptions,
  httpListenOption(DEFAULT_HTTP_LISTEN.member),
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
]);

/** `member up`'s options: its own, plus peer-discovery's member-mode options it passes on. */
type MemberUpConfig = OptionsOf<typeof upOptions>;

const upUsage = `Usage: wgmesh member up --device <dev> --driver uapi|wg|vpp --registry-key <b64> --registry-endpoint <ip:port>
                        --mesh-cidr <cidr> --token-file <file> [options]

Runs the member role in the foreground, in one process:
  1. the node's key: <state-dir>/private.key (0600), created on the first run; only the public
     key is ever sent;
  2. enrolment, on the first run: the public key goes to the registry over NATS at --enroll-nats
     (default nats://<registry endpoint ip>:4222) with a proof of the token and a proof of holding
     the private key (neither is sent); the reply (tunnel address, registry tunnel address, an
     expiring NATS credential, renewed over the tunnel) is kept in <state-dir>; a --token-file
     is removed once enrolled;
  3. the device (created with --create, or adopted): key, listen port, tunnel address in the mesh
     CIDR, and the registry as the protected bootstrap peer (allowed-ips = mesh CIDR, keepalive
     ${REGISTRY_KEEPALIVE}), through which the rest of the mesh is reachable (relay) and NATS runs;
     with several registries, every one is such a peer and the mesh CIDR follows the live ones;
     a registry added to the mesh (or taken out) later is peered with (or dropped) at once;
  4. the dataplane-programmer (node id = name) and peer-discovery in member mode: a direct peer
     for every other member, from NATS events within milliseconds and a DNS-SD pull (with --zone);
  5. nat-probe: classifies this node's NAT against the registry's STUN server (published as the
     peer record's nat=) and decides each pair's path: direct, or relayed through the registry
     when direct cannot work (both NATs endpoint-dependent, or no handshake within
     --path-deadline; retried later). "wgmesh status" shows each path and why.

Options:
${formatOptionsHelp(upOptions)}

Example:
  wgmesh member up --device wg0 --driver uapi --create --name site-a --token-file /run/wgmesh-token \\
    --registry-key <b64> --registry-endpoint 203.0.113.1:51820 --mesh-cidr 10.99.0.0/16 --zone mesh.example.`;

function memberUp(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh member up', usage: upUsage, options: upOptions, failures: CLIENT_FAILURES }, async (c) => {
    const pd: PeerDiscoveryConfig = checkPeerDiscoveryConfig({
      mode: 'member', mesh: c.mesh, nats: c.nats, logLevel: c.logLevel, driver: c.driver, redis: '', watchInterval: 500, handshakeRefresh: 300, memberCredentialTtl: 86_400,
      meshCidr: c.meshCidr, registryNode: REGISTRY_NODE, stateDir: c.stateDir, token: c.token, tokenFile: c.tokenFile, name: c.name, registryKey: c.registryKey,
      registryEndpoint: c.registryEndpoint, enrollNats: c.enrollNats, keepalive: c.keepalive, onDemand: c.onDemand, connect: c.connect, zone: c.zone, dnsServer: c.dnsServer,
      dnsPullInterval: c.dnsPullInterval, applyDelay: c.applyDelay, natsCreds: c.natsCreds,
    });
    const log = createLogger({ service: 'member', level: c.logLevel });
    // /ready combines enrolment and every service's checks (dataplane.*, peer-discovery.*,
    // nat-probe.*); it answers from the start, while the member enrols.
    const role = await RoleProcess.start(c.httpListen, log);
    const readiness = role.readiness;
    const enrolled = new FlagCheck('enrolment', 'enrolling');
    readiness.add(enrolled);
    const key = nodeKey(c.stateDir);
    if (key.created) log.info('created the node key', { path: key.path, publicKey: key.publicKey });
    let enrollment: Enrollment;
    try {
      enrollment = await ensureEnrolled(pd, key.publicKey, log.child({ service: 'enrol' }));
    } catch (err) {
      if (err instanceof EnrollmentError) throw new CommandError(err.message);
      throw err;
    }
    enrolled.up(`${enrollment.name}, ${enrollment.address}`);
    if (enrollment.device?.name !== c.device || enrollment.device?.driver !== c.driver) {
      enrollment = { ...enrollment, device: { name: c.device, driver: c.driver } };
      writeEnrollment(c.stateDir, enrollment);
    }
    const address = enrollment.address.replace(/\/\d+$/, '');
    const prefix = parseCidr(enrollment.meshCidr).prefixLength;
    // Every service of the member connects with the credential the registry issued at enrolment.
    const natsCreds = c.natsCreds ?? memberCredsPath(c.stateDir);
    // Every registry of the mesh is a protected bootstrap peer; the first (preference order) carries the mesh CIDR.
    const registries = registriesOf(enrollment);
    const bootstrap = carrierPeers(registries, enrollment.meshCidr, registries[0].publicKey, REGISTRY_KEEPALIVE);
    const dataplane = await startDataplaneProgrammer(
      {
        node: enrollment.name, mesh: c.mesh, nats: c.nats ?? natsOverTunnel(enrollment), natsCreds, driver: c.driver, device: c.device, create: c.create,
        privateKeyFile: key.path, listenPort: c.listenPort ?? (c.create ? 51820 : undefined), address: [`${address}/${prefix}`], route: [], protect: registries.map((r) => r.publicKey),
        mtu: DEFAULT_MTU, stateInterval: 5000, stateDir: DEFAULT_STATE_DIR, logLevel: c.logLevel,
        vppSocket: c.vppSocket, vppApiDir: c.vppApiDir, vppSrcAddress: c.vppSrcAddress, vppHostInterface: c.vppHostInterface,
      },
      log.child({ service: 'dataplane-programmer' }),
      { readiness: readiness.scoped('dataplane'), bootstrap },
    ).catch((err: Error) => {
      throw new CommandError(`cannot set up the device ${c.device}: ${err.message}`);
    });
    role.onClose(() => dataplane.close());
    // The registry peers follow the mesh's list while the member runs (a registry added or taken out).
    const registryPeers = startRegistryPeers(c, enrollment, registries, bootstrap, dataplane, log.child({ service: 'relay-carrier' }));
    role.onClose(registryPeers.stop);
    try {
      await dataplane.ready; // NATS over the tunnel: peer-discovery's applies go to this programmer
      // nat-probe first: peer-discovery's first apply asks it for its path decisions (paths.get),
      // so that no peer is dialled before this node knows its NAT (a mapping port prediction cannot see).
      const natProbe = await startNatProbeMember(
        { mesh: c.mesh, nats: c.nats, stateDir: c.stateDir, logLevel: c.logLevel, stunServer: c.stunServer, natInterval: c.natInterval, pathDeadline: c.pathDeadline, pathRetry: c.pathRetry, pathRetryMax: c.pathRetryMax, keepalive: c.keepalive },
        log.child({ service: 'nat-probe' }),
        { enrollment, servers: c.nats ?? natsOverTunnel(enrollment), creds: natsCreds, readiness: readiness.scoped('nat-probe') },
      );
      role.onClose(() => natProbe.close());
      await withDeadline(() => natProbe.subscribed, 5000);
      const discovery = await startPeerDiscovery(pd, log.child({ service: 'peer-discovery' }), {
        enrollment,
        readiness: readiness.scoped('peer-discovery'),
        registriesChanged: registryPeers.setRegistries,
      });
      role.onClose(() => discovery.close());
      log.info('member up', { name: enrollment.name, publicKey: key.publicKey, address: enrollment.address, registry: enrollment.registry.endpoint, device: c.device });
      await role.untilStopped();
    } finally {
      await role.close();
    }
    return EXIT.ok;
  });
}

/**
 * The member's registry peers, kept in step with the mesh's list of registries while it runs
 * (`registriesChanged` from peer-discovery: a registry added after this member enrolled, or taken
 * out): an added registry goes on the device (its endpoint, its own tunnel address, the keepalive)
 * and is protected from desired sets before it does, and becomes a candidate to carry the mesh
 * CIDR; a removed one comes off the device and out of the protected keys (the carrier only once
 * another registry is live). With several registries, the mesh CIDR (the relay, NATS and DNS-SD
 * beyond each registry's own address) follows the live registries (see RelayCarrier in
 * @wgmesh/peer-discovery); the device is sampled through a driver of its own. `bootstrap` (what
 * the dataplane-programmer puts back on a device it re-creates) is kept in step.
 */
function startRegistryPeers(
  c: MemberUpConfig,
  enrollment: Enrollment,
  registries: RegistryInfo[],
  bootstrap: DesiredPeer[],
  dataplane: RunningDataplane,
  log: Logger,
): { setRegistries: (registries: RegistryInfo[]) => void; stop: () => Promise<void> } {
  if (c.driver === 'vpp') {
    if (registries.length > 1) log.warn('several registries, but the relay does not fail over on a VPP member yet: the mesh CIDR stays with the first registry', { registry: registries[0].id });
    return {
      setRegistries: (list) => log.warn('the mesh\'s registries changed: a VPP member peers with them at the next start of "wgmesh member up"', { registries: list.map((r) => r.id) }),
      stop: async () => undefined,
    };
  }
  const driver = createDriver(c.driver, c.device, { log });
  let known = registries;
  const name = (k: string) => known.find((r) => r.publicKey === k)?.id ?? k;
  let failures = 0;
  const watch = watchRelayCarrier({
    registries,
    meshCidr: enrollment.meshCidr,
    keepalive: REGISTRY_KEEPALIVE,
    read: async () => (await driver.read()).peers,
    apply: registryPeersApply({ driver, setProtect: (keys) => dataplane.setProtect(keys), protect: registries.map((r) => r.publicKey), bootstrap }),
    moved: (change, peers) =>
      log.warn('the mesh CIDR moved to another registry', { from: name(change.from), to: name(change.to), reason: change.reason, silentMs: change.silentMs, allowedIps: Object.fromEntries(peers.map((p) => [name(p.publicKey), p.allowedIps.join(',')])) }),
    changed: (peers, removed) => log.info('registry peers changed', { registries: peers.map((p) => name(p.publicKey)), removed: removed.map(name), carrier: name(watch.carrier()) }),
    failed: (err) => failures++ % 60 === 0 && log.warn('cannot sample the device for the registries\' liveness; trying again', { error: err.message }),
  });
  if (registries.length > 1) log.info('relay carrier: the mesh CIDR goes through the first live registry', { registries: registries.map((r) => r.id), carrier: name(watch.carrier()) });
  return {
    setRegistries: (list) => {
      known = [...list, ...known.filter((r) => !list.some((l) => l.publicKey === r.publicKey))];
      watch.setRegistries(list);
    },
    stop: async () => {
      watch.stop();
      await driver.close();
    },
  };
}

const removeOptions = defineOptions([...clientOptions]);

const removeUsage = `Usage: wgmesh member remove <key|name|address> [options]

Asks the registry (members.remove over NATS) to remove a member: its peer on the hub device,
its tunnel address and its membership (name, key, address), and revokes its NATS credential
(its connections are closed within seconds). Every member drops it within milliseconds. The
member must enrol again, with a new token, to come back.

Options:
${formatOptionsHelp(removeOptions)}`;

function memberRemove(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh member remove', usage: removeUsage, options: removeOptions, positionals: true, failures: CLIENT_FAILURES }, async (c, rest) => {
    if (rest.length !== 1) throw new ConfigError('name exactly one member: public key, name or tunnel address (see --help)');
    const bus = await connectClient(c, null);
    try {
      const reply = await bus.request(Patterns.memberRemove, { member: rest[0] }, parseMemberRemoveReply, { timeoutMs: c.timeout });
      if (c.json) process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
      else process.stdout.write(`removed ${reply.name ?? reply.publicKey}${reply.address ? ` (${reply.address})` : ''}\n`);
      return EXIT.ok;
    } finally {
      await bus.close();
    }
  });
}
