// The CLI's public surface (reached as @wgmesh/app/cli): the option specs of the commands that
// deploy/ runs (tools/deploy checks the manifests against them). The command itself is main.ts.
export { upOptions as memberUpOptions } from './commands/member';
export { classifyOptions, serverOptions as natProbeServerOptions } from './commands/nat-probe';
export { initOptions as registryInitOptions, upOptions as registryUpOptions } from './commands/registry';
