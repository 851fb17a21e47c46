import { ConfigError, formatOptionsHelp, parseOptions, runCommand } from '@wgmesh/config';
import { checkPeerDiscoveryConfig, peerDiscoveryOptions, PeerDiscoveryConfig } from './config';
import { EnrollmentError } from './member/enroll-client';
import { runPeerDiscovery } from './run';

export const peerDiscoveryUsage = `Usage: wgmesh peer-discovery --mode registry|member [options]

Runs peer-discovery in the foreground.
  registry: reads the hub WireGuard device every --watch-interval ms, keeps the peer table in
            Redis and publishes each change on NATS (peers.events); answers peers.snapshot,
            enroll (pre-auth token → tunnel address → peer added through the hub's
            dataplane-programmer) and members.remove.
  member:   enrols once (--token), then keeps this node's direct peers in line with the table:
            NATS events within milliseconds, a DNS-SD pull every --dns-pull-interval s as
            anti-entropy; sends the desired set to its dataplane-programmer. On-demand mode
            (--on-demand, --connect) keeps only named peers; \`wgmesh connect\` adds more.
(\`wgmesh registry up\` and \`wgmesh member up\` run this together with the other services.)

Options:
${formatOptionsHelp(peerDiscoveryOptions)}`;

/** Parses argv into a checked config; throws ConfigError. Returns null for --help. */
export function parsePeerDiscoveryArgs(argv: string[]): PeerDiscoveryConfig | null {
  const parsed = parseOptions(peerDiscoveryOptions, { argv, configEnv: 'WGMESH_CONFIG' });
  if (parsed.help) return null;
  if (parsed.rest.length > 0) throw new ConfigError(`unexpected argument "${parsed.rest[0]}" (see --help)`);
  return checkPeerDiscoveryConfig(parsed.options);
}

/** `wgmesh peer-discovery …`: parse options, then run until a signal. Returns the exit code. */
export function peerDiscoveryCommand(argv: string[]): Promise<number> {
  const command = { name: 'wgmesh peer-discovery', usage: peerDiscoveryUsage, options: peerDiscoveryOptions, check: checkPeerDiscoveryConfig, failures: [EnrollmentError] };
  return runCommand(argv, command, async (config) => {
    await runPeerDiscovery(config);
    return 0;
  });
}
