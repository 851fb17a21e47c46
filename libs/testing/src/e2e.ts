import { skipSuite } from './skip';

/**
 * `describe` for end-to-end suites that need the machine (root, network namespaces,
 * wireguard-go…). When `problems` is not empty the suite FAILS with the list, so a CI machine
 * that lost a package cannot pass by running nothing; `WGMESH_SKIP_E2E=1` skips the suites
 * instead (said at the end of npm test), for developers on machines that cannot run them.
 */
export function describeE2E(name: string, problems: string[], body: () => void): void {
  if (process.env.WGMESH_SKIP_E2E === '1') {
    skipSuite('WGMESH_SKIP_E2E=1 (end-to-end suites are skipped)', name);
    return;
  }
  if (problems.length > 0) {
    describe(name, () => {
      it('has what it needs on this machine', () => {
        throw new Error(`cannot run this end-to-end suite here (set WGMESH_SKIP_E2E=1 to skip it):\n  ${problems.join('\n  ')}`);
      });
    });
    return;
  }
  describe(name, body);
}
