import { SerialQueue } from '@wgmesh/serial-queue';
import { randomBytes } from 'node:crypto';
import type { PathDecision, PeerRecord, PunchMessage } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { formatEndpoint, parseEndpoint, parseIp } from '@wgmesh/netaddr';
import type { StunAddress } from '@wgmesh/stun';
import { leads, PunchOutcome } from './decide';
import { signed } from './path-words';

/**
 * Hole punching between two members (the pair's leader drives it; `node.<to>.punch.<from>`
 * carries it, to the other end only):
 *
 *   leader                                      peer
 *   sample its NAT (if sequential) ──offer──▶   check it; follow the leader's decision;
 *                                               sample its NAT (if sequential);
 *                                               send to each of the leader's candidates
 *                                               (its NAT now lets those in)
 *                               ◀──answer──     its candidates
 *   send to each of the peer's candidates: the one that matches the peer's opened mapping gets
 *   through, and the peer's device answers the handshake.
 *
 * A side's candidates are where its device will send from, as the other side must aim: its
 * registry-observed endpoint, or, behind a NAT that allocates ports sequentially (step s, port p
 * just sampled), p+s, p+2s, … — the ports its next mappings will get, in the order the spray
 * takes them. Two sequential NATs line up pair by pair (the k-th mapping of each side points at
 * the k-th of the other). Sending is the dataplane's punch (each initiation from the device's own
 * port, the last towards the first candidate after WireGuard's flood limit).
 */
export const PUNCH_CANDIDATES = 5;
/** How long the leader waits for the answer before punching at the registry-observed endpoint alone. */
export const PUNCH_ANSWER_MS = 3000;
/** A peer takes one offer from the same leader at most this often (a compromised member cannot make it spray at will). */
export const PUNCH_OFFER_INTERVAL_MS = 1000;

export interface PuncherDeps {
  self: { publicKey: string; name: string };
  /** This node's NAT port step when it allocates sequentially (read at every punch). */
  portStep: () => number | undefined;
  /** This node's NAT has not been classified yet (its port step may yet turn out to be known). */
  natPending?: () => boolean;
  /** This node's mapping now, from one Binding on a fresh socket; null when the server is silent. */
  sample: () => Promise<StunAddress | null>;
  /** The dataplane's punch: a handshake initiation to each endpoint, in order. */
  spray: (peer: string, endpoints: string[]) => Promise<void>;
  /** Sends a message to the member `message.to` only (`node.<to>.punch.<self>`). */
  publish: (message: PunchMessage) => void;
  /** A member of the peer table (its name, registry-observed endpoint). */
  peer: (publicKey: string) => PeerRecord | undefined;
  /** An offer carried the leader's decision about the pair: the peer follows it at once. */
  follow: (leader: string, decision: PathDecision) => void;
  /**
   * Runs `fn` while nothing else of this node opens NAT mappings on purpose (its classification,
   * another punch): from a sample to the spray it predicts, no other new mapping may come between.
   */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  log: Logger;
  now?: () => number;
}

export interface PunchCounters {
  offersSent: number;
  answersReceived: number;
  noAnswer: number;
  offersAnswered: number;
  offersRefused: number;
  /** Messages dropped: not from the key enrolled under the subject's node, unknown offer, … */
  dropped: number;
  sprayFailures: number;
}

interface Side {
  candidates: string[];
  predicted: boolean;
  /** In words, for the reasons: "predicted ports (step +1)", "its registry-observed endpoint". */
  how: string;
}

export class Puncher {
  readonly counters: PunchCounters = { offersSent: 0, answersReceived: 0, noAnswer: 0, offersAnswered: 0, offersRefused: 0, dropped: 0, sprayFailures: 0 };
  private readonly waiting = new Map<string, { peer: string; resolve: (m: PunchMessage | null) => void }>();
  private readonly lastOffer = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: PuncherDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Leads one punch with `peer` for the attempt `decision` describes: offer, wait for the answer
   * (up to answerMs), send to the peer's candidates. Resolves with what was done, for the
   * planner's reasons and counters; rejects only when this node's own dataplane could not send.
   */
  lead(peerKey: string, decision: PathDecision, answerMs = PUNCH_ANSWER_MS): Promise<PunchOutcome> {
    return this.predicting(() => this.leadNow(peerKey, decision, answerMs));
  }

  /**
   * Behind a sequential NAT (or one not classified yet), from the sample to the spray it predicts
   * nothing else may open a mapping: a classification running now is waited for.
   */
  private predicting<T>(fn: () => Promise<T>): Promise<T> {
    return this.deps.portStep() === undefined && !this.deps.natPending?.() ? fn() : this.deps.exclusive(fn);
  }

  private async leadNow(peerKey: string, decision: PathDecision, answerMs: number): Promise<PunchOutcome> {
    const peer = this.deps.peer(peerKey);
    const name = peer?.name ?? peerKey.slice(0, 8);
    if (!peer?.endpoint) throw new Error(`${name} has no registry-observed endpoint to punch towards`);
    const mine = await this.side();
    if (!mine) throw new Error('the registry does not know this node’s endpoint yet');
    const id = randomBytes(9).toString('base64url');
    const answered = new Promise<PunchMessage | null>((resolve) => {
      this.waiting.set(id, { peer: peerKey, resolve });
      setTimeout(() => resolve(null), answerMs).unref();
    });
    this.deps.publish({ kind: 'offer', from: this.deps.self.publicKey, to: peerKey, id, candidates: mine.candidates, predicted: mine.predicted, decision, at: this.now() });
    this.counters.offersSent++;
    const answer = await answered.finally(() => this.waiting.delete(id));
    let theirs: Side;
    let note = '';
    if (answer && !answer.refused) {
      this.counters.answersReceived++;
      theirs = { candidates: answer.candidates, predicted: answer.predicted, how: answer.predicted ? `predicted ports ${portRange(answer.candidates)}` : 'its registry-observed endpoint' };
    } else {
      if (!answer) this.counters.noAnswer++;
      theirs = { candidates: [peer.endpoint], predicted: false, how: 'its registry-observed endpoint' };
      note = answer ? ` (${name} refused: ${answer.refused})` : ` (no answer from ${name} in ${answerMs} ms)`;
    }
    await this.deps.spray(peerKey, theirs.candidates);
    const technique = mine.predicted || theirs.predicted ? 'prediction' : 'punch';
    const detail = `${technique === 'prediction' ? 'port prediction' : 'punched'}: ${this.deps.self.name} at ${mine.how}, ${name} at ${theirs.how}${note}`;
    return { technique, detail, aim: theirs.candidates[0] };
  }

  /**
   * The leader's device sends its initiation to the peer again (`aim`, the endpoint the punch left
   * it at): a lost or dropped initiation is made up for long before WireGuard's own retry (5 s).
   * The same flow as the punch's, so no NAT opens a new mapping for it.
   */
  nudge(peerKey: string, aim: string): Promise<void> {
    return this.deps.spray(peerKey, [aim]);
  }

  /** A message addressed to this node on `node.<self>.punch.<node>` (`node`: the sender's id, which NATS vouches for). Never throws. */
  async handle(message: PunchMessage, node: string): Promise<void> {
    if (message.to !== this.deps.self.publicKey) return; // another pair's
    const sender = this.deps.peer(message.from);
    if (!sender || sender.name !== node) {
      this.counters.dropped++;
      this.deps.log.warn('punch message dropped: not from the key enrolled under that node', { node, from: message.from, kind: message.kind });
      return;
    }
    if (message.kind === 'answer') {
      const w = this.waiting.get(message.id);
      if (!w || w.peer !== message.from) {
        this.counters.dropped++;
        this.deps.log.debug('punch answer to no offer of ours (late?)', { node, id: message.id });
        return;
      }
      w.resolve(message);
      return;
    }
    const refusal = this.checkOffer(message, sender);
    if (refusal) {
      this.counters.offersRefused++;
      this.deps.log.info('punch offer refused', { peer: node, reason: refusal });
      this.answer(message, { candidates: [], predicted: false }, refusal);
      return;
    }
    this.lastOffer.set(message.from, this.now());
    if (message.decision) this.deps.follow(message.from, message.decision);
    try {
      const mine = await this.predicting(async () => {
        const side = await this.side();
        if (!side) throw new Error('the registry does not know this node’s endpoint yet');
        await this.deps.spray(message.from, message.candidates);
        return side;
      });
      this.counters.offersAnswered++;
      this.answer(message, mine);
      this.deps.log.info('punched for an offer', { peer: node, theirs: message.candidates.length, predicted: message.predicted, mine: mine.candidates.length, minePredicted: mine.predicted });
    } catch (err) {
      this.counters.sprayFailures++;
      this.deps.log.warn('punch offer could not be answered', { peer: node, error: (err as Error).message });
      this.answer(message, { candidates: [], predicted: false }, `cannot punch: ${(err as Error).message}`.slice(0, 256));
    }
  }

  /** Why an offer is refused, or null to take it. */
  private checkOffer(m: PunchMessage, sender: PeerRecord): string | null {
    if (!leads(m.from, this.deps.self.publicKey)) return 'the sender does not lead this pair';
    if (!sender.endpoint) return 'the registry has no endpoint for the sender';
    const ip = hostOf(sender.endpoint);
    if (m.candidates.some((c) => hostOf(c) !== ip)) return `candidates are not at ${ip}, where the registry sees the sender`;
    const last = this.lastOffer.get(m.from);
    if (last !== undefined && this.now() - last < PUNCH_OFFER_INTERVAL_MS) return 'too many offers';
    return null;
  }

  private answer(offer: PunchMessage, mine: Pick<Side, 'candidates' | 'predicted'>, refused?: string): void {
    const m: PunchMessage = { kind: 'answer', from: this.deps.self.publicKey, to: offer.from, id: offer.id, candidates: mine.candidates, predicted: mine.predicted, at: this.now() };
    if (refused !== undefined) m.refused = refused;
    this.deps.publish(m);
  }

  /** This side's candidates: predicted ports behind a sequential NAT (sampled now), else the registry-observed endpoint. */
  private async side(): Promise<Side | null> {
    const own = this.deps.peer(this.deps.self.publicKey)?.endpoint ?? null;
    const step = this.deps.portStep();
    if (step !== undefined) {
      const mapped = await this.deps.sample();
      const ports = mapped ? predictedPorts(mapped, step, PUNCH_CANDIDATES) : [];
      if (ports.length > 0) return { candidates: ports, predicted: true, how: `predicted ports ${portRange(ports)} (step ${signed(step)})` };
      this.deps.log.warn('no ports to predict (no STUN answer, or at the end of the port range); punching at the registry-observed endpoint');
    }
    return own ? { candidates: [own], predicted: false, how: 'its registry-observed endpoint' } : null;
  }
}

/** The next `count` ports after the mapping `mapped`, `step` apart (within 1-65535), as endpoints. */
export function predictedPorts(mapped: StunAddress, step: number, count: number): string[] {
  const out: string[] = [];
  for (let k = 1; k <= count; k++) {
    const port = mapped.port + k * step;
    if (port < 1 || port > 65535) break;
    out.push(formatEndpoint({ ip: parseIp(mapped.ip), port }));
  }
  return out;
}

/** "30001-30005": the first and last port of a list of endpoints. */
function portRange(endpoints: readonly string[]): string {
  const ports = endpoints.map((e) => parseEndpoint(e).port);
  return ports.length === 1 ? String(ports[0]) : `${ports[0]}-${ports.at(-1)}`;
}

function hostOf(endpoint: string): string {
  return formatEndpoint({ ...parseEndpoint(endpoint), port: 1 }).replace(/:1$/, '');
}

/** One holder at a time, in the order asked (Puncher's `exclusive`, the classifier's `natLock`). */
export class NatLock {
  private readonly queue = new SerialQueue();

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /** Waits for the lock; resolves with its release (idempotent). */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let acquired!: () => void;
    const ready = new Promise<void>((r) => (acquired = r));
    void this.run(() => {
      acquired();
      return held;
    });
    await ready;
    return release;
  }
}
