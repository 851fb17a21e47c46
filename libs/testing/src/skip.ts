/**
 * Suites that cannot run on this machine say why: `skipSuite` registers one skipped test under a
 * describe titled "skipped: <reason>", and `npm test` (tools/test/run.js) prints one line per
 * skipped suite with that reason at the end. The suite's body is not run (it may need what is
 * missing even to be collected).
 */
export const SKIPPED_PREFIX = 'skipped: ';

export function skipSuite(reason: string, name: string): void {
  describe(`${SKIPPED_PREFIX}${reason}`, () => {
    // (the one place a test is skipped on purpose, with its reason in the title above)
    const skip = it.skip;
    skip(name, () => undefined);
  });
}
