import { ContractError } from './validate';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", not starting or ending with "-"';

/** A mesh name or node id: a DNS-label-like token, safe inside a NATS subject, a KV key and a Redis key. */
export function parseName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw new ContractError(path, NAME_RULE);
  return value;
}

/** The node id of the registry's own hub device (its dataplane-programmer serves `node.registry.…`). */
export const REGISTRY_NODE = 'registry';

/**
 * Node ids of further registries of a mesh (high availability): "registry-<x>". No member may
 * enrol under one (its credential would cover that hub's subjects).
 */
export function isRegistryNodeId(name: string): boolean {
  return name === REGISTRY_NODE || name.startsWith(`${REGISTRY_NODE}-`);
}

/**
 * Node ids no member may enrol under, with why. A member's name is its node id: its NATS
 * credential covers `node.<name>.…`, so a member named like the registry's hub would be given the
 * right to program the hub. Also refused: names the system gives its own NATS users, so that no
 * log line or `nats server report` can mistake a member for them.
 */
export const RESERVED_NODE_IDS: Readonly<Record<string, string>> = {
  [REGISTRY_NODE]: "it is the registry's own node id (its hub device)",
  enroll: 'it names the enrolment credentials',
  system: "it names the NATS system account's user",
};

/**
 * A member's node id: a valid name (parseName) that is not reserved (RESERVED_NODE_IDS, plus
 * `alsoReserved`, e.g. a registry configured with another --registry-node). The error names the rule.
 */
export function parseNodeId(value: unknown, path: string, alsoReserved: readonly string[] = []): string {
  const name = parseName(value, path);
  const why = Object.prototype.hasOwnProperty.call(RESERVED_NODE_IDS, name)
    ? RESERVED_NODE_IDS[name]
    : isRegistryNodeId(name)
      ? 'names starting with "registry-" are the node ids of a mesh\'s further registries'
      : alsoReserved.includes(name)
        ? "it is this registry's own node id"
        : null;
  if (why) throw new ContractError(path, `"${name}" is reserved: ${why}; choose another name`);
  return name;
}
