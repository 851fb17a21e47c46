import type { PathDecision, PathReport } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { leads } from './decide';

/**
 * The decisions the leaders of this node's pairs took about it: state, not only events.
 *
 * A leader sends each follower its decision about it, addressed (`node.<follower>.paths.from.
 * <leader>`: only that follower receives it, and NATS vouches for the leader), when it changes
 * and once more 30 s later. A follower that subscribed after the leader decided (it started
 * later, or NATS dropped it for a while) would miss it, so once subscribed it asks each leader
 * for its decision now (`node.<leader>.paths.get` with `peer`: one decision in the reply, not
 * the leader's whole report). Subscribe first, then ask: a decision taken after the
 * subscription arrives as an event, one taken before is in the reply.
 *
 * Events and replies can cross (they come over different connections): a report counts only when
 * its `at` is newer than the last one this node took from that leader (a leader stamps its
 * reports with strictly increasing `at`), so an older reply never undoes a newer event.
 *
 * Cost per sync (a start, a NATS reconnect, a reload of the peer table): one small request and
 * reply per pair this node follows (on average half the members), `concurrency` at a time.
 */
export interface LeaderDecisionsOptions {
  /** This node's public key. */
  self: string;
  /**
   * Asks a leader (by node id) for its decision about this node now. Resolves to its report (with
   * at most that one decision), or to 'absent' when no nat-probe answers there (not started yet:
   * its decisions will come as events); throws when the request failed (retried).
   */
  ask: (leader: LeaderRef) => Promise<PathReport | 'absent'>;
  /** The decision of the leader with key `leader` about this node changed (plan again: that pair). */
  changed: (leader: string) => void;
  log: Logger;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Waits before each retry of a failed request (default 1 s, 2 s, 4 s; then the leader's next report). */
  retryMs?: readonly number[];
}

/** A member that may lead a pair with this node: its node id (name) and public key. */
export interface LeaderRef {
  name: string;
  publicKey: string;
}

export interface SyncResult {
  /** Leaders asked. */
  asked: number;
  /** Answered with a report (with or without a decision about this node). */
  answered: number;
  /** No nat-probe answering there. */
  absent: number;
  /** Still failing after the retries. */
  failed: number;
  /** A newer sync started: this one stopped. */
  superseded: boolean;
}

const DEFAULT_RETRY_MS = [1000, 2000, 4000] as const;

export class LeaderDecisions {
  private readonly decisions = new Map<string, PathDecision>();
  /** The `at` of the newest report taken from each leader. */
  private readonly heard = new Map<string, number>();
  private generation = 0;
  /** Retry waits under way: stop() ends them at once. */
  private readonly waits = new Map<NodeJS.Timeout, () => void>();

  constructor(private readonly o: LeaderDecisionsOptions) {}

  /** The decisions by leader public key (what the planner reads). */
  get map(): ReadonlyMap<string, PathDecision> {
    return this.decisions;
  }

  /**
   * A report from another member (its decision addressed to this node, or a reply to `sync`): keeps its decision about this
   * node when that member leads the pair and the report is newer than the last one taken from it.
   * True when the decision changed (`changed` has been called).
   */
  accept(report: PathReport): boolean {
    const leader = report.publicKey;
    if (leader === this.o.self || !leads(leader, this.o.self)) return false;
    if (report.at <= (this.heard.get(leader) ?? -1)) return false;
    this.heard.set(leader, report.at);
    return this.set(leader, report.decisions.find((d) => d.peer === this.o.self));
  }

  /** A leader's decision from elsewhere (its punch offer carries it); undefined: none. */
  set(leader: string, decision: PathDecision | undefined): boolean {
    const before = this.decisions.get(leader);
    if (decision) this.decisions.set(leader, decision);
    else this.decisions.delete(leader);
    if (sameDecision(before, decision)) return false;
    this.o.changed(leader);
    return true;
  }

  /** A member left the table: nothing of it is kept. */
  forget(leader: string): void {
    this.heard.delete(leader);
    if (this.decisions.delete(leader)) this.o.changed(leader);
  }

  /**
   * `members` is every member now (a table load): forgets the others, and asks every leader among
   * them for its decision about this node now (call it once subscribed to the reports). A newer
   * sync supersedes a running one.
   */
  sync(members: readonly LeaderRef[]): Promise<SyncResult> {
    const keep = new Set(members.map((m) => m.publicKey));
    for (const key of [...this.heard.keys()]) if (!keep.has(key)) this.heard.delete(key);
    for (const key of [...this.decisions.keys()]) if (!keep.has(key)) this.forget(key);
    return this.askAll(members, ++this.generation);
  }

  /** Asks the leaders among `members` (new to the table) for their decision about this node now. */
  ask(members: readonly LeaderRef[]): Promise<SyncResult> {
    return this.askAll(members, this.generation);
  }

  private async askAll(members: readonly LeaderRef[], generation: number): Promise<SyncResult> {
    const leaders = members.filter((m) => m.publicKey !== this.o.self && leads(m.publicKey, this.o.self));
    const result: SyncResult = { asked: leaders.length, answered: 0, absent: 0, failed: 0, superseded: false };
    const queue = [...leaders];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const outcome = await this.askWithRetries(next, generation);
        if (outcome === 'superseded') result.superseded = true;
        else result[outcome]++;
        if (result.superseded) return;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 16, leaders.length) }, worker));
    if (result.failed > 0) this.o.log.warn("some leaders' path decisions could not be asked for; they come with their next report", { failed: result.failed, asked: result.asked });
    return result;
  }

  /** Stops retries and running syncs. */
  stop(): void {
    this.generation++;
    for (const [t, resolve] of this.waits) {
      clearTimeout(t);
      resolve();
    }
    this.waits.clear();
  }

  private async askWithRetries(leader: LeaderRef, generation: number): Promise<'answered' | 'absent' | 'failed' | 'superseded'> {
    const waits = this.o.retryMs ?? DEFAULT_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      if (generation !== this.generation) return 'superseded';
      try {
        const reply = await this.o.ask(leader);
        if (generation !== this.generation) return 'superseded';
        if (reply === 'absent') return 'absent';
        if (reply.publicKey !== leader.publicKey) throw new Error(`the reply is from key ${reply.publicKey}, not ${leader.name}'s`);
        this.accept(reply);
        return 'answered';
      } catch (err) {
        if (attempt >= waits.length) {
          this.o.log.debug("asking a leader for its path decision failed", { leader: leader.name, error: (err as Error).message });
          return 'failed';
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.waits.delete(t);
            resolve();
          }, waits[attempt]);
          this.waits.set(t, resolve);
        });
      }
    }
  }
}

function sameDecision(a: PathDecision | undefined, b: PathDecision | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
