import type { PathReport, PeerRecord } from '@wgmesh/contracts';

/**
 * A member's view of its nat-probe's path decisions, as the sets `desiredPeers` takes: relayed
 * peers (left out: traffic takes the registry peer), peers under a direct attempt (no routes),
 * punched ones (no endpoint: the device keeps the one it learnt), and the peers decided about at
 * all. Before the first report `decided` is undefined: every peer is direct (no nat-probe runs).
 */
export class PathSets {
  relayed: ReadonlySet<string> = new Set();
  attempt: ReadonlySet<string> = new Set();
  punched: ReadonlySet<string> = new Set();
  decided: ReadonlySet<string> | undefined;
  /** Whether any report came (even one that changed nothing). */
  seen = false;

  /** Takes a report; true when any set changed (the peers must be applied again). */
  set(report: PathReport): boolean {
    const relayed = new Set<string>();
    const attempt = new Set<string>();
    const punched = new Set<string>();
    const decided = new Set<string>();
    for (const d of report.decisions) {
      decided.add(d.peer);
      if (d.technique) punched.add(d.peer);
      if (d.path !== 'relayed') continue;
      relayed.add(d.peer);
      if (d.attempt) attempt.add(d.peer);
    }
    this.seen = true;
    if (same(relayed, this.relayed) && same(attempt, this.attempt) && same(punched, this.punched) && same(decided, this.decided)) return false;
    this.relayed = relayed;
    this.attempt = attempt;
    this.punched = punched;
    this.decided = decided;
    return true;
  }

  /**
   * The table's members nat-probe has not decided about yet (sorted): left on the device as they
   * are, so that a restart keeps the sessions that were up. Only members it could reach count
   * (an endpoint and allowed IPs), never this node or a registry. None before the first report.
   */
  undecided(table: Iterable<PeerRecord>, self: { publicKey: string; registryKeys: ReadonlySet<string> }): string[] {
    const decided = this.decided;
    if (!decided) return [];
    const out: string[] = [];
    for (const p of table) {
      if (decided.has(p.publicKey) || p.endpoint === null || p.allowedIps.length === 0) continue;
      if (p.publicKey !== self.publicKey && !self.registryKeys.has(p.publicKey)) out.push(p.publicKey);
    }
    return out.sort();
  }
}

function same(a: ReadonlySet<string>, b: ReadonlySet<string> | undefined): boolean {
  return b !== undefined && a.size === b.size && [...a].every((k) => b.has(k));
}

/**
 * This node's own endpoint as the registry's table shows it. When it moves (a NAT rebinding) the
 * NAT drops the others' packets to the new port until this node has sent to them from it, so the
 * next apply pokes every direct peer: `see` says so, once per move (the first endpoint is no move).
 */
export class OwnEndpoint {
  private current: string | null | undefined;

  /** Takes the endpoint now in the table (null: none); returns the one it moved from, or null. */
  see(endpoint: string | null): string | null {
    const before = this.current;
    this.current = endpoint;
    return before !== undefined && before !== null && endpoint !== null && endpoint !== before ? before : null;
  }
}
