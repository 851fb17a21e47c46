// TEST DOUBLE: a simulator of VPP's binary API socket for tests and benchmarks (see README).
export * from './sim';
export * from './state';
export * from './message-ids';
