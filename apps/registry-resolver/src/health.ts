import { Patterns } from '@wgmesh/contracts';
import { FlagCheck, ReadinessSink } from '@wgmesh/health';
import { redactUrl } from '@wgmesh/log';
import type { MeshNatsServer } from '@wgmesh/nats-transport';
import { dnsQueryMetrics, meshMetrics, MetricsScope, watchNatsServer } from '@wgmesh/telemetry';
import type { ResolverConfig } from './config';
import type { DnsService } from './dns.service';
import type { PeerTableService } from './peer-table.service';

export interface ResolverParts {
  config: ResolverConfig;
  strategy: MeshNatsServer;
  dns: DnsService;
  table: PeerTableService;
}

export interface ResolverHealth {
  /** Call once `peers.events` is subscribed. */
  subscribed(): void;
  dispose(): void;
}

/**
 * The resolver's readiness checks and metric sources.
 * Ready: `nats` (connected and subscribed to peer events), `index` (the peer table loaded from
 * the Redis snapshot) and `dns` (answering). Metrics are read from the resolver's own counters at
 * scrape time; per-query DNS metrics are recorded in dns.service.ts.
 */
export function watchResolver(parts: ResolverParts, readiness?: ReadinessSink): ResolverHealth {
  const { config, strategy, dns, table } = parts;
  const nats = new FlagCheck('nats', `connecting to ${redactUrl(config.nats)}`);
  let connected = false;
  let subscribed = false;
  const update = (status: string) => {
    if (connected && subscribed) nats.up(`subscribed to peer events on ${redactUrl(config.nats)}`);
    else if (connected) nats.down('connected, subscribing');
    else nats.down(`${status} (${redactUrl(config.nats)})`);
  };
  const sub = strategy.status.subscribe((s) => {
    connected = s === 'connected';
    update(String(s));
  });
  const removeChecks = readiness?.add(
    nats,
    {
      name: 'index',
      check: () => {
        const m = table.mirror;
        if (m.ready) return { ok: true, detail: `revision ${m.revision}, ${table.index.size} peers` };
        const failures = m.stats().loadFailures;
        return { ok: false, detail: `loading the peer table from Redis${failures ? ` (${failures} failed attempts so far)` : ''}` };
      },
    },
    {
      name: 'dns',
      check: () => (dns.stats() ? { ok: true, detail: `answering on ${config.listen.host}:${dns.port}` } : { ok: false, detail: 'not answering yet (waiting for the peer table)' }),
    },
  );

  const m = meshMetrics;
  dnsQueryMetrics(); // registers the DNS query families, so they show from the start
  const serverStats = () => dns.stats();
  const scope = watchNatsServer(new MetricsScope(), strategy)
    .gauge(m.peersKnown(), { component: 'resolver' }, () => table.index.size)
    .gauge(m.peerTableRevision(), { component: 'resolver' }, () => table.mirror.revision)
    .gauge(m.dnsTcpConnections(), {}, () => serverStats()?.tcpOpen ?? 0)
    .counter(m.dnsCacheLookups(), { result: 'hit' }, () => table.responder.stats().cacheHits)
    .counter(m.dnsCacheLookups(), { result: 'miss' }, () => table.responder.stats().cacheMisses)
    // Refused where they are refused: by the transport, against the contract.
    .counter(m.errors(), { kind: 'invalid_event' }, () => strategy.stats().patterns[Patterns.peerEvents]?.rejected ?? 0)
    .counter(m.errors(), { kind: 'peer_table_load' }, () => table.mirror.stats().loadFailures)
    .counter(m.errors(), { kind: 'dns_responder' }, () => serverStats()?.responderErrors ?? 0)
    .counter(m.errors(), { kind: 'dns_tcp_timeout' }, () => serverStats()?.tcpTimeouts ?? 0)
    .counter(m.errors(), { kind: 'dns_tcp_refused' }, () => serverStats()?.tcpRefused ?? 0);

  return {
    subscribed: () => {
      subscribed = true;
      update('connected');
    },
    dispose: () => {
      sub.unsubscribe();
      scope.dispose();
      removeChecks?.();
    },
  };
}
