import { VppRetvalError } from './errors';

/**
 * Names of common VNET_API_ERROR_* codes (vnet/error.h). Only codes that have been stable across
 * VPP releases are listed; any other negative retval is reported by number.
 */
export const VPP_API_ERRORS: ReadonlyMap<number, string> = new Map([
  [-1, 'UNSPECIFIED'],
  [-2, 'INVALID_SW_IF_INDEX'],
  [-3, 'NO_SUCH_FIB'],
  [-4, 'NO_SUCH_INNER_FIB'],
  [-5, 'NO_SUCH_LABEL'],
  [-6, 'NO_SUCH_ENTRY'],
  [-7, 'INVALID_VALUE'],
  [-8, 'INVALID_VALUE_2'],
  [-9, 'UNIMPLEMENTED'],
  [-10, 'INVALID_SW_IF_INDEX_2'],
  ...Array.from({ length: 10 }, (_, i) => [-11 - i, `SYSCALL_ERROR_${i + 1}`] as [number, string]),
  [-30, 'FEATURE_DISABLED'],
  [-31, 'INVALID_REGISTRATION'],
  [-50, 'NEXT_HOP_NOT_IN_FIB'],
  [-51, 'UNKNOWN_DESTINATION'],
  [-52, 'PREFIX_MATCHES_NEXT_HOP'],
  [-53, 'NEXT_HOP_NOT_FOUND_MP'],
  [-54, 'NO_MATCHING_INTERFACE'],
  [-57, 'INVALID_SRC_ADDRESS'],
  [-58, 'INVALID_DST_ADDRESS'],
  [-59, 'ADDRESS_LENGTH_MISMATCH'],
  [-60, 'ADDRESS_NOT_FOUND_FOR_INTERFACE'],
  [-62, 'IP6_NOT_ENABLED'],
  [-65, 'NO_SUCH_TABLE'],
  [-71, 'INVALID_INTERFACE'],
  [-73, 'INVALID_ARGUMENT'],
  [-74, 'UNEXPECTED_INTF_STATE'],
  [-75, 'TUNNEL_EXIST'],
  [-79, 'IF_ALREADY_EXISTS'],
  [-81, 'VALUE_EXIST'],
  [-97, 'INVALID_ADDRESS_FAMILY'],
  [-105, 'ADDRESS_IN_USE'],
  [-106, 'ADDRESS_NOT_IN_USE'],
  [-116, 'ENTRY_ALREADY_EXISTS'],
  [-126, 'UNSUPPORTED'],
  [-127, 'DUPLICATE_IF_ADDRESS'],
]);

/** "INVALID_VALUE" for -7; undefined when the code is not in the table. */
export function vppErrorName(retval: number): string | undefined {
  return VPP_API_ERRORS.get(retval);
}

/**
 * Returns the reply when its `retval` is 0 or positive; throws VppRetvalError naming the call,
 * the retval and its VNET_API_ERROR name otherwise. A reply without retval passes unchanged.
 */
export function checkRetval<T extends Record<string, unknown>>(call: string, reply: T): T {
  const retval = reply.retval;
  if (typeof retval === 'number' && retval < 0) throw new VppRetvalError(call, retval, vppErrorName(retval));
  return reply;
}
