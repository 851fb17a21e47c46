export * from './peer-store';
export * from './keys';
export * from './canonical';
export * from './paging';
export * from './redis-errors';
