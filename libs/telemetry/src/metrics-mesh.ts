import type { Counter, Gauge } from 'prom-client';
import { defineCounter, defineGauge, defineHistogram, MetricsScope } from './metrics';

/**
 * The wgmesh metrics, defined on first use (a process shows only what its services use). Names,
 * labels and meaning are listed in docs/observability.md; keep the two in step.
 */

/** Components in `wgmesh_peers_known` and `wgmesh_peer_table_revision`. */
export type PeerComponent = 'resolver' | 'registry' | 'member' | 'dataplane';

/**
 * `wgmesh_errors_total{kind}`. Bounded: one of these kinds, never an error message.
 * - dns_responder: the DNS responder threw on a query (no answer sent)
 * - dns_tcp_timeout / dns_tcp_refused: a TCP client idle too long / over the connection cap
 * - invalid_message: a NATS message dropped before a handler (not JSON, too large, no reply subject)
 * - invalid_event: an event that failed validation (e.g. a bad `peers.events` payload)
 * - handler_error: a NATS handler threw
 * - peer_table_load: loading the peer table (Redis snapshot / `peers.snapshot`) failed, retried
 * - hub_read / hub_publish: reading the hub device / storing and publishing a change failed
 * - apply_failed: a dataplane apply failed on the device
 * - state_publish: a dataplane state update could not be published
 * - member_apply: sending the desired peers to the dataplane-programmer failed (retried)
 * - dns_pull: a member's DNS-SD pull failed
 * - stun / nat_probe: nat-probe's STUN server / NAT classification failed
 */
export type ErrorKind =
  | 'dns_responder'
  | 'dns_tcp_timeout'
  | 'dns_tcp_refused'
  | 'invalid_message'
  | 'invalid_event'
  | 'handler_error'
  | 'peer_table_load'
  | 'hub_read'
  | 'hub_publish'
  | 'hub_repair'
  | 'hub_peer_refused'
  | 'apply_failed'
  | 'apply_refused'
  | 'peer_refused'
  | 'state_publish'
  | 'member_apply'
  | 'dns_pull'
  | 'stun'
  | 'nat_probe';

/** Seconds; a device apply takes from well under a millisecond to about a second (10k peers). */
export const APPLY_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const meshMetrics = {
  peersKnown: () =>
    defineGauge('wgmesh_peers_known', 'Peers this component knows: resolver index, registry hub table, member peer table, dataplane device', ['component'], { sourced: true, aggregator: 'max' }),
  peerTableRevision: () => defineGauge('wgmesh_peer_table_revision', 'Revision of the peer table this component holds', ['component'], { sourced: true, aggregator: 'max' }),
  eventsPublished: () => defineCounter('wgmesh_events_published_total', 'Events published on NATS, by logical subject', ['event']),
  eventsConsumed: () => defineCounter('wgmesh_events_consumed_total', 'Events received on NATS subscriptions, by logical subject', ['event']),
  requestsReceived: () => defineCounter('wgmesh_requests_received_total', 'NATS requests received by this service, by logical subject', ['request']),
  errors: () => defineCounter('wgmesh_errors_total', 'Errors, by kind', ['kind']) as Counter<'kind'>,
  dataplaneApplies: () => defineCounter('wgmesh_dataplane_applies_total', 'Dataplane apply requests, by result (changed, unchanged, failed)', ['result']),
  dataplaneApplyDuration: () =>
    defineHistogram('wgmesh_dataplane_apply_duration_seconds', 'Time to apply desired peers to the device (queue, read, diff, apply)', ['driver'], APPLY_DURATION_BUCKETS),
  hubReads: () => defineCounter('wgmesh_hub_reads_total', 'Reads of the hub device by the registry watcher, by result (ok, failed)', ['result']),
  enrolments: () => defineCounter('wgmesh_enrolments_total', 'Enrolment requests, by result (enrolled, or the refusal code)', ['result']),
  memberApplies: () => defineCounter('wgmesh_member_applies_total', "A member's desired peer set sent to its dataplane, by result (applied, unchanged, failed)", ['result']),
  dnsPulls: () => defineCounter('wgmesh_dns_pulls_total', "A member's DNS-SD anti-entropy pulls (failures: wgmesh_errors_total{kind=\"dns_pull\"})"),
  dnsPullDisagreements: () => defineCounter('wgmesh_dns_pull_disagreements_total', "DNS-SD pulls that disagreed with the member's peer table (each reloads the snapshot)"),
  dnsCacheLookups: () => defineCounter('wgmesh_dns_cache_lookups_total', "The resolver's response cache, by result (hit, miss)", ['result']),
  dnsTcpConnections: () => defineGauge('wgmesh_dns_tcp_connections', 'Open DNS-over-TCP connections', [], { sourced: true }),
  // nat-probe (wired by apps/nat-probe)
  paths: () => defineGauge('wgmesh_paths', "This member's paths to other members, by kind (direct, relayed)", ['path']) as Gauge<'path'>,
  natType: () => defineGauge('wgmesh_nat_type', "This member's NAT as last classified: 1 for the current type (none, eim, edm, unknown), 0 for the others", ['nat']) as Gauge<'nat'>,
  stunRequests: () => defineCounter('wgmesh_stun_requests_total', "STUN requests handled by the registry's STUN server, by result (answered; refused: 420 for an unknown attribute or a change it cannot make; dropped: not STUN, malformed, rate-limited)", ['result']) as Counter<'result'>,
  natProbes: () => defineCounter('wgmesh_nat_probes_total', 'NAT classifications run by a member, by outcome (none, eim, edm, unknown)', ['nat']) as Counter<'nat'>,
  pathAttempts: () =>
    defineCounter(
      'wgmesh_path_attempts_total',
      'Direct paths tried for the pairs a member leads, by technique (direct: registry-observed endpoints; punch: hole punching; prediction: punching at predicted ports) and result (attempt, success, failure)',
      ['technique', 'result'],
    ) as Counter<'technique' | 'result'>,
  punchEvents: () =>
    defineCounter(
      'wgmesh_punch_events_total',
      'Hole punching on a member, by event: offers_sent, answers_received, no_answer, offers_answered, offers_refused, dropped (not from the key enrolled under that node, or late), spray_failures, nudges (a led attempt sending its initiation again)',
      ['event'],
    ) as Counter<'event'>,
};

/** Every `wgmesh_nat_type` value, so the gauge always shows one 1 and the rest 0. */
export const NAT_TYPE_LABELS = ['none', 'eim', 'edm', 'unknown'] as const;

/** nat-probe: the member's path counts (replace on every decision round). */
export function setPathCounts(counts: { direct: number; relayed: number }): void {
  const g = meshMetrics.paths();
  g.set({ path: 'direct' }, counts.direct);
  g.set({ path: 'relayed' }, counts.relayed);
}

/** nat-probe: the member's NAT type after a classification. */
export function setNatType(nat: (typeof NAT_TYPE_LABELS)[number]): void {
  const g = meshMetrics.natType();
  for (const t of NAT_TYPE_LABELS) g.set({ nat: t }, t === nat ? 1 : 0);
}

/** Counts one error of a kind (for code paths that have no counter of their own to read). */
export function countError(kind: ErrorKind): void {
  meshMetrics.errors().inc({ kind });
}

/** What `MeshNatsServer` offers (structural, so this library does not depend on the transport). */
export interface NatsServerStatsSource {
  stats(): { rejected: number; errors: number; patterns: Record<string, { received: number; rejected: number; errors: number }> };
  routes(): Array<{ pattern: string; kind: 'event' | 'request' }>;
}

/**
 * A NATS server's message counters, read at scrape time: events consumed and requests received
 * per logical subject, dropped messages and handler errors.
 */
export function watchNatsServer(scope: MetricsScope, server: NatsServerStatsSource): MetricsScope {
  const byKind = (kind: 'event' | 'request', label: string) => () => {
    const kinds = new Map(server.routes().map((r) => [r.pattern, r.kind]));
    return Object.entries(server.stats().patterns)
      .filter(([pattern]) => kinds.get(pattern) === kind)
      .map(([pattern, c]) => [{ [label]: pattern }, c.received] as const);
  };
  return scope
    .counters(meshMetrics.eventsConsumed(), byKind('event', 'event'))
    .counters(meshMetrics.requestsReceived(), byKind('request', 'request'))
    .counter(meshMetrics.errors(), { kind: 'invalid_message' }, () => server.stats().rejected)
    .counter(meshMetrics.errors(), { kind: 'handler_error' }, () => server.stats().errors);
}
