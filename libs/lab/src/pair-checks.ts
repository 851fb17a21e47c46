import type { PathDecision } from '@wgmesh/contracts';
import type { Lab } from './lab';
import type { Mesh } from './mesh';
import type { PairRow } from './mesh-pairs';

/**
 * Checks the end-to-end tests of path decisions share (jest's expect): a ping through each pair
 * and whether the registry carried it, and the history of a pair's decisions.
 */
export const PAIR_CHECK_PING = { count: 10, intervalMs: 20, size: 1000, timeoutMs: 1000 };
/** One way, as IP packets: what the ping's requests (or its replies) weigh. */
const PING_BYTES = PAIR_CHECK_PING.count * (PAIR_CHECK_PING.size + 28);

export const pairKey = (r: Pick<PairRow, 'a' | 'b'>) => `${r.a}-${r.b}`;
export const byPair = (rows: PairRow[]) => Object.fromEntries(rows.map((r) => [pairKey(r), r]));

/** `lab` and `mesh` are read when a check runs (tests create them in beforeAll). */
export function pairChecks(lab: () => Lab, mesh: () => Mesh) {
  /**
   * The hub's rx+tx for these members: a relayed ping adds its bytes twice each way (4 × PING_BYTES
   * at least), a direct one nothing; the members' own NATS traffic over the tunnel (a few KB at
   * most in a ping's time) stays well under 2 × PING_BYTES.
   */
  const hubBytes = async (...names: string[]) => {
    const hub = await mesh().devicePeers('registry');
    return names.reduce((sum, n) => sum + (hub.get(mesh().member(n).publicKey)?.rxBytes ?? 0) + (hub.get(mesh().member(n).publicKey)?.txBytes ?? 0), 0);
  };
  /** Pings a → b; resolves with the replies and what the hub carried meanwhile (pairs one at a time). */
  const pingThroughHub = async (a: string, b: string) => {
    const before = await hubBytes(a, b);
    const ping = await lab().ping(a, mesh().member(b).address, PAIR_CHECK_PING);
    return { received: ping.received, hub: (await hubBytes(a, b)) - before };
  };
  const leaderOf = (x: string, y: string) => (mesh().member(x).publicKey < mesh().member(y).publicKey ? x : y);
  return {
    leaderOf,
    /** The distinct decisions the pair's leader published, in order. */
    history(x: string, y: string): Array<PathDecision & { at: number }> {
      const leader = leaderOf(x, y);
      return mesh().paths.decisions(leader, mesh().member(leader === x ? y : x).publicKey);
    },
    /** Every pair: settled, a ping through it, and the hub carrying it exactly when relayed. */
    async expectTunnels(rows: PairRow[]): Promise<void> {
      for (const r of rows) {
        expect({ pair: pairKey(r), settled: r.settled, observed: r.observed, replied: r.rttMs !== null }).toEqual({ pair: pairKey(r), settled: true, observed: r.path, replied: true });
        const { received, hub } = await pingThroughHub(r.a, r.b);
        expect({ pair: pairKey(r), received }).toEqual({ pair: pairKey(r), received: PAIR_CHECK_PING.count });
        if (r.path === 'direct') expect({ pair: pairKey(r), hubCarried: hub >= 2 * PING_BYTES }).toEqual({ pair: pairKey(r), hubCarried: false });
        else expect({ pair: pairKey(r), hubCarried: hub >= 4 * PING_BYTES }).toEqual({ pair: pairKey(r), hubCarried: true });
      }
    },
  };
}
