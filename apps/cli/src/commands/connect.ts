import { CommandError, ConfigError, defineOptions, EXIT, formatOptionsHelp, runCommand, values } from '@wgmesh/config';
import { ConnectRequest, parseConnectReply, Patterns } from '@wgmesh/contracts';
import { PeerTarget } from '@wgmesh/peer-discovery';
import { CLIENT_FAILURES, clientOptions, connectClient, fetchPeerTable, localEnrollment } from './peers';

export const options = defineOptions([
  ...clientOptions,
  { key: 'node', flag: 'node', env: 'WGMESH_NODE', value: '<id>', parse: values.name, description: "the member to change [default: this node's enrolled name]" },
  { key: 'remove', flag: 'remove', parse: values.bool, description: 'drop these peers from the on-demand list instead' },
  { key: 'all', flag: 'all', parse: values.bool, description: 'back to full mesh: every member is a direct peer again' },
]);

export const connectUsage = `Usage: wgmesh connect <key|address|name>... [--remove] [--all] [options]

On-demand mode (members started with --on-demand or --connect): asks this member (or --node)
for direct tunnels to the named peers, and asks each named member for a tunnel back, over NATS
(node.<id>.connect). Both ends must want the tunnel: a peer WireGuard does not know is refused.
--remove drops peers again (on both ends); --all takes the member back to full mesh. A member in
full-mesh mode already has every peer and changes nothing. The list lasts until the member
restarts: give it as --connect to \`wgmesh member up\` to keep it.

Options:
${formatOptionsHelp(options)}

Examples:
  wgmesh connect 10.99.0.7            # by tunnel address
  wgmesh connect site-b site-c        # by member name
  wgmesh connect --all                # full mesh again`;

export function connectCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh connect', usage: connectUsage, options, positionals: true, failures: CLIENT_FAILURES }, async (c, targets) => {
    if (targets.length === 0 && !c.all) throw new ConfigError('name at least one peer (public key, tunnel address or name), or give --all (see --help)');
    const enrollment = localEnrollment(c);
    const node = c.node ?? enrollment?.name;
    if (!node) throw new ConfigError(`no --node given and this node is not enrolled (no enrolment state in ${c.stateDir})`);
    const flags = { ...(c.remove ? { remove: true } : {}), ...(c.all ? { all: true } : {}) };
    const bus = await connectClient(c, enrollment);
    const ask = (to: string, request: ConnectRequest) =>
      bus.request(Patterns.connect, request, parseConnectReply, { node: to, timeoutMs: c.timeout }).catch((err: Error) => {
        if ((err as { code?: string }).code === 'no_responders') throw new CommandError(`member "${to}" does not answer (is \`wgmesh member up\` running there?)`);
        throw err;
      });
    try {
      const reply = await ask(node, { targets, ...flags });
      // The other end of each tunnel: every named member is asked to want this node too.
      const back: Array<{ node: string; mode: string } | { node: string; error: string }> = [];
      if (!c.all) {
        const table = (await fetchPeerTable(bus, c.timeout)).peers;
        const self = table.find((p) => p.name === node) ?? (enrollment && table.find((p) => p.publicKey === enrollment.publicKey));
        const others = [...new Set(table.filter((p) => p.name && p.name !== node && targets.some((t) => new PeerTarget(t).matches(p))).map((p) => p.name!))];
        for (const other of others) {
          if (!self) {
            back.push({ node: other, error: `"${node}" is not in the registry's table` });
            continue;
          }
          try {
            back.push({ node: other, mode: (await ask(other, { targets: [self.publicKey], ...flags })).mode });
          } catch (err) {
            back.push({ node: other, error: (err as Error).message });
          }
        }
      }
      if (c.json) process.stdout.write(`${JSON.stringify({ ...reply, node, back }, null, 2)}\n`);
      else {
        process.stdout.write(reply.mode === 'full' ? `${node}: full mesh, ${reply.peers.length} direct peers\n` : `${node}: on-demand [${reply.targets.join(', ')}], ${reply.peers.length} direct peers now\n`);
        for (const b of back) process.stdout.write('error' in b ? `${b.node}: not asked back: ${b.error}\n` : `${b.node}: ${b.mode === 'full' ? 'full mesh (already wants every peer)' : `${c.remove ? 'dropped' : 'wants'} ${node} too`}\n`);
        if (!c.remove && !c.all && reply.mode === 'on-demand' && reply.peers.length === 0) process.stderr.write(`note: no member with an endpoint matches ${targets.join(', ')} yet; its tunnel comes up when one does\n`);
      }
      return back.some((b) => 'error' in b) ? EXIT.failure : EXIT.ok;
    } finally {
      await bus.close();
    }
  });
}
