import { createLogger, parseLevel } from './logger';

describe('createLogger', () => {
  it('writes one JSON object per line, filtered by level, with secrets redacted', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'test', level: 'info', write: (l) => lines.push(l) }).child({ mesh: 'm1' });
    log.debug('hidden');
    log.info('hello', { peers: 3, privateKey: 'AAAA', token: 'tok', err: new Error('bad') });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 'info', service: 'test', mesh: 'm1', msg: 'hello', peers: 3, privateKey: '[redacted]', token: '[redacted]', err: 'bad' });
    expect(lines[0]).not.toContain('AAAA');
  });

  it('parses levels', () => {
    expect(parseLevel(undefined)).toBe('info');
    expect(parseLevel('debug')).toBe('debug');
    expect(() => parseLevel('loud')).toThrow(/must be one of/);
  });
});
