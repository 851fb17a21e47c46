import { explainRedisFailure, redisFailure } from './redis-errors';

const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
const socket = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6390`), { code });

describe('a Redis failure, told apart', () => {
  it.each([
    [socket('ECONNREFUSED'), 'unreachable'],
    [socket('ETIMEDOUT'), 'unreachable'],
    [reply('NOAUTH Authentication required.'), 'no-password'],
    [reply('WRONGPASS invalid username-password pair or user is disabled.'), 'wrong-password'],
    [reply("NOPERM User wgmesh-registry has no permissions to run the 'flushall' command"), 'no-permission'],
    [new Error('Connection is closed.'), 'other'],
  ])('%s → %s', (err, kind) => {
    expect(redisFailure(err)).toBe(kind);
  });

  it('names the server (never the password) and the way out', () => {
    const url = 'redis://wgmesh-registry:s3cret@127.0.0.1:6379';
    const texts = [socket('ECONNREFUSED'), reply('NOAUTH Authentication required.'), reply('WRONGPASS invalid username-password pair'), reply('NOPERM no')].map((e) => explainRedisFailure(e, url));
    for (const t of texts) expect(t).not.toContain('s3cret');
    expect(texts[0]).toMatch(/^nothing answers at redis:\/\/wgmesh-registry:\*\*\*@127\.0\.0\.1:6379 \(connect ECONNREFUSED/);
    expect(texts[1]).toMatch(/wants a user and password \(NOAUTH\): give them in the URL, redis:\/\/<user>:<password>@host:port/);
    expect(texts[2]).toMatch(/refused the user or password \(WRONGPASS\)/);
    expect(texts[3]).toMatch(/does not let this user do that \(NOPERM no\)/);
  });
});
