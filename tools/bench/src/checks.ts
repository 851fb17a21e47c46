import { probe, probeTcp } from './dns-probe';
import { BenchPeer, peerName, serviceName } from './peers';

/**
 * Before a server is measured: does it give the answers the bench expects (so that the numbers
 * are not a measurement of errors)? Returns the problems found, and whether PTR is truncated.
 */
export interface AnswerCheck {
  problems: string[];
  ptrTruncated: boolean;
  /** PTR records in the UDP answer: all peers, some (truncated), or none (Knot's truncated answer). */
  ptrAnswers: number;
  /** What a client gets when it retries the PTR question over TCP after TC. */
  ptrTcp: { rcode: string; answers: number; truncated: boolean; bytes: number } | { error: string };
  srvBytes: number;
  ptrBytes: number;
}

const sameName = (a: string, b: string) => a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();

export async function checkAnswers(host: string, port: number, zone: string, peers: readonly BenchPeer[]): Promise<AnswerCheck> {
  const problems: string[] = [];
  const peer = peers[Math.floor(peers.length / 2)];
  const name = peerName(peer, zone);

  const srv = await probe(host, port, name, 'SRV');
  const srvData = srv.answers.find((a) => a.type === 'SRV');
  if (srv.rcode !== 'NOERROR' || !srvData || srvData.type !== 'SRV') {
    problems.push(`SRV ${name}: rcode ${srv.rcode}, ${srv.answers.length} answers`);
  } else if (srvData.data.port !== peer.endpointPort || !sameName(srvData.data.target, name)) {
    problems.push(`SRV ${name}: got ${srvData.data.port} ${srvData.data.target}, expected ${peer.endpointPort} ${name}`);
  }
  const glue = srv.additionals.find((a) => a.type === 'A');
  if (!glue || glue.type !== 'A' || glue.data !== peer.endpointIp) problems.push(`SRV ${name}: no A ${peer.endpointIp} in the additional section`);

  const txt = await probe(host, port, name, 'TXT');
  const txtData = txt.answers.find((a) => a.type === 'TXT');
  const strings = txtData && txtData.type === 'TXT' ? (txtData.data as Buffer[]).map((b) => b.toString()) : [];
  const want = ['txtvers=1', `pub=${peer.publicKey}`, `allowed=${peer.allowedIp}`];
  if (want.some((w, i) => strings[i] !== w)) problems.push(`TXT ${name}: got ${JSON.stringify(strings)}, expected ${JSON.stringify(want)} first`);

  const ptr = await probe(host, port, serviceName(zone), 'PTR');
  if (ptr.rcode !== 'NOERROR' || (ptr.answers.length === 0 && !ptr.truncated)) problems.push(`PTR ${serviceName(zone)}: rcode ${ptr.rcode}, ${ptr.answers.length} answers`);
  if (!ptr.truncated && ptr.answers.length !== peers.length) problems.push(`PTR ${serviceName(zone)}: ${ptr.answers.length} answers without TC, expected ${peers.length}`);

  let ptrTcp: AnswerCheck['ptrTcp'];
  try {
    const tcp = await probeTcp(host, port, serviceName(zone), 'PTR');
    ptrTcp = { rcode: tcp.rcode, answers: tcp.answers.length, truncated: tcp.truncated, bytes: tcp.bytes };
  } catch (err) {
    ptrTcp = { error: (err as Error).message };
  }
  return { problems, ptrTruncated: ptr.truncated, ptrAnswers: ptr.answers.length, ptrTcp, srvBytes: srv.bytes, ptrBytes: ptr.bytes };
}
