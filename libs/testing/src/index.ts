export * from './wait';
export * from './process';
export * from './dig';
export * from './dns-client';
export * from './dns-fuzz';
export * from './e2e';
export * from './otlp-receiver';
export * from './http';
