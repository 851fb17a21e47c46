/** Injection tokens of the peer-discovery modules. */
export const CONFIG = Symbol('PeerDiscoveryConfig');
export const LOGGER = Symbol('Logger');
export const REDIS = Symbol('Redis');
/** The registry's MeshBus (one connection, its own). */
export const BUS = Symbol('MeshBus');
/** A member's BusRef (the bus over the tunnel, replaced when its credentials are renewed). */
export const BUS_REF = Symbol('BusRef');
export const DRIVER = Symbol('DataplaneDriver');
export const APPLY = Symbol('ApplyDesired');
export const ENROLLMENT = Symbol('Enrollment');
export const HUB_KEY = Symbol('HubKey');
/** Member mode: who takes a changed list of the mesh's registries in this process (`member up`), if anyone. */
export const REGISTRIES_CHANGED = Symbol('RegistriesChanged');
