export * from './targets';
export * from './desired';
export * from './compare';
export * from './scheduler';
export * from './dns-pull';
export * from './member-state';
export * from './paths';
