import { Attributes, Context, context, Span } from '@opentelemetry/api';
import type { DataplaneApplyRequest, DataplaneApplyResult, DesiredPeer, PeerState, PunchSpray } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { Attr, recordError, TriggerContexts, withSpan } from '@wgmesh/telemetry';
import { diffPeers } from './diff';
import type { DataplaneDriver, DeviceState, PeerDiff } from './driver';
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
  /**
   * How old (ms) the programmer's model of the device may be for a delta (`replace: false`) to
   * be diffed against it instead of the device (see DataplaneProgrammer); older, the device is
   * read first. 0: every apply reads the device. Default RECONCILE_MS.
   */
  reconcileMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** How long a read of the device is trusted for deltas when nothing reads it meanwhile (ms). */
export const RECONCILE_MS = 60_000;

interface Waiting {
  req: DataplaneApplyRequest;
  /** The requester's trace context (the batch runs later, from a queue that loses it). */
  ctx: Context;
  resolve: (r: DataplaneApplyResult) => void;
  reject: (e: Error) => void;
}

/**
 * Applies desired peer sets to one device, one batch at a time: diff against the device, apply
 * the diff in one driver call. Requests arriving while a batch runs wait, and are then merged
 * into one (see `coalesceRequests`): only the newest full (replace) set and what came after it
 * are applied. Every request gets the result of the batch it was applied in.
 *
 * A full set (`replace: true`) is diffed against a read of the whole device (O(peers)). A delta
 * (`replace: false`) is diffed against the programmer's model of the device for the peers it
 * names only (O(changed peers)): the model is the last read of the device (its own, or one made
 * through `read()`, as the state reporter's polls are, when no apply overlapped it), updated with
 * every successful apply. The device is read first instead when there is no model (the first
 * apply, after a failed apply or punch, after `invalidate()`), when the model's read is older than
 * `reconcileMs`, or when the delta names a peer whose entry the model cannot know (one punched on
 * a driver that may skip the punch: VPP). So a change made behind the programmer's back (`wg set`)
 * is seen at the next read that refreshes the model, and repaired by the next request naming that
 * peer (a full set repairs everything), as before, at most one model read later.
 */
export class DataplaneProgrammer {
  private readonly waiting: Waiting[] = [];
  private running: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly now: () => number;
  /** The device's peers as of the last read, with every apply since: null when unknown. */
  private model: Map<string, PeerState> | null = null;
  /** When the model's read started (now()). */
  private modelReadAt = 0;
  /** Peers whose model entry may be wrong (punched on VPP): a delta naming one reads the device. */
  private readonly unsure = new Set<string>();
  /** Device writes started (a read that overlapped one does not become the model). */
  private writes = 0;
  private writing = false;
  /** Reads and model use (for tests and the bench): full reads, deltas diffed against the model. */
  readonly counters = { reads: 0, modelDiffs: 0, adopted: 0 };

  /** Keys never removed (opts.protect, changed by setProtect). */
  private protect: string[];

  constructor(private readonly opts: ProgrammerOptions) {
    this.log = opts.log ?? quietLog;
    this.now = opts.now ?? Date.now;
    this.protect = [...(opts.protect ?? [])];
  }

  /**
   * The keys never removed from now on (a member's registry peers, when the mesh gains or loses a
   * registry); applies already running keep the list they started with.
   */
  setProtect(keys: readonly string[]): void {
    this.protect = [...keys];
  }

  /**
   * Reads the whole device. The result becomes the programmer's model when no apply overlapped
   * the read: give every periodic reader (the state reporter) this rather than the driver's
   * read(), and deltas see changes from outside as soon as they would.
   */
  async read(): Promise<DeviceState> {
    const writes = this.writes;
    const clean = !this.writing;
    const startedAt = this.now();
    let state: DeviceState;
    try {
      state = await this.opts.driver.read();
    } catch (err) {
      this.invalidate(); // gone, perhaps to be created again
      throw err;
    }
    if (clean && !this.writing && this.writes === writes) this.adopt(state, startedAt);
    return state;
  }

  /** The model's peers, or null when there is none (tests and the bench). */
  modelPeers(): PeerState[] | null {
    return this.model ? [...this.model.values()] : null;
  }

  /** Forgets the model (the device was changed or created again behind the programmer's back): the next apply reads the device. */
  invalidate(): void {
    this.model = null;
    this.unsure.clear();
  }

  private adopt(state: DeviceState, readAt: number): void {
    const model = new Map<string, PeerState>();
    for (const p of state.peers) model.set(p.publicKey, p);
    this.model = model;
    this.modelReadAt = readAt;
    this.unsure.clear();
    this.counters.adopted++;
  }

  /** The model's entries of the peers a delta names, or null when the device must be read. */
  private modelFor(req: DataplaneApplyRequest): PeerState[] | null {
    const model = this.model;
    if (req.replace || model === null) return null;
    if (this.now() - this.modelReadAt > (this.opts.reconcileMs ?? RECONCILE_MS)) return null;
    const out: PeerState[] = [];
    const keys = new Set<string>();
    for (const p of req.peers) keys.add(p.publicKey);
    for (const k of req.remove ?? []) keys.add(k);
    for (const k of req.poke ?? []) keys.add(k);
    for (const k of keys) {
      if (this.unsure.has(k)) return null;
      const p = model.get(k);
      if (p) out.push(p);
    }
    return out;
  }

  /** The model after a successful apply of `diff` (as a device applies it: a null endpoint keeps the one it has). */
  private applied(diff: PeerDiff): void {
    const model = this.model;
    if (!model) return;
    for (const key of diff.remove) model.delete(key);
    for (const p of diff.upsert) {
      const old = model.get(p.publicKey);
      model.set(p.publicKey, {
        publicKey: p.publicKey,
        endpoint: p.endpoint ?? old?.endpoint ?? null,
        allowedIps: [...p.allowedIps],
        persistentKeepalive: p.persistentKeepalive ?? 0,
        latestHandshake: old?.latestHandshake ?? 0,
        rxBytes: old?.rxBytes ?? 0,
        txBytes: old?.txBytes ?? 0,
      });
    }
  }

  /** The model after punches: each peer re-created at its first endpoint; VPP may skip one (an established peer), so there it is unknown. */
  private punched(sprays: readonly PunchSpray[]): void {
    const model = this.model;
    if (!model) return;
    for (const s of sprays) {
      if (this.opts.driver.kind === 'vpp') this.unsure.add(s.publicKey);
      else model.set(s.publicKey, { publicKey: s.publicKey, endpoint: s.endpoints[0], allowedIps: [...s.allowedIps], persistentKeepalive: s.persistentKeepalive, latestHandshake: 0, rxBytes: 0, txBytes: 0 });
    }
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
      result = await this.applyOne(req, span);
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

  private async applyOne(req: DataplaneApplyRequest, span: Span): Promise<DataplaneApplyResult> {
    const started = performance.now();
    const { driver } = this.opts;
    let actual = this.modelFor(req);
    span.setAttribute(Attr.diffAgainst, actual ? 'model' : 'device');
    if (actual) this.counters.modelDiffs++;
    else {
      this.counters.reads++;
      actual = (await withSpan('device.read', { [Attr.driver]: driver.kind }, () => this.read())).peers;
    }
    const protect = req.keep?.length ? [...this.protect, ...req.keep] : this.protect;
    const { diff, added, updated, unchanged } = diffPeers(req.peers, actual, { replace: req.replace, remove: req.remove, protect });
    if (req.poke?.length) diff.poke = pokes(req, actual, diff);
    const changes = { [Attr.driver]: driver.kind, [Attr.peersChanged]: diff.upsert.length + diff.remove.length };
    this.writing = true;
    this.writes++;
    try {
      await withSpan('device.apply', changes, () => driver.apply(diff));
      this.applied(diff);
      if (req.punch?.length) {
        await withSpan('device.punch', { [Attr.driver]: driver.kind, [Attr.peersChanged]: req.punch.length }, () => punch(driver, req.punch!));
        this.punched(req.punch);
      }
    } catch (err) {
      // What the device has now is not known: the next apply reads it.
      this.invalidate();
      throw err;
    } finally {
      this.writing = false;
    }
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
