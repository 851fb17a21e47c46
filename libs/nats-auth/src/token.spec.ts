import { joinEnrollToken, splitEnrollToken } from './token';

describe('enrolment token with its NATS credential', () => {
  const jwt = 'eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVIn0.c2ln';
  it('joins and splits', () => {
    expect(splitEnrollToken(joinEnrollToken('wgm_abc', jwt))).toEqual({ token: 'wgm_abc', enrollJwt: jwt });
    expect(splitEnrollToken(' wgm_abc\n')).toEqual({ token: 'wgm_abc' });
    expect(joinEnrollToken('wgm_abc')).toBe('wgm_abc');
  });
  it('refuses a malformed credential part', () => {
    expect(() => splitEnrollToken('wgm_abc.notajwt')).toThrow(/malformed/);
    expect(() => joinEnrollToken('wgm.abc', jwt)).toThrow();
  });
});
