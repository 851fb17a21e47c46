/** Injection tokens of the resolver module. */
export const CONFIG = Symbol('ResolverConfig');
export const LOGGER = Symbol('Logger');
export const REDIS = Symbol('Redis');
