export * from './validate';
export * from './names';
export * from './subjects';
export * from './peer';
export * from './messages';
export * from './dataplane';
export * from './enroll';
export * from './members';
