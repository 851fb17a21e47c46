export * from './keys';
export * from './secret';
export * from './errors';
export * from './device';
export * from './uapi-codec';
export * from './uapi-client';
export * from './wg-tools';
export * from './key-file';
