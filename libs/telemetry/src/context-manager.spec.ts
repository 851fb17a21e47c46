import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalContextManager } from './context-manager';

const KEY = createContextKey('test');

describe('AsyncLocalContextManager', () => {
  const manager = new AsyncLocalContextManager();
  const ctx = ROOT_CONTEXT.setValue(KEY, 'v');
  afterAll(() => manager.disable());

  it('is the root context outside `with`', () => {
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('keeps the context across awaits and timers inside `with`', async () => {
    const seen = await manager.with(ctx, async (a: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return [a, manager.active().getValue(KEY)];
    }, undefined, 7);
    expect(seen).toEqual([7, 'v']);
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('binds functions to a context and leaves other values alone', () => {
    const bound = manager.bind(ctx, function (this: { n: number }, x: number) {
      return [this.n + x, manager.active().getValue(KEY)];
    });
    expect(bound.call({ n: 1 }, 2)).toEqual([3, 'v']);
    const obj = { a: 1 };
    expect(manager.bind(ctx, obj)).toBe(obj);
  });
});
