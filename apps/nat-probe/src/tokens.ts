/** Injection tokens of the nat-probe modules. */
export const CONFIG = Symbol('NatProbeConfig');
export const LOGGER = Symbol('Logger');
/** The member's BusRef (the bus over the tunnel, replaced when its credentials are renewed). */
export const BUS_REF = Symbol('BusRef');
export const ENROLLMENT = Symbol('Enrollment');
export const CLASSIFY = Symbol('Classify');
export const SAMPLE = Symbol('SampleMapping');
