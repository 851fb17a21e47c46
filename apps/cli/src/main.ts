import { demoCommand } from './commands/demo';
import { resolverCommand } from '../../registry-resolver/src/main';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

const commands: Record<string, Command> = {
  resolver: { summary: 'run the registry-resolver (DNS-SD server) in the foreground', run: resolverCommand },
  demo: { summary: 'start NATS/Redis if needed, a resolver with demo peers, and show answers changing (npm start)', run: demoCommand },
};

const usage = `Usage: wgmesh <command> [options]

wgmesh: a fast, automatic WireGuard mesh. Members find each other through a registry that
serves DNS-SD (compatible with wgsd) and pushes changes over NATS.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "wgmesh <command> --help" for a command's options. Every option can also be given as an
environment variable or in a JSON file (--config <file>, or WGMESH_CONFIG).`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`wgmesh: unknown command "${name}"\n\n${usage}\n`);
    return 2;
  }
  return command.run(rest);
}

// Exit explicitly once the command is done: a service command returns only after closing its
// services, and handles such as a cluster's IPC channel must not keep the process alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`wgmesh: ${err.message}\n`);
    process.exit(1);
  },
);
