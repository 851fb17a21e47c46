// Peer discovery's public surface (reached as @wgmesh/app/peer-discovery): its command, its
// options and their checks, enrolment, and starting it in-process (the CLI, tests, benchmarks).
export { parsePeerDiscoveryArgs, peerDiscoveryCommand, peerDiscoveryUsage } from './main';
export { checkPeerDiscoveryConfig, DEFAULT_NATS, enrollNatsUrl, enrols, peerDiscoveryOptions, registryAddress, type PeerDiscoveryConfig } from './config';
export { ensureEnrolled, EnrollmentError } from './member/enroll-client';
export { natsOverTunnel, runPeerDiscovery, startPeerDiscovery, type PeerDiscoveryDeps, type RunningPeerDiscovery } from './run';
