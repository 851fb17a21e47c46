// The registry resolver's public surface (reached as @wgmesh/app/registry-resolver): its command,
// its options and their check, and starting it in-process (the CLI's `registry up`, tests).
export { resolverCommand, resolverUsage } from './main';
export { checkResolverConfig, resolverOptions, type ResolverConfig } from './config';
export { runDnsWorker, runResolver, startResolver, type ResolverDeps, type RunningResolver } from './run';
export { DnsWorkers, type WorkerSupervisorOptions } from './workers';
