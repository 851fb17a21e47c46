export * from './mesh-map';
export * from './view';
export * from './feed';
export * from './http';
export * from './service';
export * from './config';
