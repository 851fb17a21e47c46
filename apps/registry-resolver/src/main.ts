import { ConfigError, formatOptionsHelp, parseOptions } from '@wgmesh/config';
import { checkResolverConfig, resolverOptions, ResolverConfig } from './config';
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
export async function resolverCommand(argv: string[]): Promise<number> {
  let config: ResolverConfig;
  try {
    const parsed = parseOptions(resolverOptions, { argv, configEnv: 'WGMESH_CONFIG' });
    if (parsed.help) {
      process.stdout.write(`${resolverUsage}\n`);
      return 0;
    }
    if (parsed.rest.length > 0) throw new ConfigError(`unexpected argument "${parsed.rest[0]}" (see --help)`);
    config = checkResolverConfig(parsed.options as unknown as ResolverConfig);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`wgmesh resolver: ${err.message}\n`);
    return 2;
  }
  await runResolver(config);
  return 0;
}
