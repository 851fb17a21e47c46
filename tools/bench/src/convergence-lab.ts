import { Lab, logMessage, startMesh } from '@wgmesh/lab';
import { UapiClient } from '@wgmesh/wireguard';

/**
 * The convergence benchmark's lab part: three real members (two behind eim NATs, one public),
 * the real registry. Each round moves one NAT'd member's external port (lab.rebindNat), lets it
 * send one packet to the hub (so the hub sees the new endpoint now rather than at its next NATS
 * message), and measures:
 *   hub → published   the hub device shows the new endpoint → the registry's watcher published it
 *                     (its "peer published" log line; bounded by --watch-interval, 500 ms)
 *   published → all   → every other member's device has applied it
 *   hub → all         the sum: what a member's NAT rebinding costs the others once the hub knows
 * Devices are read over their UAPI sockets (one `get=1` each, well under a millisecond), every
 * millisecond, from this process (the socket directory is shared by every namespace).
 */
export interface LabRound {
  mover: string;
  hubToPublishedMs: number;
  publishedToAllMs: number;
  hubToAllMs: number;
  /** Per other member, ms from the hub seeing it to the member's device having it. */
  members: Record<string, number>;
}

export interface LabConvergence {
  /** From the last enrolment to every pair direct and pinging, at start. */
  convergeMs: number;
  rounds: LabRound[];
}

export async function runLabConvergence(o: { rounds: number; progress: (line: string) => void }): Promise<LabConvergence> {
  const lab = await Lab.up({
    members: [
      { name: 'a', nat: 'eim' },
      { name: 'b', nat: 'eim' },
      { name: 'c', nat: 'public' },
    ],
  });
  let mesh: Awaited<ReturnType<typeof startMesh>> | undefined;
  try {
    mesh = await startMesh(lab, { registryLogLevel: 'debug' });
    const { convergeMs } = await mesh.waitForMesh(30_000);
    o.progress(`lab ${lab.id}: 3 members, every pair direct ${convergeMs} ms after the last enrolment`);
    const m = mesh;
    const uapi = new Map(['registry', ...m.memberNames()].map((h) => [h, new UapiClient(h === 'registry' ? m.registry.device : m.member(h).device, { timeoutMs: 2000 })]));
    const endpointOf = async (host: string, publicKey: string) => (await uapi.get(host)!.get()).peers.find((p) => p.publicKey === publicKey)?.endpoint ?? null;

    const rounds: LabRound[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const mover = r % 2 === 0 ? 'a' : 'b';
      const key = m.member(mover).publicKey;
      const others = m.memberNames().filter((n) => n !== mover);
      // Follow the WireGuard port (nat-probe's STUN sockets may be rebound too).
      const listenPort = (await uapi.get(mover)!.get()).listenPort;
      const rebind = (await lab.rebindNat(mover)).find((x) => x.sourcePort === listenPort);
      if (rebind?.after === undefined) throw new Error(`rebindNat(${mover}) changed nothing (no mapping?)`);
      const moved = `${lab.publicAddressOf(mover)}:${rebind.after}`;
      m.registry.log.poll();
      const from = m.registry.log.length;
      // One packet through the tunnel to the hub: WireGuard roams to the new source port.
      const nudge = lab.ping(mover, '10.99.0.1', { count: 1, timeoutMs: 1000 });
      let hubAt = 0;
      const seen: Record<string, number> = {};
      for (const deadline = Date.now() + 15_000; Object.keys(seen).length < others.length; ) {
        const t = performance.timeOrigin + performance.now();
        if (!hubAt && (await endpointOf('registry', key)) === moved) hubAt = t;
        if (hubAt) {
          await Promise.all(
            others
              .filter((n) => seen[n] === undefined)
              .map(async (n) => {
                if ((await endpointOf(n, key)) === moved) seen[n] = performance.timeOrigin + performance.now();
              }),
          );
        }
        if (Date.now() > deadline) throw new Error(`round ${r + 1}: ${hubAt ? `members ${others.filter((n) => seen[n] === undefined).join(', ')} did not apply` : 'the hub did not see'} ${mover}'s new endpoint ${moved} within 15 s`);
        await new Promise((res) => setTimeout(res, 1));
      }
      await nudge;
      const published = await m.registry.log.waitFor((e) => logMessage('peer published')(e) && e.json?.endpoint === moved, { from, timeoutMs: 5000 });
      const allAt = Math.max(...Object.values(seen));
      rounds.push({
        mover,
        hubToPublishedMs: published.at - hubAt,
        publishedToAllMs: allAt - published.at,
        hubToAllMs: allAt - hubAt,
        members: Object.fromEntries(Object.entries(seen).map(([n, t]) => [n, t - hubAt])),
      });
      o.progress(`lab round ${r + 1}/${o.rounds}: ${mover} → ${moved}: published ${(published.at - hubAt).toFixed(0)} ms after the hub saw it, on every other device ${(allAt - hubAt).toFixed(0)} ms after`);
      await new Promise((res) => setTimeout(res, 200));
    }
    return { convergeMs, rounds };
  } finally {
    await mesh?.down();
    await lab.down();
  }
}
