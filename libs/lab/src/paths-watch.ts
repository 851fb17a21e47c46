import { OptionSpec, parseCommand, values } from '@wgmesh/config';
import { parsePathReport, Patterns } from '@wgmesh/contracts';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';

/**
 * The lab's window on the members' nat-probe: run in the registry's namespace (where the mesh's
 * NATS listens on 127.0.0.1), it prints every `node.*.paths` and `node.*.nat` event as one JSON
 * line, and asks `node.<id>.paths.get` of each --node at start so that reports published before
 * it subscribed are not missed. The lab reads its output file (see mesh-paths.ts).
 *
 *   {"time":…,"msg":"watching"}
 *   {"time":…,"msg":"paths","report":PathReport}     (also "source":"get" for a paths.get reply)
 *   {"time":…,"msg":"nat","report":NatReport}
 */
const usage = `Usage: node -r ./bin/register.js libs/lab/src/paths-watch.ts --nats <url> --mesh <name> [--node <id>]…`;

const options: OptionSpec[] = [
  { key: 'nats', flag: 'nats', value: '<url>', parse: values.urls(['nats']), default: 'nats://127.0.0.1:4222', description: 'the mesh NATS' },
  { key: 'mesh', flag: 'mesh', value: '<name>', parse: values.name, default: 'lab', description: 'mesh name' },
  { key: 'creds', flag: 'creds', value: '<file>', parse: values.string, description: 'NATS credentials (when the lab NATS requires them)' },
  { key: 'node', flag: 'node', value: '<id>', parse: values.name, repeatable: true, description: 'ask these nodes for their current decisions at start' },
];

function line(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
}

async function main(argv: string[]): Promise<number> {
  const command = parseCommand<{ nats: string; mesh: string; creds?: string; node: string[] }>('paths-watch', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const logger = { error: (m: string) => line('transport error', { error: m }), warn: (m: string) => line('transport warning', { error: m }) };
  const bus = await MeshBus.connect({ servers: o.nats, mesh: o.mesh, name: 'wgmesh-lab-paths-watch', ...(o.creds ? { creds: o.creds } : {}), logger });
  bus.subscribe(Patterns.paths, (report) => line('paths', { report }), { node: '*' });
  bus.subscribe(Patterns.nat, (report) => line('nat', { report }), { node: '*' });
  await bus.raw.flush();
  line('watching');
  await Promise.all(
    o.node.map(async (node) => {
      try {
        line('paths', { source: 'get', report: await bus.request(Patterns.pathsGet, {}, parsePathReport, { node, timeoutMs: 2000 }) });
      } catch (err) {
        // Not up yet: its first report comes as an event, which this process now receives.
        if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      }
    }),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await bus.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`paths-watch failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
