import { FlagCheck, parseHttpListen, probeCheck, Readiness, redisCheck } from './index';

describe('Readiness', () => {
  it('is ready only when every check passes, and explains each', async () => {
    const r = new Readiness();
    expect(await r.evaluate()).toEqual({ ready: false, checks: { startup: { ok: false, detail: 'starting: nothing registered yet' } } });
    const nats = new FlagCheck('nats', 'connecting');
    const remove = r.add(nats, { name: 'index', check: () => ({ ok: true, detail: 'revision 3, 2 peers' }) });
    expect(await r.evaluate()).toEqual({ ready: false, checks: { nats: { ok: false, detail: 'connecting' }, index: { ok: true, detail: 'revision 3, 2 peers' } } });
    nats.up('connected');
    expect((await r.evaluate()).ready).toBe(true);
    nats.down('disconnected');
    expect(await r.evaluate()).toMatchObject({ ready: false, checks: { nats: { ok: false, detail: 'disconnected' } } });
    remove();
    expect(r.names()).toEqual([]);
  });

  it('fails a check that throws, rejects or hangs, without waiting past the limit', async () => {
    const r = new Readiness();
    r.add(
      { name: 'throws', check: () => { throw new Error('boom'); } },
      { name: 'rejects', check: () => Promise.reject(new Error('no device')) },
      { name: 'hangs', check: () => new Promise(() => undefined) },
      { name: 'fine', check: async () => ({ ok: true, detail: 'ok' }) },
    );
    const started = Date.now();
    const report = await r.evaluate(100);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report).toEqual({
      ready: false,
      checks: {
        throws: { ok: false, detail: 'check failed: boom' },
        rejects: { ok: false, detail: 'check failed: no device' },
        hangs: { ok: false, detail: 'no answer within 100 ms' },
        fine: { ok: true, detail: 'ok' },
      },
    });
  });

  it('prefixes the checks of a scoped sink, refuses duplicates, and stops being ready when draining', async () => {
    const r = new Readiness();
    r.scoped('resolver').add({ name: 'nats', check: () => ({ ok: true, detail: 'connected' }) });
    r.scoped('registry').add({ name: 'nats', check: () => ({ ok: true, detail: 'connected' }) });
    expect(r.names()).toEqual(['resolver.nats', 'registry.nats']);
    expect(() => r.scoped('resolver').add({ name: 'nats', check: () => ({ ok: true, detail: '' }) })).toThrow(/already registered/);
    expect((await r.evaluate()).ready).toBe(true);
    r.draining();
    expect(await r.evaluate()).toMatchObject({ ready: false, checks: { shutdown: { ok: false, detail: 'shutting down' }, 'resolver.nats': { ok: true } } });
  });

  it('redisCheck follows the client status', async () => {
    let client: { status: string } | null = null;
    const c = redisCheck('redis', () => client, 'redis://127.0.0.1:6379');
    expect(c.check()).toEqual({ ok: false, detail: 'not started' });
    client = { status: 'reconnecting' };
    expect(c.check()).toEqual({ ok: false, detail: 'reconnecting (redis://127.0.0.1:6379)' });
    client.status = 'ready';
    expect(c.check()).toEqual({ ok: true, detail: 'connected (redis://127.0.0.1:6379)' });
  });

  it('probeCheck probes once at a time and reuses the outcome for cacheMs', async () => {
    let probes = 0;
    let fail = false;
    const c = probeCheck(
      'device',
      async () => {
        probes++;
        await new Promise((r) => setTimeout(r, 20));
        if (fail) throw new Error('device gone');
        return '3 peers';
      },
      { cacheMs: 50 },
    );
    const [a, b] = await Promise.all([c.check(), c.check()]);
    expect(a).toEqual({ ok: true, detail: '3 peers' });
    expect(b).toEqual(a);
    expect(probes).toBe(1);
    fail = true;
    expect(await c.check()).toEqual({ ok: true, detail: '3 peers' }); // cached
    expect(probes).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await c.check()).toEqual({ ok: false, detail: 'device gone' });
    expect(probes).toBe(2);
  });
});

describe('parseHttpListen', () => {
  it('takes addr:port, [v6]:port and off', () => {
    expect(parseHttpListen('127.0.0.1:9470')).toEqual({ host: '127.0.0.1', port: 9470 });
    expect(parseHttpListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHttpListen('OFF')).toBeNull();
    for (const bad of ['9470', 'localhost:9470', '127.0.0.1:70000', '::1:9470', '']) expect(() => parseHttpListen(bad)).toThrow();
  });
});
