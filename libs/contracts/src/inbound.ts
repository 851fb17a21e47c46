import { parseDataplaneApplyRequest, parseDataplaneStateGetRequest, parseDataplaneStateUpdate } from './dataplane';
import { parseCredentialRequest, parseEnrollRequest, parseRegistriesMessage, parseRegistriesRequest } from './enroll';
import { parseConnectRequest, parseMemberRemoveRequest } from './members';
import { parsePeerEvent, parseSnapshotRequest } from './messages';
import { parseAddressedPathReport, parseNatReport, parsePathsGetRequest, parsePathUpdate, parsePunchMessage } from './nat';
import { Pattern } from './subjects';

/** Validates a decoded message body; throws a ContractError naming the field and the expected form. */
export type InboundParser = (value: unknown) => unknown;

/**
 * What a receiver of each pattern accepts: the event, or the request (not the reply). The NATS
 * transport checks every inbound message against this before any handler sees it, so a bad
 * message is refused the same way on every subject (counted, logged, and for a request answered
 * with `invalid_request`). A new pattern needs its entry here (the type makes it so).
 */
export const INBOUND = {
  'peers.events': parsePeerEvent,
  'peers.snapshot': parseSnapshotRequest,
  enroll: parseEnrollRequest,
  'registries.events': parseRegistriesMessage,
  'registries.get': parseRegistriesRequest,
  'members.remove': parseMemberRemoveRequest,
  'node.{node}.dataplane.apply': parseDataplaneApplyRequest,
  'node.{node}.dataplane.state': parseDataplaneStateUpdate,
  'node.{node}.dataplane.state.get': parseDataplaneStateGetRequest,
  'node.{node}.nat': parseNatReport,
  'node.{node}.paths': parsePathUpdate,
  'node.{node}.paths.get': parsePathsGetRequest,
  'node.{node}.paths.from.{from}': parseAddressedPathReport,
  'node.{node}.punch.{from}': parsePunchMessage,
  'node.{node}.connect': parseConnectRequest,
  'node.{node}.credential': parseCredentialRequest,
} as const satisfies Readonly<Record<Pattern, InboundParser>>;

/** What a receiver of pattern P gets once the transport checked it: the type its parser returns. */
export type InboundOf<P extends Pattern> = ReturnType<(typeof INBOUND)[P]>;

/** The inbound parser of a pattern, or undefined for a string that is not one of `Patterns`. */
export function inboundParser(pattern: string): InboundParser | undefined {
  return Object.prototype.hasOwnProperty.call(INBOUND, pattern) ? INBOUND[pattern as Pattern] : undefined;
}
