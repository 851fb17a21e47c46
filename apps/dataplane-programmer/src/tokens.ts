/** Injection tokens of the dataplane-programmer module. */
export const CONFIG = Symbol('DataplaneConfig');
export const LOGGER = Symbol('Logger');
export const DRIVER = Symbol('DataplaneDriver');
export const GUARD = Symbol('ApplyGuard');
