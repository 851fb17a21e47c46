import { dnsWorkerCount, MAX_AUTO_DNS_WORKERS } from './registry';

describe('registry up --dns-workers', () => {
  it.each([
    ['auto', 1, 1],
    ['auto', 2, 2],
    ['auto', 3, 3],
    ['auto', 16, MAX_AUTO_DNS_WORKERS],
    [1, 16, 1],
    [6, 2, 6],
  ] as const)('%p on %d cores: %d worker(s)', (option, cores, workers) => {
    expect(dnsWorkerCount(option, cores)).toBe(workers);
  });
});
