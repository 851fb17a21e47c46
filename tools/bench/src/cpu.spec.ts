import { parseProcStat, parseSystemStat } from './cpu';

describe('/proc parsers', () => {
  it('reads utime + stime and the process group, whatever the command name holds', () => {
    const line = '4242 (node (worker) 1) S 4200 4100 4100 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 11 0 9999 1000 100 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ pgrp: 4100, ticks: 1234 + 567 });
  });

  it('reads busy and interrupt ticks from /proc/stat', () => {
    const text = 'cpu  44846 10 15456 177228 1119 20 1249 144 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n';
    expect(parseSystemStat(text)).toEqual({ busy: 44846 + 10 + 15456 + 20 + 1249 + 144, interrupts: 20 + 1249, total: 44846 + 10 + 15456 + 177228 + 1119 + 20 + 1249 + 144 });
  });
});

