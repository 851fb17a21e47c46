'use strict';
// What `npm test` (run.js) says at the end, from jest's JSON report.
const path = require('node:path');

/** The prefix of the describe a skipped suite registers its reason under (libs/testing/src/skip.ts). */
const SKIPPED_PREFIX = 'skipped: ';

/** One line per test file with skipped tests: the file, how many, and the reasons its skipped suites give. */
function skippedSuiteLines(result, root) {
  const lines = [];
  for (const file of result.testResults) {
    const pending = file.assertionResults.filter((a) => a.status === 'pending' || a.status === 'todo');
    if (pending.length === 0) continue;
    const reasons = new Set(
      pending.map((a) => {
        const titled = a.ancestorTitles.find((t) => t.startsWith(SKIPPED_PREFIX));
        return titled ? titled.slice(SKIPPED_PREFIX.length) : `no reason given (${a.fullName})`;
      }),
    );
    lines.push(`${path.relative(root, file.name)}: ${pending.length} skipped: ${[...reasons].join('; ')}`);
  }
  return lines;
}

module.exports = { SKIPPED_PREFIX, skippedSuiteLines };
