export * from './mirror';
export * from './snapshot';
