/** Injection tokens of the peer-discovery modules. */
export const CONFIG = Symbol('PeerDiscoveryConfig');
export const LOGGER = Symbol('Logger');
export const REDIS = Symbol('Redis');
export const BUS = Symbol('MeshBus');
export const DRIVER = Symbol('DataplaneDriver');
export const APPLY = Symbol('ApplyDesired');
export const ENROLLMENT = Symbol('Enrollment');
export const HUB_KEY = Symbol('HubKey');
