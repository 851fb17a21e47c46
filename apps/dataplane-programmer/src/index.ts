// The dataplane programmer's public surface (reached as @wgmesh/app/dataplane-programmer): its
// command, its options, and starting it in-process (the CLI's `member up` and `registry up`, tests).
export { dataplaneCommand, dataplaneUsage } from './main';
export { dataplaneOptions, driverOptions, type DataplaneConfig } from './config';
export { runDataplaneProgrammer, startDataplaneProgrammer, type DataplaneDeps, type RunningDataplane } from './run';
