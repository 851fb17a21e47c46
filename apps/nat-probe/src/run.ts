import { NestFactory } from '@nestjs/core';
import { Logger, NestLogger, redactUrl } from '@wgmesh/log';
import { classifyNat, ListenAddress, RateLimit, sampleMapping, startStunServer, StunServer } from '@wgmesh/nat-probe';
import { BusRef, MeshBus, MeshNatsServer } from '@wgmesh/nats-transport';
import type { Enrollment } from '@wgmesh/peer-discovery';
import type { ReadinessSink } from '@wgmesh/health';
import { meshMetrics, MetricsScope, startTelemetry, Telemetry } from '@wgmesh/telemetry';
import { withDeadline } from '@wgmesh/log';
import type { NatProbeMemberConfig } from './config';
import { NatProbeMemberModule } from './member/member.module';
import { Classify, NatProbeService, SampleMapping } from './member/nat-probe.service';

export interface RunningNatProbeMember {
  probe: NatProbeService;
  /** Resolves once its handlers are subscribed (paths.get answers); never rejects. */
  subscribed: Promise<void>;
  close(): Promise<void>;
}

/** Starts nat-probe for an enrolled member (in this process): classification and path decisions. */
export async function startNatProbeMember(
  config: NatProbeMemberConfig,
  log: Logger,
  deps: {
    enrollment: Enrollment;
    servers: string;
    /** NATS credentials file (the member's nats.creds). */
    creds?: string;
    classify?: Classify;
    /** This node's mapping now (port prediction); default one Binding to the STUN server. */
    sample?: SampleMapping;
    /** Where nat-probe registers its readiness checks (peers: table loaded; nat: classified once). */
    readiness?: ReadinessSink;
  },
): Promise<RunningNatProbeMember> {
  const telemetry = await startTelemetry({ serviceName: 'nat-probe', attributes: { 'wgmesh.mesh': config.mesh, 'wgmesh.node': deps.enrollment.name } });
  // As the service: its timers, NATS connections and handlers export under its name.
  return telemetry.run(() => startMember(config, log, deps, telemetry));
}

async function startMember(config: NatProbeMemberConfig, log: Logger, deps: Parameters<typeof startNatProbeMember>[2], telemetry: Telemetry): Promise<RunningNatProbeMember> {
  const node = deps.enrollment.name;
  const nestish = { warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) };
  const bus = new BusRef(MeshBus.connect({ servers: deps.servers, creds: deps.creds, mesh: config.mesh, node, name: `wgmesh-nat-probe-${node}`, logger: nestish }));
  const classify: Classify = deps.classify ?? ((server, o) => classifyNat({ server, filtering: o.filtering, natLock: o.natLock, log: log.child({ component: 'classify' }) }));
  const sample: SampleMapping = deps.sample ?? ((server) => sampleMapping({ server }));
  const strategy = new MeshNatsServer({ mesh: config.mesh, node, servers: deps.servers, creds: deps.creds, name: `wgmesh-nat-probe-${node}`, logger: nestish });
  const app = await NestFactory.createMicroservice(NatProbeMemberModule.forRoot(config, log, { bus, enrollment: deps.enrollment, classify, sample }), {
    strategy,
    logger: new NestLogger(log),
    bufferLogs: false,
  });
  const probe = app.get(NatProbeService);
  const subscribed = app.listen().then(
    () => {
      log.info('nat-probe subscribed', { mesh: config.mesh, node, nats: redactUrl(deps.servers) });
      probe.subscribed();
    },
    (err: Error) => log.error('NATS server transport failed', { error: err.message }),
  );
  strategy.on('reconnect', () => void probe.mirror.reload('nats reconnected'));
  const removeChecks = deps.readiness?.add(
    { name: 'peers', check: () => (probe.mirror.ready ? { ok: true, detail: `revision ${probe.mirror.revision}` } : { ok: false, detail: 'loading the peer table (peers.snapshot)' }) },
    { name: 'nat', check: () => (probe.natType ? { ok: true, detail: probe.natType } : { ok: false, detail: `classifying against ${probe.stunServer}` }) },
  );
  const metrics = new MetricsScope()
    .counters(meshMetrics.pathAttempts(), () =>
      Object.entries(probe.techniques()).flatMap(([technique, c]) => [
        [{ technique, result: 'attempt' }, c.attempts],
        [{ technique, result: 'success' }, c.successes],
        [{ technique, result: 'failure' }, c.failures],
      ]),
    )
    .counters(meshMetrics.punchEvents(), () => [
      ...Object.entries(probe.puncher.counters).map(([event, n]) => [{ event: event.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, n] as const),
      [{ event: 'nudges' }, probe.counters.nudges] as const,
    ]);
  log.info('nat-probe (member) started', { node, stunServer: probe.stunServer, natInterval: config.natInterval, pathDeadline: config.pathDeadline });
  return {
    probe,
    subscribed,
    close: async () => {
      removeChecks?.();
      metrics.dispose();
      if (!(await withDeadline(() => app.close(), 5000))) log.warn('nat-probe did not stop in time; leaving it');
      await telemetry.shutdown();
    },
  };
}

/** The registry side of nat-probe: the STUN server (RFC 5780 with an alternate address), its counters as metrics. */
export async function startNatProbeServer(opts: { listen: ListenAddress; alternate?: ListenAddress; rateLimit?: RateLimit | false }, log: Logger): Promise<StunServer> {
  const server = await startStunServer({ listen: opts.listen, alternate: opts.alternate, log, rateLimit: opts.rateLimit });
  const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
  const scope = new MetricsScope().counters(meshMetrics.stunRequests(), () => {
    const c = server.counters;
    return [
      [{ result: 'answered' }, c.answered.success],
      [{ result: 'refused' }, c.answered['unknown-attribute'] + c.answered['change-unavailable']],
      [{ result: 'dropped' }, sum(c.dropped)],
    ];
  });
  return {
    get addresses() {
      return server.addresses;
    },
    get counters() {
      return server.counters;
    },
    close: async () => {
      scope.dispose();
      await server.close();
    },
  };
}
