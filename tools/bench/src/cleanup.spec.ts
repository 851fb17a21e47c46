import { Cleanup } from './cleanup';

describe('Cleanup', () => {
  it('runs steps newest first, once, and goes on after a failing step', async () => {
    const cleanup = new Cleanup();
    const done: string[] = [];
    const reports: string[] = [];
    cleanup.add('a', () => void done.push('a'));
    const runB = cleanup.add('b', () => void done.push('b'));
    cleanup.add('c', () => {
      throw new Error('boom');
    });
    cleanup.add('d', async () => void done.push('d'));
    await runB();
    await runB();
    await cleanup.runAll((m) => reports.push(m));
    await cleanup.runAll((m) => reports.push(m));
    expect(done).toEqual(['b', 'd', 'a']);
    expect(reports).toEqual(['cleanup: c failed: boom']);
  });

  it('waits for a step another caller is running before it resolves', async () => {
    const cleanup = new Cleanup();
    let release!: () => void;
    let finished = false;
    const slow = cleanup.add('slow', () => new Promise<void>((r) => (release = r)).then(() => void (finished = true)));
    const running = slow();
    const all = cleanup.runAll();
    let allDone = false;
    void all.then(() => (allDone = true));
    await Promise.resolve();
    expect(allDone).toBe(false);
    release();
    await all;
    expect(finished).toBe(true);
    await running;
  });
});
