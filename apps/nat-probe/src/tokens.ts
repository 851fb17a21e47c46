/** Injection tokens of the nat-probe modules. */
export const CONFIG = Symbol('NatProbeConfig');
export const LOGGER = Symbol('Logger');
export const BUS = Symbol('MeshBus');
export const ENROLLMENT = Symbol('Enrollment');
export const CLASSIFY = Symbol('Classify');
export const SAMPLE = Symbol('SampleMapping');
