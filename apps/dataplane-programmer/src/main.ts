import { formatOptionsHelp, runCommand } from '@wgmesh/config';
import { dataplaneOptions, DataplaneConfig } from './config';
import { runDataplaneProgrammer } from './run';

export const dataplaneUsage = `Usage: wgmesh dataplane --node <id> [options]

Runs the dataplane-programmer in the foreground: it owns one WireGuard device, applies the
desired peers it receives on NATS (wgmesh.v1.<mesh>.node.<id>.dataplane.apply) as one batched
change, and publishes the device's actual state (…node.<id>.dataplane.state). Fail-static: when
NATS is gone, or when this service stops, the device keeps running as it is; on restart it is
adopted unchanged. Protected peers (the registry) are never removed.

Options:
${formatOptionsHelp(dataplaneOptions)}

Example (a member with wireguard-go):
  wgmesh dataplane --node site-a --device wg0 --create --private-key-file /etc/wgmesh/wg0.key \\
    --listen-port 51820 --address 10.99.0.5/16 --protect <registry public key>`;

/** `wgmesh dataplane …`: parse options, then run until a signal. Returns the exit code. */
export function dataplaneCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh dataplane', usage: dataplaneUsage, options: dataplaneOptions }, async (config: DataplaneConfig) => {
    await runDataplaneProgrammer(config);
    return 0;
  });
}
