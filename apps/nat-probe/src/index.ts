// nat-probe's public surface (reached as @wgmesh/app/nat-probe): its options and starting the
// member side or the STUN server in-process (the CLI's `member up`, `nat-probe server`, `registry up`).
export { natProbeMemberCommandOptions, natProbeMemberOptions, natProbeServerOptions, stunServerAddresses, type NatProbeMemberConfig, type NatProbeServerConfig } from './config';
export { startNatProbeMember, startNatProbeServer, type RunningNatProbeMember } from './run';
