export * from './publisher';
export * from './keys';
export * from './tokens';
export * from './allocator';
export * from './members';
export * from './hub-watcher';
export * from './token-proof';
