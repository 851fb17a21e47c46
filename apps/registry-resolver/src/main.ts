import { formatOptionsHelp, runCommand } from '@wgmesh/config';
import { checkResolverConfig, resolverOptions } from './config';
import { runResolver } from './run';

export const resolverUsage = `Usage: wgmesh resolver --zone <zone> [options]

Runs the registry-resolver in the foreground: an authoritative DNS-SD server (UDP and TCP),
compatible with wgsd, answering from an in-memory copy of the registry's peer table (loaded from
Redis, kept current by NATS peer events).

Options:
${formatOptionsHelp(resolverOptions)}

Example:
  wgmesh resolver --zone mesh.example. --listen 10.99.0.1:53 --nats nats://127.0.0.1:4222
  dig @10.99.0.1 _wireguard._udp.mesh.example. PTR`;

/** `wgmesh resolver …`: parse options, then run until a signal. Returns the exit code. */
export function resolverCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh resolver', usage: resolverUsage, options: resolverOptions, check: checkResolverConfig }, async (config) => {
    await runResolver(config);
    return 0;
  });
}
