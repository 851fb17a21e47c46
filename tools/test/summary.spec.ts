import { SKIPPED_PREFIX as FROM_TESTING } from '@wgmesh/testing';

const { SKIPPED_PREFIX, skippedSuiteLines } = require('./summary.js') as {
  SKIPPED_PREFIX: string;
  skippedSuiteLines: (result: unknown, root: string) => string[];
};

describe('npm test: the skipped suites, one line each with the reason', () => {
  const test = (status: string, ancestorTitles: string[], title = 't') => ({ status, ancestorTitles, fullName: [...ancestorTitles, title].join(' ') });

  it('names each file with skipped tests, and the reasons its skipped suites give', () => {
    const result = {
      testResults: [
        { name: '/w/libs/a.spec.ts', assertionResults: [test('passed', ['a'])] },
        { name: '/w/libs/vpp.spec.ts', assertionResults: [test('pending', ['skipped: ../shared/vpp-api not found']), test('pending', ['skipped: ../shared/vpp-api not found'])] },
        { name: '/w/apps/x.spec.ts', assertionResults: [test('passed', ['x']), test('pending', ['x suite'], 'a case')] },
      ],
    };
    expect(skippedSuiteLines(result, '/w')).toEqual([
      'libs/vpp.spec.ts: 2 skipped: ../shared/vpp-api not found',
      'apps/x.spec.ts: 1 skipped: no reason given (x suite a case)',
    ]);
  });

  it('reads the reason where libs/testing puts it', () => {
    expect(SKIPPED_PREFIX).toBe(FROM_TESTING);
  });
});
