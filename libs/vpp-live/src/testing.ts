import { FindVppOptions, VppInstall, vppAvailability } from './find';

/**
 * `describe` for suites that need a live VPP (found as findVpp finds a user's install). Without
 * one the suite is skipped and says why on the terminal; a machine with VPP runs it, CI included.
 * Also skipped (with the reason) when not root: VPP runs in a network namespace of its own.
 */
export function describeWithVpp(name: string, body: (install: () => VppInstall) => void, opts: FindVppOptions = {}): void {
  const found = vppAvailability(opts);
  const reason = found.reason ?? (process.getuid?.() !== 0 ? 'live VPP tests need root (network namespaces)' : undefined);
  if (reason !== undefined) {
    // The body is not run: a skipped suite creates nothing (no temporary directory to leave behind).
    process.stderr.write(`\n${name}: skipped: ${reason}\n`);
    // As @wgmesh/testing's skipSuite (not imported: the CLI ships this lib, and that kit pulls in
    // test-only packages): one skipped test under "skipped: <reason>", which npm test lists.
    describe(`skipped: ${reason}`, () => {
      const skip = it.skip;
      skip(name, () => undefined);
    });
    return;
  }
  describe(name, () => body(() => found.install as VppInstall));
}
