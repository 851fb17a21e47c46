import { Attributes, Context, context, Span } from '@opentelemetry/api';
import type { DataplaneApplyRequest, DataplaneApplyResult, DesiredPeer, PunchSpray } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { Attr, recordError, TriggerContexts, withSpan } from '@wgmesh/telemetry';
import { diffPeers } from './diff';
import type { DataplaneDriver, PeerDiff } from './driver';
import { quietLog } from './quiet-log';

export interface ProgrammerOptions {
  driver: DataplaneDriver;
  /** Keys never removed (the bootstrap/registry peers). */
  protect?: string[];
  log?: Logger;
  /** Called after each applied batch that changed the device. */
  onChanged?: (result: DataplaneApplyResult) => void;
  /** Added to every `dataplane.apply` span (e.g. wgmesh.node, wgmesh.mesh). */
  attributes?: Attributes;
}

interface Waiting {
  req: DataplaneApplyRequest;
  /** The requester's trace context (the batch runs later, from a queue that loses it). */
  ctx: Context;
  resolve: (r: DataplaneApplyResult) => void;
  reject: (e: Error) => void;
}

/**
 * Applies desired peer sets to one device, one batch at a time: read the device, diff, apply
 * the diff in one driver call. Requests arriving while a batch runs wait, and are then merged
 * into one (see `coalesceRequests`): only the newest full (replace) set and what came after it
 * are applied. Every request gets the result of the batch it was applied in.
 */
export class DataplaneProgrammer {
  private readonly waiting: Waiting[] = [];
  private running: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(private readonly opts: ProgrammerOptions) {
    this.log = opts.log ?? quietLog;
  }

  apply(req: DataplaneApplyRequest): Promise<DataplaneApplyResult> {
    if (req.punch?.length && !this.opts.driver.recreatePeers) return Promise.reject(new PunchUnsupportedError(this.opts.driver.kind));
    return new Promise((resolve, reject) => {
      this.waiting.push({ req, ctx: context.active(), resolve, reject });
      this.next();
    });
  }

  /** Resolves once nothing is running or waiting. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0);
    this.running = this.run(batch).finally(() => {
      this.running = null;
      this.next();
    });
  }

  /**
   * One batch in a `dataplane.apply` span: child of the first request's context (its NATS server
   * span), linked to the other requests it merged.
   */
  private run(batch: Waiting[]): Promise<void> {
    const triggers = new TriggerContexts();
    for (const w of batch) triggers.add(w.ctx);
    const { parent, links } = triggers.take();
    const { driver } = this.opts;
    const attributes = { ...this.opts.attributes, [Attr.driver]: driver.kind, [Attr.device]: driver.device, [Attr.requests]: batch.length };
    return withSpan('dataplane.apply', attributes, (span) => this.runBatch(batch, span), { parent, links });
  }

  private async runBatch(batch: Waiting[], span: Span): Promise<void> {
    const req = coalesceRequests(batch.map((w) => w.req));
    if (req.revision !== undefined) span.setAttribute(Attr.revision, req.revision);
    let result: DataplaneApplyResult;
    try {
      result = await this.applyOne(req);
    } catch (err) {
      recordError(span, err);
      this.log.error('apply failed', { device: this.opts.driver.device, requests: batch.length, error: (err as Error).message });
      for (const w of batch) w.reject(err as Error);
      return;
    }
    const changed = result.added + result.updated + result.removed > 0;
    span.setAttributes({
      [Attr.peersChanged]: result.added + result.updated + result.removed,
      [Attr.added]: result.added,
      [Attr.updated]: result.updated,
      [Attr.removed]: result.removed,
      [Attr.unchanged]: result.unchanged,
    });
    this.log[changed ? 'info' : 'debug']('applied', { device: this.opts.driver.device, ...result, requests: batch.length, revision: req.revision });
    for (const w of batch) {
      const own: DataplaneApplyResult = { ...result };
      if (w.req.revision !== undefined) own.revision = w.req.revision;
      else delete own.revision;
      w.resolve(own);
    }
    if (changed) this.opts.onChanged?.(result);
  }

  private async applyOne(req: DataplaneApplyRequest): Promise<DataplaneApplyResult> {
    const started = performance.now();
    const { driver } = this.opts;
    const device = await withSpan('device.read', { [Attr.driver]: driver.kind }, () => driver.read());
    const protect = req.keep?.length ? [...(this.opts.protect ?? []), ...req.keep] : this.opts.protect;
    const { diff, added, updated, unchanged } = diffPeers(req.peers, device.peers, { replace: req.replace, remove: req.remove, protect });
    if (req.poke?.length) diff.poke = pokes(req, device.peers, diff);
    const changes = { [Attr.driver]: driver.kind, [Attr.peersChanged]: diff.upsert.length + diff.remove.length };
    await withSpan('device.apply', changes, () => driver.apply(diff));
    if (req.punch?.length) await withSpan('device.punch', { [Attr.driver]: driver.kind, [Attr.peersChanged]: req.punch.length }, () => punch(driver, req.punch!));
    const result: DataplaneApplyResult = { added, updated, removed: diff.remove.length, unchanged, durationMs: Math.round((performance.now() - started) * 100) / 100 };
    if (req.revision !== undefined) result.revision = req.revision;
    if (req.punch?.length) result.punched = req.punch.length;
    return result;
  }
}

/** The driver cannot re-create peers (a read-only stand-in): a punch request is refused. */
export class PunchUnsupportedError extends Error {
  constructor(readonly driver: string) {
    super(`the ${driver} driver cannot punch: it cannot re-create peers`);
    this.name = 'PunchUnsupportedError';
  }
}

/**
 * Longer than WireGuard's handshake initiation flood limit (20 ms per peer, on the receiving side):
 * the other end, which took the first initiation of a spray that reached it, takes the last one.
 */
export const PUNCH_PAUSE_MS = 30;

/**
 * Hole punching: each peer created once per endpoint, in order (one initiation to each, all
 * punches in one operation so that a sequential NAT hands out its ports in that order), then,
 * after PUNCH_PAUSE_MS, a peer sprayed at several endpoints once more towards its first: that
 * session is the one whose handshake the other end answers and this device accepts. A peer
 * with one endpoint is not sent to twice (the other end, if slow to read them, could take the
 * two initiations as a flood and drop the one that counts).
 */
async function punch(driver: DataplaneDriver, sprays: readonly PunchSpray[]): Promise<void> {
  const entry = (s: PunchSpray, endpoint: string) => ({ publicKey: s.publicKey, endpoint, allowedIps: s.allowedIps, persistentKeepalive: s.persistentKeepalive });
  await driver.recreatePeers!(sprays.flatMap((s) => s.endpoints.map((e) => entry(s, e))));
  const again = sprays.filter((s) => s.endpoints.length > 1);
  if (again.length === 0) return;
  await new Promise((r) => setTimeout(r, PUNCH_PAUSE_MS));
  await driver.recreatePeers!(again.map((s) => entry(s, s.endpoints[0])));
}

/** The poked peers that will be on the device with a persistent keepalive, with that keepalive. */
export function pokes(req: DataplaneApplyRequest, device: readonly { publicKey: string; persistentKeepalive: number }[], diff: PeerDiff): Array<{ publicKey: string; keepalive: number }> {
  const removed = new Set(diff.remove);
  const keepalive = new Map(device.map((p) => [p.publicKey, p.persistentKeepalive]));
  for (const p of diff.upsert) keepalive.set(p.publicKey, p.persistentKeepalive ?? 0);
  const out: Array<{ publicKey: string; keepalive: number }> = [];
  for (const publicKey of new Set(req.poke)) {
    const k = keepalive.get(publicKey) ?? 0;
    if (k > 0 && !removed.has(publicKey)) out.push({ publicKey, keepalive: k });
  }
  return out;
}

/**
 * Folds requests, oldest first, into one with the same effect as applying them in order:
 * a replace request discards everything before it; later upserts and removals are merged into
 * it (a later upsert wins over an earlier removal of the same key and vice versa; within one
 * request, as in `diffPeers`, an upserted key is not removed). The revision is the newest given.
 */
export function coalesceRequests(requests: readonly DataplaneApplyRequest[]): DataplaneApplyRequest {
  if (requests.length === 1) return requests[0];
  let replace = false;
  let peers = new Map<string, DesiredPeer>();
  let removes = new Set<string>();
  let revision: number | undefined;
  let keep = new Set<string>();
  for (const req of requests) {
    if (req.replace) {
      replace = true;
      peers = new Map();
      removes = new Set();
      keep = new Set(req.keep);
    } else {
      const upserted = new Set(req.peers.map((p) => p.publicKey));
      for (const key of req.remove ?? []) {
        if (upserted.has(key)) continue;
        peers.delete(key);
        removes.add(key);
      }
    }
    for (const p of req.peers) {
      peers.set(p.publicKey, p);
      removes.delete(p.publicKey);
    }
    if (req.revision !== undefined) revision = req.revision;
  }
  const out: DataplaneApplyRequest = { peers: [...peers.values()], replace };
  if (!replace && removes.size > 0) out.remove = [...removes];
  if (replace && keep.size > 0) out.keep = [...keep];
  const poke = new Set(requests.flatMap((r) => r.poke ?? []));
  if (poke.size > 0) out.poke = [...poke];
  // Punches in the order asked; a later punch of the same peer replaces an earlier one.
  const punches = new Map<string, PunchSpray>();
  for (const p of requests.flatMap((r) => r.punch ?? [])) {
    punches.delete(p.publicKey);
    punches.set(p.publicKey, p);
  }
  if (punches.size > 0) out.punch = [...punches.values()];
  if (revision !== undefined) out.revision = revision;
  return out;
}
