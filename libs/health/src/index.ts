export * from './readiness';
export * from './listen';
export * from './server';
export * from './cluster';
