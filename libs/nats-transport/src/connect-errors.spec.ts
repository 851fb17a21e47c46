import { explainNatsConnectFailure, natsConnectFailure } from './connect-errors';

const failure = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('a NATS connection failure, told apart', () => {
  it.each([
    [failure('CONNECTION_REFUSED'), undefined, 'unreachable'],
    [failure('ECONNREFUSED'), undefined, 'unreachable'],
    [failure('TIMEOUT'), '/x.creds', 'unreachable'],
    [failure('AUTHORIZATION_VIOLATION', "'Authorization Violation'"), undefined, 'no-credential'],
    [failure('AUTHORIZATION_VIOLATION', "'Authorization Violation'"), '/x.creds', 'credential-refused'],
    [new Error("'Authorization Violation'"), '/x.creds', 'credential-refused'],
    [failure('AUTHENTICATION_EXPIRED'), '/x.creds', 'credential-expired'],
    [new Error('something else'), undefined, 'other'],
  ])('%s (creds %s) → %s', (err, creds, kind) => {
    expect(natsConnectFailure(err, creds)).toBe(kind);
  });

  it('names the server, the credential and the way out', () => {
    const servers = 'nats://10.99.0.1:4222';
    expect(explainNatsConnectFailure(failure('CONNECTION_REFUSED'), { servers })).toBe(`nothing answers at ${servers} (CONNECTION_REFUSED): is nats-server running there and reachable from here? Give --nats <url> for another server`);
    expect(explainNatsConnectFailure(failure('AUTHORIZATION_VIOLATION'), { servers })).toMatch(/^NATS at nats:\/\/10\.99\.0\.1:4222 wants a credential and none was given \(Authorization Violation\): give --nats-creds <file>/);
    const refused = explainNatsConnectFailure(failure('AUTHORIZATION_VIOLATION'), { servers, creds: '/var/lib/wgmesh/nats.creds' });
    expect(refused).toMatch(/^NATS at nats:\/\/10\.99\.0\.1:4222 refused the credential \/var\/lib\/wgmesh\/nats\.creds \(Authorization Violation\)/);
    expect(refused).not.toMatch(/give --nats /);
    expect(explainNatsConnectFailure(new Error('boom'), { servers })).toBe(`cannot connect to NATS at ${servers}: boom`);
  });
});
