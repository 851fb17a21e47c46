import type { DataplaneDriver } from '@wgmesh/dataplane';
import { ConnectionsCheck, probeCheck, ReadinessSink } from '@wgmesh/health';
import { redactUrl } from '@wgmesh/log';
import type { MeshNatsServer } from '@wgmesh/nats-transport';
import { meshMetrics, MetricsScope, watchNatsServer } from '@wgmesh/telemetry';
import type { DataplaneConfig } from './config';
import type { StateService } from './state.service';

export interface DataplaneHealth {
  /** Call once apply requests are subscribed. */
  subscribed(): void;
  dispose(): void;
}

/**
 * The dataplane-programmer's readiness checks and metric sources.
 * Ready: `nats` (apply requests subscribed, state bus connected) and `device` (readable now: a
 * read of the device, reused for a second). Apply counts and durations are recorded in
 * programmer.service.ts.
 */
export function watchDataplane(parts: { config: DataplaneConfig; driver: DataplaneDriver; strategy: MeshNatsServer; state: StateService }, readiness?: ReadinessSink): DataplaneHealth {
  const { config, driver, strategy, state } = parts;
  const nats = new ConnectionsCheck('nats', redactUrl(config.nats), ['applies', 'state']);
  let serverConnected = false;
  let subscribed = false;
  const updateServer = (status: string) => {
    if (serverConnected && subscribed) nats.set('applies', true, 'subscribed');
    else nats.set('applies', false, serverConnected ? 'connected, subscribing' : status);
  };
  const sub = strategy.status.subscribe((s) => {
    serverConnected = s === 'connected';
    updateServer(String(s));
  });
  const stateCheck = {
    name: nats.name,
    check: () => {
      nats.set('state', state.busStatus === 'connected', state.busStatus);
      return nats.check();
    },
  };
  const device = probeCheck(
    'device',
    async () => {
      const s = await driver.read();
      return `${driver.device} (${driver.kind}): ${s.peers.length} peers, listen port ${s.listenPort ?? 'none'}`;
    },
    { cacheMs: 1000 },
  );
  const removeChecks = readiness?.add(stateCheck, device);

  const m = meshMetrics;
  m.dataplaneApplies();
  m.dataplaneApplyDuration();
  const scope = watchNatsServer(new MetricsScope(), strategy)
    .gauge(m.peersKnown(), { component: 'dataplane' }, () => state.lastPeers)
    .counter(m.eventsPublished(), { event: 'node.dataplane.state' }, () => state.counters.published)
    .counter(m.errors(), { kind: 'state_publish' }, () => state.counters.publishFailures);

  return {
    subscribed: () => {
      subscribed = true;
      updateServer('connected');
    },
    dispose: () => {
      sub.unsubscribe();
      scope.dispose();
      removeChecks?.();
    },
  };
}
