export * from './start';
export * from './propagation';
export * from './spans';
export { AsyncLocalContextManager } from './context-manager';
