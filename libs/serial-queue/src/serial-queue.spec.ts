import { SerialQueue } from './index';

describe('SerialQueue', () => {
  it('runs jobs one at a time, in the order asked', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let release!: () => void;
    const first = q.run(async () => {
      log.push('a start');
      await new Promise<void>((r) => (release = r));
      log.push('a end');
      return 1;
    });
    const second = q.run(() => {
      log.push('b');
      return 2;
    });
    await Promise.resolve();
    expect(log).toEqual(['a start']);
    release();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(log).toEqual(['a start', 'a end', 'b']);
  });

  it('hands a failure to its own caller only and goes on', async () => {
    const q = new SerialQueue();
    const failed = q.run(() => Promise.reject(new Error('boom')));
    const next = q.run(() => 'after');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('after');
  });

  it('is idle once every job asked so far has settled', async () => {
    const q = new SerialQueue();
    let done = false;
    void q.run(() => new Promise<void>((r) => setTimeout(r, 1))).then(() => (done = true));
    void q.run(() => Promise.reject(new Error('ignored'))).catch(() => undefined);
    await q.idle();
    expect(done).toBe(true);
  });
});
