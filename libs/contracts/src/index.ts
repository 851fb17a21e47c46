export * from './validate';
export * from './names';
export * from './subjects';
export * from './peer';
export * from './messages';
