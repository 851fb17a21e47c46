import { ConnectionsCheck, FlagCheck, ReadinessSink, redisCheck, RedisLike } from '@wgmesh/health';
import { redactUrl } from '@wgmesh/log';
import type { BusRef, MeshBus, MeshNatsServer } from '@wgmesh/nats-transport';
import type { Enrollment } from '@wgmesh/peer-discovery';
import { meshMetrics, MetricsScope, watchNatsServer } from '@wgmesh/telemetry';
import type { Observable, Subscription } from 'rxjs';
import type { MemberPeersService } from './member/member-peers.service';
import type { HubWatchService } from './registry/hub-watch.service';

// Readiness checks and metric sources of peer-discovery. Checks are registered as soon as the
// service starts, so /ready says what it is waiting for; metrics read the services' own counters
// at scrape time.

/** The connections a service keeps to NATS: `bus` (publish, request) and `server` (subscriptions). */
class NatsWatch {
  readonly check: ConnectionsCheck;
  private readonly subs: Subscription[] = [];
  private serverConnected = false;
  private subscribedOnce = false;

  constructor(url: string) {
    this.check = new ConnectionsCheck('nats', redactUrl(url), ['bus', 'server']);
  }

  /** A MeshBus: up once connected, down while disconnected. */
  bus(bus: MeshBus): void {
    this.check.set('bus', true, 'connected');
    this.subs.push(
      bus.status.subscribe((s) => {
        if (s === 'reconnected') this.check.set('bus', true, 'connected');
        else this.check.set('bus', false, s);
      }),
    );
  }

  /** The Nest server transport: up once connected and subscribed. */
  server(status: Observable<string>): void {
    this.subs.push(
      status.subscribe((s) => {
        this.serverConnected = s === 'connected';
        this.updateServer(String(s));
      }),
    );
  }

  subscribed(): void {
    this.subscribedOnce = true;
    this.updateServer('connected');
  }

  private updateServer(status: string): void {
    if (this.serverConnected && this.subscribedOnce) this.check.set('server', true, 'subscribed');
    else if (this.serverConnected) this.check.set('server', false, 'connected, subscribing');
    else this.check.set('server', false, status);
  }

  dispose(): void {
    this.subs.splice(0).forEach((s) => s.unsubscribe());
  }
}

/** Registry mode. Ready: NATS (both connections), Redis connected, first hub read and reconciliation done. */
export class RegistryHealth {
  readonly nats: NatsWatch;
  private redis: RedisLike | null = null;
  private hub: HubWatchService | null = null;
  private hubReady = false;
  private readonly scope = new MetricsScope();
  private readonly removeChecks: (() => void) | undefined;

  constructor(config: { nats: string; redis: string; device?: string }, readiness?: ReadinessSink) {
    this.nats = new NatsWatch(config.nats);
    this.removeChecks = readiness?.add(this.nats.check, redisCheck('redis', () => this.redis, redactUrl(config.redis)), {
      name: 'hub',
      check: () => {
        const hub = this.hub;
        if (hub && this.hubReady) return { ok: true, detail: `${hub.table().length} peers on ${config.device} (read ${hub.counters.reads} times)` };
        const failed = hub?.counters.readFailures ?? 0;
        return { ok: false, detail: `waiting for the first read of ${config.device} and the reconciliation with Redis${failed ? ` (${failed} failed reads)` : ''}` };
      },
    });
  }

  /** The running service's parts: its Redis client, the hub watcher, the NATS server. */
  started(parts: { redis: RedisLike; hub: HubWatchService; strategy: MeshNatsServer }): void {
    this.redis = parts.redis;
    this.hub = parts.hub;
    void parts.hub.ready.then(() => (this.hubReady = true));
    const hub = parts.hub;
    const m = meshMetrics;
    watchNatsServer(this.scope, parts.strategy)
      .gauge(m.peersKnown(), { component: 'registry' }, () => hub.table().length)
      .gauge(m.peerTableRevision(), { component: 'registry' }, () => hub.publisher.revision)
      .counter(m.eventsPublished(), { event: 'peers.events' }, () => hub.publisher.published)
      .counter(m.hubReads(), { result: 'ok' }, () => hub.counters.reads)
      .counter(m.hubReads(), { result: 'failed' }, () => hub.counters.readFailures)
      .counter(m.errors(), { kind: 'hub_read' }, () => hub.counters.readFailures)
      .counter(m.errors(), { kind: 'hub_publish' }, () => hub.counters.publishFailures)
      .counter(m.errors(), { kind: 'hub_repair' }, () => hub.counters.repairFailures)
      .counter(m.errors(), { kind: 'hub_peer_refused' }, () => hub.counters.refusedPeers);
    m.enrolments(); // the family shows from the start (counted in the controller)
  }

  dispose(): void {
    this.nats.dispose();
    this.scope.dispose();
    this.removeChecks?.();
  }
}

/** Member mode. Ready: enrolled, NATS (both connections) and the peer table loaded. */
export class MemberHealth {
  private readonly enrolment = new FlagCheck('enrolment', 'enrolling');
  private nats: NatsWatch | null = null;
  private member: MemberPeersService | null = null;
  private readonly scope = new MetricsScope();
  private readonly removers: Array<() => void> = [];

  constructor(private readonly readiness?: ReadinessSink) {
    if (readiness) this.removers.push(readiness.add(this.enrolment));
  }

  /** After enrolment: the NATS URL is known (over the tunnel), the rest of the checks start. */
  enrolled(enrollment: Enrollment, natsUrl: string): NatsWatch {
    this.enrolment.up(`${enrollment.name}, ${enrollment.address}`);
    const nats = (this.nats = new NatsWatch(natsUrl));
    if (this.readiness) {
      this.removers.push(
        this.readiness.add(nats.check, {
          name: 'peers',
          check: () => {
            const member = this.member;
            if (!member?.mirror.ready) return { ok: false, detail: 'loading the peer table (peers.snapshot)' };
            return { ok: true, detail: `revision ${member.mirror.revision}, ${member.source()?.length ?? 0} peers` };
          },
        }),
      );
    }
    return nats;
  }

  busRef(ref: BusRef): void {
    void ref.ready.then((bus) => this.nats?.bus(bus)).catch(() => undefined);
  }

  started(parts: { member: MemberPeersService; strategy: MeshNatsServer }): void {
    const member = (this.member = parts.member);
    const c = member.counters;
    const m = meshMetrics;
    watchNatsServer(this.scope, parts.strategy)
      .gauge(m.peersKnown(), { component: 'member' }, () => member.source()?.length ?? 0)
      .gauge(m.peerTableRevision(), { component: 'member' }, () => member.mirror.revision)
      .counter(m.memberApplies(), { result: 'applied' }, () => c.applies)
      .counter(m.memberApplies(), { result: 'unchanged' }, () => c.unchanged)
      .counter(m.memberApplies(), { result: 'failed' }, () => c.applyFailures)
      .counter(m.dnsPulls(), {}, () => c.dnsPulls)
      .counter(m.dnsPullDisagreements(), {}, () => c.dnsDisagreements)
      .counter(m.errors(), { kind: 'member_apply' }, () => c.applyFailures)
      .counter(m.errors(), { kind: 'dns_pull' }, () => c.dnsFailures)
      // Messages refused where they are refused: by the transport (contract) or a handler's ContractError.
      .counter(m.errors(), { kind: 'invalid_event' }, () => parts.strategy.stats().rejected)
      .counter(m.errors(), { kind: 'peer_table_load' }, () => member.mirror.stats().loadFailures)
      .counter(m.errors(), { kind: 'peer_refused' }, () => c.refusedPeers);
  }

  dispose(): void {
    this.nats?.dispose();
    this.scope.dispose();
    this.removers.splice(0).forEach((r) => r());
  }
}
