import { VppSim } from './sim';

// TEST DOUBLE as a process: `node -r ./bin/register.js libs/vpp-sim/src/cli.ts <socket> [api dir]`
// serves the simulator on <socket> until SIGINT/SIGTERM. Prints one line "ready <socket>" once
// listening (benchmarks run it apart from the client they measure; also handy by hand with
// `wgmesh dataplane --driver vpp --vpp-socket <socket>`).
async function main(argv: string[]): Promise<void> {
  const [socketPath, apiDir] = argv;
  if (!socketPath) {
    process.stderr.write('usage: vpp-sim <socket path> [api dir]\n');
    process.exit(2);
  }
  const sim = await VppSim.start({ socketPath, apiDir });
  process.stdout.write(`ready ${socketPath}\n`);
  const stop = () => void sim.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`vpp-sim: ${err.message}\n`);
  process.exit(1);
});
