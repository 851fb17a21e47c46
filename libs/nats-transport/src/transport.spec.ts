import { ContractError, Patterns } from '@wgmesh/contracts';
import { CLUSTER_CONNECT_TIMEOUT_MS, connectionOptions, natsServers, RECONNECT_WAIT_MS, TransportStats } from './index';
import { decodeBody, encodeJson } from './json';
import { logLine } from './log';
import { parsePattern, parseScope, subjectOf } from './routes';

describe('routes', () => {
  it('maps logical patterns to subjects of the mesh and node', () => {
    expect(subjectOf(Patterns.peerEvents, { mesh: 'prod' })).toBe('wgmesh.v1.prod.peers.events');
    expect(subjectOf(Patterns.dataplaneApply, { mesh: 'prod', node: 'a' })).toBe('wgmesh.v1.prod.node.a.dataplane.apply');
    expect(subjectOf(Patterns.nat, { mesh: 'prod', node: 'a' }, '*')).toBe('wgmesh.v1.prod.node.*.nat');
    expect(() => subjectOf(Patterns.nat, { mesh: 'prod' })).toThrow(/node/);
  });

  it('refuses patterns that are not in contracts and bad scopes', () => {
    expect(() => parsePattern('peers.event')).toThrow(ContractError);
    expect(() => parsePattern('wgmesh.v1.prod.peers.events')).toThrow(/not one of the contracts' Patterns/);
    expect(() => parseScope({ mesh: 'Prod' })).toThrow(/mesh/);
    expect(() => parseScope({ mesh: 'prod', node: 'a.b' })).toThrow(/node/);
  });
});

describe('wire format', () => {
  it('is plain JSON, bounded on decode', () => {
    expect(Buffer.from(encodeJson({ a: 1 })).toString()).toBe('{"a":1}');
    expect(Buffer.from(encodeJson(undefined)).toString()).toBe('null');
    expect(decodeBody(Buffer.from('[1,2]'))).toEqual([1, 2]);
    expect(() => decodeBody(Buffer.from('not json'))).toThrow(/not valid JSON/);
    expect(() => decodeBody(new Uint8Array(2 * 1024 * 1024))).toThrow(/more than/);
  });
});

describe('connection options', () => {
  it('reconnect forever and wait for the first connection; explicit options win', () => {
    expect(connectionOptions({ servers: 'nats://n:4222', name: 'svc' })).toEqual({
      servers: ['nats://n:4222'],
      name: 'svc',
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      waitOnFirstConnect: true,
    });
    expect(connectionOptions({ servers: [], connection: { reconnectTimeWait: 1000, user: 'u' } })).toMatchObject({ reconnectTimeWait: 1000, user: 'u' });
  });

  it('a cluster (several URLs, comma-separated or a list): in the order given, a short connect timeout', () => {
    expect(natsServers('nats://a:4222, nats://b:4222')).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(natsServers(['nats://a:4222,nats://b:4222', 'nats://c:4222'])).toEqual(['nats://a:4222', 'nats://b:4222', 'nats://c:4222']);
    expect(connectionOptions({ servers: 'nats://a:4222,nats://b:4222' })).toMatchObject({ servers: ['nats://a:4222', 'nats://b:4222'], noRandomize: true, timeout: CLUSTER_CONNECT_TIMEOUT_MS, pingInterval: 3000, maxPingOut: 2 });
    expect(connectionOptions({ servers: 'nats://a:4222' })).not.toHaveProperty('noRandomize');
  });
});

describe('stats and log lines', () => {
  it('counts per pattern and in total', () => {
    const stats = new TransportStats();
    stats.count('peers.events', 'received');
    stats.count('peers.events', 'rejected');
    stats.count('enroll', 'received');
    expect(stats.snapshot()).toEqual({
      received: 2,
      rejected: 1,
      errors: 0,
      patterns: { 'peers.events': { received: 1, rejected: 1, errors: 0 }, enroll: { received: 1, rejected: 0, errors: 0 } },
    });
  });

  it('writes logfmt, quoting values with spaces', () => {
    expect(logLine({ msg: 'message rejected', subject: 'wgmesh.v1.prod.peers.events', bytes: 8, skip: undefined })).toBe(
      'msg="message rejected" subject=wgmesh.v1.prod.peers.events bytes=8',
    );
  });
});
