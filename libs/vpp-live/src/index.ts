export * from './find';
export * from './config';
export * from './instance';
export * from './testing';
export * from './uplink';
export * from './test-net';
