import { MAX_PORT_STEP, type Behaviour, type NatReport, type NatType } from '@wgmesh/contracts';
import { canonicalIp, formatEndpoint, parseIp } from '@wgmesh/netaddr';
import type { StunAddress } from '@wgmesh/stun';
import { signed } from './path-words';

/**
 * From what the RFC 5780 tests observed to a classification, as a pure function (classify.ts runs
 * the tests). Vocabulary from RFC 4787; tests from RFC 5780 section 4.3 (mapping) and 4.4
 * (filtering):
 *
 *   test I     Binding to the server S = A1:P1 → mapped address M1, OTHER-ADDRESS A2:P2
 *   mapping    II: to A2:P1 → M2; M2 = M1: endpoint-independent. Else III: to A2:P2 → M3;
 *              M3 = M2: address-dependent, else address-and-port-dependent.
 *   filtering  II: to S with change IP and port → an answer (from A2:P2): endpoint-independent.
 *              Else III: to S with change port → an answer (from A1:P2): address-dependent,
 *              none: address-and-port-dependent.
 *
 * With a one-IP server (OTHER-ADDRESS has S's IP and another port) only the port can change:
 * mapping is tested by a Binding to A1:P2 (a different mapping: address-and-port-dependent, as
 * Linux MASQUERADE --random-fully; the same: endpoint-independent, though address-dependent
 * mapping would look the same), filtering by change port alone (no answer: address-and-port-
 * dependent; an answer: address-dependent at most, endpoint-independent not ruled out).
 */
export type NatClassification = Omit<NatReport, 'node' | 'publicKey' | 'at'>;

export type TestResult =
  | { readonly outcome: 'mapped'; readonly mapped: StunAddress; readonly from: StunAddress; readonly rttMs?: number; readonly transmissions?: number }
  | { readonly outcome: 'error'; readonly code: number; readonly reason: string }
  | { readonly outcome: 'timeout'; readonly waitedMs: number; readonly transmissions?: number }
  /** Not sent: the whole classification's time budget was spent. */
  | { readonly outcome: 'not-run' };

export interface NatObservations {
  /** S = A1:P1, the server probed. */
  server: StunAddress;
  /** This host's addresses (every interface) and the probing socket's port. */
  local: { addresses: readonly string[]; port: number };
  testI: TestResult;
  /** OTHER-ADDRESS from test I's answer, as sent (validated here). */
  otherAddress?: StunAddress;
  /** Filtering II: to S, change IP and port (two-IP servers only). */
  filteringChangeIpPort?: TestResult;
  /** Filtering III: to S, change port. */
  filteringChangePort?: TestResult;
  /** Mapping II: to A2:P1 (two-IP servers). */
  mappingAltIp?: TestResult;
  /** Mapping III: to A2:P2 (two-IP servers, when II differed from I). */
  mappingAltIpPort?: TestResult;
  /** One-IP servers: to A1:P2. */
  mappingAltPort?: TestResult;
  /**
   * Port allocation (after a destination-dependent mapping): Bindings to S from fresh sockets,
   * new mappings whose ports show, after the mapping tests', how the NAT allocates.
   */
  allocation?: readonly TestResult[];
  /** The time budget, for the method text when tests were not run. */
  budgetMs?: number;
}

/** How OTHER-ADDRESS is used: two IPs, one IP (port change only), or not at all (and why). */
export type OtherAddressUse = { kind: 'two-ip'; other: StunAddress } | { kind: 'one-ip'; other: StunAddress } | { kind: 'none'; why: string };

const ep = (a: StunAddress) => formatEndpoint({ ip: parseIp(a.ip), port: a.port });
const same = (a: StunAddress, b: StunAddress) => a.port === b.port && canonicalIp(a.ip) === canonicalIp(b.ip);

/**
 * Whether the server's OTHER-ADDRESS can be probed: the same family as the server, not the
 * server's own address, a port, and no special-purpose address (unspecified, multicast, broadcast;
 * loopback only for a loopback server), so a hostile server cannot point the probes elsewhere.
 */
export function useOtherAddress(server: StunAddress, other: StunAddress | undefined): OtherAddressUse {
  if (!other) return { kind: 'none', why: 'the server sent no OTHER-ADDRESS (no RFC 5780 support)' };
  const s = parseIp(server.ip);
  const o = parseIp(other.ip);
  const bad = (why: string): OtherAddressUse => ({ kind: 'none', why: `OTHER-ADDRESS ${ep(other)} ignored: ${why}` });
  if (o.family !== s.family) return bad('not the server’s address family');
  if (other.port === 0) return bad('port 0');
  if (same(server, other)) return bad('it is the server address itself');
  const b = o.bytes;
  const loop = (ip: typeof s) => (ip.family === 4 ? ip.bytes[0] === 127 : ip.bytes.every((x, i) => x === (i === 15 ? 1 : 0)));
  if (o.family === 4 && (b[0] === 0 || b[0] >= 224)) return bad('not a unicast address');
  if (o.family === 6 && (b.every((x) => x === 0) || b[0] === 0xff)) return bad('not a unicast address');
  if (loop(o) && !loop(s)) return bad('a loopback address from a server that is not on loopback');
  return canonicalIp(other.ip) === canonicalIp(server.ip) ? { kind: 'one-ip', other } : { kind: 'two-ip', other };
}

/** RFC 5780 section 4.3: the mapped address is this host's own address and the socket's port: no NAT. */
export function isLocalMapping(local: NatObservations['local'], mapped: StunAddress): boolean {
  return mapped.port === local.port && local.addresses.some((a) => canonicalIp(a) === canonicalIp(mapped.ip));
}

export const MAX_METHOD_CHARS = 1024;

export function classifyObservations(o: NatObservations): NatClassification {
  const server = ep(o.server);
  const steps: string[] = [];
  const base = { server, mappedAddress: null as string | null };
  const result = (nat: NatType, mapping: Behaviour, filtering: Behaviour): NatClassification => ({ ...base, nat, mapping, filtering, method: limit(steps.join('; ')) });

  const t1 = o.testI;
  if (t1.outcome !== 'mapped') {
    steps.push(`test I (Binding to ${server}): ${describeMiss(t1, o.budgetMs)}`);
    steps.push('nothing can be classified');
    return result('unknown', 'unknown', 'unknown');
  }
  const m1 = t1.mapped;
  base.mappedAddress = ep(m1);
  const local = isLocalMapping(o.local, m1);
  steps.push(`test I (Binding to ${server}): mapped ${ep(m1)}, ${local ? `this host's own address and port ${o.local.port}: no NAT` : `not this host's address and port ${o.local.port}: behind a NAT`}`);

  const use = useOtherAddress(o.server, o.otherAddress);
  if (use.kind === 'none') {
    steps.push(`${use.why}: only NAT or not can be decided, mapping and filtering behaviour cannot be tested`);
    return result(local ? 'none' : 'unknown', local ? 'endpoint-independent' : 'unknown', 'unknown');
  }
  if (use.kind === 'one-ip') steps.push(`the server has one IP (OTHER-ADDRESS ${ep(use.other)}): only port changes can be tested`);

  const filtering = use.kind === 'two-ip' ? filteringTwoIp(o, steps) : filteringOneIp(o, steps);
  let mapping: Behaviour;
  let dependent = false;
  if (local) {
    steps.push('mapping: endpoint-independent (no NAT), not tested');
    mapping = 'endpoint-independent';
  } else if (use.kind === 'two-ip') {
    ({ mapping, dependent } = mappingTwoIp(o, m1, use.other, steps));
  } else {
    mapping = mappingOneIp(o, m1, use.other, steps);
  }
  const nat: NatType = local ? 'none' : mapping === 'endpoint-independent' ? 'eim' : mapping !== 'unknown' || dependent ? 'edm' : 'unknown';
  const out = result(nat, mapping, filtering);
  if (nat === 'edm') {
    const step = portAllocation(o, steps);
    out.method = limit(steps.join('; '));
    if (step !== null) out.portStep = step;
  }
  return out;
}

/**
 * How an endpoint-dependent NAT allocates ports, from the new mappings made in one stretch, in
 * order (the mapping tests that got a mapping of their own, then the allocation tests; test I is
 * left out: the filtering tests' second came between): when every step between two is a multiple
 * (1-4×) of the smallest, in one direction, and that one is at most MAX_PORT_STEP, the NAT is
 * sequential with that step (a multiple means another flow took ports in between). Needs at
 * least two steps.
 */
export function portAllocation(o: NatObservations, steps: string[]): number | null {
  const ports: number[] = [];
  for (const t of [o.mappingAltIp, o.mappingAltIpPort, o.mappingAltPort, ...(o.allocation ?? [])]) {
    if (t?.outcome === 'mapped' && !ports.includes(t.mapped.port)) ports.push(t.mapped.port);
  }
  const missed = (o.allocation ?? []).find((t) => t.outcome !== 'mapped');
  if (!o.allocation?.length || missed) {
    steps.push(`port allocation (new sockets to ${ep(o.server)}): ${missed ? describeMiss(missed, o.budgetMs) : 'not run'}: not known whether ports can be predicted`);
    return null;
  }
  const deltas = ports.slice(1).map((p, i) => p - ports[i]);
  const shown = `mappings ${ports.join(', ')}`;
  if (deltas.length < 2) {
    steps.push(`port allocation: ${shown}: too few to tell`);
    return null;
  }
  const smallest = deltas.reduce((m, d) => (Math.abs(d) < Math.abs(m) ? d : m));
  const sequential = Math.abs(smallest) <= MAX_PORT_STEP && deltas.every((d) => d / smallest >= 1 && d / smallest <= 4 && d % smallest === 0);
  if (!sequential) {
    steps.push(`port allocation: ${shown} (steps ${deltas.map(signed).join(', ')}): not sequential, ports cannot be predicted`);
    return null;
  }
  steps.push(`port allocation: ${shown} (steps ${deltas.map(signed).join(', ')}): sequential, step ${signed(smallest)}: the next ports can be predicted`);
  return smallest;
}

function mappingTwoIp(o: NatObservations, m1: StunAddress, other: StunAddress, steps: string[]): { mapping: Behaviour; dependent: boolean } {
  const altIp = { ip: other.ip, port: o.server.port };
  const t2 = o.mappingAltIp;
  if (!t2 || t2.outcome !== 'mapped') {
    steps.push(`mapping test II (to ${ep(altIp)}): ${t2 ? describeMiss(t2, o.budgetMs) : 'not run'}: mapping unknown`);
    return { mapping: 'unknown', dependent: false };
  }
  if (same(t2.mapped, m1)) {
    steps.push(`mapping test II (to ${ep(altIp)}): mapped ${ep(t2.mapped)}, the same as test I: endpoint-independent mapping`);
    return { mapping: 'endpoint-independent', dependent: false };
  }
  steps.push(`mapping test II (to ${ep(altIp)}): mapped ${ep(t2.mapped)}, not the same as test I`);
  const t3 = o.mappingAltIpPort;
  if (!t3 || t3.outcome !== 'mapped') {
    steps.push(`mapping test III (to ${ep(other)}): ${t3 ? describeMiss(t3, o.budgetMs) : 'not run'}: the mapping depends on the destination, whether on its port too is unknown`);
    return { mapping: 'unknown', dependent: true };
  }
  if (same(t3.mapped, t2.mapped)) {
    steps.push(`mapping test III (to ${ep(other)}): mapped ${ep(t3.mapped)}, the same as test II: address-dependent mapping`);
    return { mapping: 'address-dependent', dependent: true };
  }
  steps.push(`mapping test III (to ${ep(other)}): mapped ${ep(t3.mapped)}, not the same as test II: address-and-port-dependent mapping`);
  return { mapping: 'address-and-port-dependent', dependent: true };
}

function mappingOneIp(o: NatObservations, m1: StunAddress, other: StunAddress, steps: string[]): Behaviour {
  const t = o.mappingAltPort;
  if (!t || t.outcome !== 'mapped') {
    steps.push(`mapping port test (to ${ep(other)}): ${t ? describeMiss(t, o.budgetMs) : 'not run'}: mapping unknown`);
    return 'unknown';
  }
  if (same(t.mapped, m1)) {
    steps.push(`mapping port test (to ${ep(other)}): mapped ${ep(t.mapped)}, the same as test I: endpoint-independent mapping (address-dependent mapping cannot be told apart with a one-IP server)`);
    return 'endpoint-independent';
  }
  steps.push(`mapping port test (to ${ep(other)}): mapped ${ep(t.mapped)}, not the same as test I: address-and-port-dependent mapping`);
  return 'address-and-port-dependent';
}

function filteringTwoIp(o: NatObservations, steps: string[]): Behaviour {
  const f2 = o.filteringChangeIpPort;
  if (f2?.outcome === 'mapped') {
    steps.push('filtering test II (change IP and port): answered: endpoint-independent filtering');
    return 'endpoint-independent';
  }
  if (!f2 || f2.outcome !== 'timeout') {
    steps.push(`filtering test II (change IP and port): ${f2 ? describeMiss(f2, o.budgetMs) : 'not run'}: filtering unknown`);
    return 'unknown';
  }
  const f3 = o.filteringChangePort;
  if (f3?.outcome === 'mapped') {
    steps.push(`filtering test II (change IP and port): no answer in ${f2.waitedMs} ms; test III (change port): answered: address-dependent filtering`);
    return 'address-dependent';
  }
  if (f3?.outcome === 'timeout') {
    steps.push(`filtering tests II (change IP and port) and III (change port): no answer in ${f2.waitedMs} and ${f3.waitedMs} ms: address-and-port-dependent filtering`);
    return 'address-and-port-dependent';
  }
  steps.push(`filtering test II (change IP and port): no answer in ${f2.waitedMs} ms; test III (change port): ${f3 ? describeMiss(f3, o.budgetMs) : 'not run'}: filtering unknown`);
  return 'unknown';
}

function filteringOneIp(o: NatObservations, steps: string[]): Behaviour {
  const f = o.filteringChangePort;
  if (f?.outcome === 'mapped') {
    steps.push('filtering (change port only): answered: address-dependent filtering at most (endpoint-independent cannot be told apart with a one-IP server)');
    return 'address-dependent';
  }
  if (f?.outcome === 'timeout') {
    steps.push(`filtering (change port only): no answer in ${f.waitedMs} ms: address-and-port-dependent filtering`);
    return 'address-and-port-dependent';
  }
  steps.push(`filtering (change port only): ${f ? describeMiss(f, o.budgetMs) : 'not run'}: filtering unknown`);
  return 'unknown';
}

function describeMiss(t: TestResult, budgetMs?: number): string {
  switch (t.outcome) {
    case 'timeout':
      return `no answer in ${t.waitedMs} ms${t.transmissions ? ` (${t.transmissions} transmissions)` : ''}`;
    case 'error':
      return `error ${t.code}${t.reason ? ` ${t.reason}` : ''}`;
    case 'not-run':
      return `not run (the ${budgetMs !== undefined ? `${budgetMs} ms ` : ''}time budget was spent)`;
    case 'mapped':
      return `mapped ${ep(t.mapped)}`;
  }
}

function limit(text: string): string {
  return text.length <= MAX_METHOD_CHARS ? text : `${text.slice(0, MAX_METHOD_CHARS - 1)}…`;
}
