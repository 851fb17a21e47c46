import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { enableProcessMetrics, metricsRegistry } from '@wgmesh/telemetry';
import { CHECK_TIMEOUT_MS, ReadinessCheck, ReadinessReport, Readiness } from './readiness';

// A service run as a process cluster (the resolver's --workers): the primary serves HTTP and asks
// its workers over the cluster's IPC channel, for readiness (below) and for metrics (prom-client's
// AggregatorRegistry, which sums the workers' series).

const REQUEST = 'wgmesh-health:ready-request';
const REPLY = 'wgmesh-health:ready-reply';
const METRICS_REQUEST = 'wgmesh-health:metrics-request';
const METRICS_REPLY = 'wgmesh-health:metrics-reply';

interface ReadyRequest {
  type: typeof REQUEST;
  id: number;
  timeoutMs: number;
}
interface ReadyReply {
  type: typeof REPLY;
  id: number;
  report: ReadinessReport;
}

/** In a cluster worker: answers the primary's readiness and metrics requests. Returns a remover. */
export function answerPrimary(readiness: Readiness): () => void {
  enableProcessMetrics();
  AggregatorRegistry.setRegistries([metricsRegistry]);
  new AggregatorRegistry(); // installs prom-client's worker-side listener (once per process)
  const onMessage = (msg: unknown) => {
    const req = msg as ReadyRequest | { type: typeof METRICS_REQUEST; id: number };
    if (req?.type === METRICS_REQUEST) {
      void metricsRegistry.getMetricsAsJSON().then((metrics) => process.send?.({ type: METRICS_REPLY, id: req.id, metrics }));
      return;
    }
    if (req?.type !== REQUEST) return;
    void readiness.evaluate(req.timeoutMs).then((report) => process.send?.({ type: REPLY, id: req.id, report } satisfies ReadyReply));
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

/** In the primary: /metrics summed over the workers (their process metrics too). */
export function clusterMetrics(): () => Promise<{ contentType: string; body: string }> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}

/**
 * In a primary that runs services of its own beside its workers (`registry up --dns-workers`):
 * /metrics with its own series and its workers' (summed over the workers, as clusterMetrics).
 * A worker that does not answer within `timeoutMs` is left out.
 */
export function primaryAndWorkerMetrics(timeoutMs = 2000): () => Promise<{ contentType: string; body: string }> {
  return async () => {
    const own = await metricsRegistry.getMetricsAsJSON();
    const replies = await askWorkers<typeof own>((id) => ({ type: METRICS_REQUEST, id }), METRICS_REPLY, (r) => r.metrics, timeoutMs);
    const registry = AggregatorRegistry.aggregate([own, ...replies.values()]);
    return { contentType: registry.contentType, body: await registry.metrics() };
  };
}

let nextId = 1;

/**
 * Sends every live worker one request (made by `request` with a fresh id) and collects the
 * replies of type `replyType` with that id, by worker id, until all have answered or
 * `timeoutMs` has passed (a worker that did not answer is missing from the map).
 */
async function askWorkers<T>(
  request: (id: number) => object,
  replyType: string,
  value: (reply: Record<string, unknown>) => unknown,
  timeoutMs: number,
): Promise<Map<number, T>> {
  const workers = liveWorkers();
  const id = nextId++;
  const replies = new Map<number, T>();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function onMessage(worker: { id: number }, msg: unknown) {
      const reply = msg as Record<string, unknown> | null;
      if (reply?.type !== replyType || reply.id !== id) return;
      replies.set(worker.id, value(reply) as T);
      if (replies.size === workers.length) done();
    }
    function done() {
      clearTimeout(timer);
      cluster.off('message', onMessage);
      resolve();
    }
    cluster.on('message', onMessage);
    if (workers.length === 0) return done();
    for (const w of workers) w.send(request(id));
  });
  return replies;
}

function liveWorkers() {
  return Object.values(cluster.workers ?? {}).filter((w): w is NonNullable<typeof w> => !!w && w.isConnected() && !w.isDead());
}

/**
 * In the primary: ready when `expected` workers are alive and each reports ready. The detail
 * names the checks that fail in the workers that are not ready.
 */
export function workersCheck(expected: number, name = 'workers', timeoutMs = CHECK_TIMEOUT_MS - 250): ReadinessCheck {
  return {
    name,
    check: async () => {
      const workers = liveWorkers();
      const replies = await askWorkers<ReadinessReport>((id) => ({ type: REQUEST, id, timeoutMs: timeoutMs - 100 } satisfies ReadyRequest), REPLY, (r) => r.report, timeoutMs);
      const ready = [...replies.values()].filter((r) => r.ready).length;
      const problems = [...replies.entries()]
        .filter(([, r]) => !r.ready)
        .map(([wid, r]) => `worker ${wid}: ${Object.entries(r.checks).filter(([, c]) => !c.ok).map(([n, c]) => `${n}: ${c.detail}`).join('; ')}`);
      const missing = workers.length - replies.size;
      if (missing > 0) problems.push(`${missing} worker(s) did not answer`);
      return { ok: ready === expected && workers.length >= expected, detail: [`${ready} of ${expected} workers ready`, ...problems].join('; ') };
    },
  };
}
