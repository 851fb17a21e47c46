import { defineOptions, parseCommand, values } from '@wgmesh/config';
import { nodeOfSubject, parsePathReport, PathReportView, Patterns, readPathReport } from '@wgmesh/contracts';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';

/**
 * The lab's window on the members' nat-probe: run in the registry's namespace (where the mesh's
 * NATS listens on 127.0.0.1), it prints each member's whole path report as one JSON line every
 * time it changes (`node.*.paths` updates applied to the report held; a gap, or a member not
 * seen yet, fetches it with `node.<id>.paths.get`), and every `node.*.nat` event; it asks each
 * --node at start so that reports published before it subscribed are not missed. The lab reads
 * its output file (see mesh-paths.ts).
 *
 *   {"time":…,"msg":"watching"}
 *   {"time":…,"msg":"paths","report":PathReport}     (also "source":"get" for a paths.get reply)
 *   {"time":…,"msg":"nat","report":NatReport}
 */
const usage = `Usage: node -r ./bin/register.js libs/lab/src/paths-watch.ts --nats <url> --mesh <name> [--node <id>]…`;

const options = defineOptions([
  { key: 'nats', flag: 'nats', value: '<url>', parse: values.urls(['nats']), default: 'nats://127.0.0.1:4222', description: 'the mesh NATS' },
  { key: 'mesh', flag: 'mesh', value: '<name>', parse: values.name, default: 'lab', description: 'mesh name' },
  { key: 'creds', flag: 'creds', value: '<file>', parse: values.string, description: 'NATS credentials (when the lab NATS requires them)' },
  { key: 'node', flag: 'node', value: '<id>', parse: values.name, repeatable: true, description: 'ask these nodes for their current decisions at start' },
]);

function line(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
}

async function main(argv: string[]): Promise<number> {
  const command = parseCommand('paths-watch', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const logger = { error: (m: string) => line('transport error', { error: m }), warn: (m: string) => line('transport warning', { error: m }) };
  const bus = await MeshBus.connect({ servers: o.nats, mesh: o.mesh, name: 'wgmesh-lab-paths-watch', ...(o.creds ? { creds: o.creds } : {}), logger });
  const views = new Map<string, PathReportView>();
  const view = (node: string) => views.get(node) ?? views.set(node, new PathReportView()).get(node)!;
  const fetch = async (node: string) => {
    try {
      const report = await readPathReport((req) => bus.request(Patterns.pathsGet, req, parsePathReport, { node, timeoutMs: 2000 }));
      if (view(node).full(report)) line('paths', { source: 'get', report });
    } catch (err) {
      // Not up yet: its first update comes as an event, which this process now receives (and fetches the report for).
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
    }
  };
  bus.subscribe(
    Patterns.paths,
    (update, msg) => {
      const node = nodeOfSubject(msg.subject, o.mesh);
      if (!node) return;
      const v = view(node);
      const outcome = v.update(update);
      if (outcome === 'applied') line('paths', { report: v.report });
      else if (outcome === 'gap') void fetch(node);
    },
    { node: '*' },
  );
  bus.subscribe(Patterns.nat, (report) => line('nat', { report }), { node: '*' });
  await bus.raw.flush();
  line('watching');
  await Promise.all(o.node.map(fetch));
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
