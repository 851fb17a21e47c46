import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { demoCommand } from './commands/demo';
import { resolverCommand } from '@wgmesh/app/registry-resolver';
import { dataplaneCommand } from '@wgmesh/app/dataplane-programmer';
import { peerDiscoveryCommand } from '@wgmesh/app/peer-discovery';
import { connectCommand } from './commands/connect';
import { memberCommand } from './commands/member';
import { peersCommand } from './commands/peers';
import { registryCommand } from './commands/registry';
import { statusCommand } from './commands/status';
import { labCommand } from '@wgmesh/lab';
import { natProbeCommand } from './commands/nat-probe';
import { watchCommand } from './commands/watch';
import { exitWithNpmWrapper } from './wrapper';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

const commands: Record<string, Command> = {
  registry: { summary: 'the registry role: init, token create|list|revoke, up (hub device + peer-discovery + resolver)', run: registryCommand },
  member: { summary: 'the member role: up (enrol, device, dataplane-programmer, peer-discovery), remove', run: memberCommand },
  peers: { summary: "print the registry's peer table", run: peersCommand },
  status: { summary: "show how a node reaches each member: direct or relayed, endpoint, handshake, bytes", run: statusCommand },
  watch: { summary: 'print what happens in the mesh as it happens: peer table, NAT, path decisions, device changes (or --json)', run: watchCommand },
  connect: { summary: 'ask a member for direct tunnels to named peers (on-demand mode)', run: connectCommand },
  'peer-discovery': { summary: 'run peer-discovery alone (--mode registry|member) in the foreground', run: peerDiscoveryCommand },
  resolver: { summary: 'run the registry-resolver (DNS-SD server) in the foreground', run: resolverCommand },
  dataplane: { summary: 'run the dataplane-programmer (applies desired peers to a WireGuard device) in the foreground', run: dataplaneCommand },
  'nat-probe': { summary: 'STUN server (RFC 5780 behaviour discovery) and NAT classification: server, classify', run: natProbeCommand },
  lab: { summary: 'the mesh in network namespaces: up (registry + members behind NATs, pair table), run (npm start), down, status', run: labCommand },
  demo: { summary: 'resolver-only demo (no root): NATS/Redis if needed, a resolver with demo peers, answers changing', run: demoCommand },
};

/** The version in the workspace's package.json (the nearest one named wgmesh above this file: sources or dist/). */
function version(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wgmesh' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

const usage = `Usage: wgmesh <command> [options]
       wgmesh --version

wgmesh: a fast, automatic WireGuard mesh. Members find each other through a registry that
serves DNS-SD (compatible with wgsd) and pushes changes over NATS.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(Math.max(...Object.keys(commands).map((n) => n.length)) + 1)} ${c.summary}`)
  .join('\n')}

Run "wgmesh <command> --help" for a command's options. Every option can also be given as an
environment variable or in a JSON file (--config <file>, or WGMESH_CONFIG).`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`wgmesh ${version()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`wgmesh: unknown command "${name}"\n\n${usage}\n`);
    return 2;
  }
  return command.run(rest);
}

// Under `npx wgmesh …` / `npm start`: stop with npm (its shell does not pass signals on).
exitWithNpmWrapper();

// Exit explicitly once the command is done: a service command returns only after closing its
// services, and handles such as a cluster's IPC channel must not keep the process alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`wgmesh: ${err.message}\n`);
    process.exit(1);
  },
);
