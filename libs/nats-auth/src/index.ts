export * from './jwt';
export * from './permissions';
export * from './creds';
export * from './server-config';
export * from './authority';
export * from './connect';
export * from './token';
export * from './account-update';
