/** A DNS server under test, started by the bench. */
export interface RunningServer {
  /** Row label in the results, e.g. "wgmesh workers 2" or "knot udp-workers 2". */
  label: string;
  kind: 'wgmesh' | 'knot';
  /** Processes (or threads) answering UDP. */
  workers: number;
  host: string;
  port: number;
  /** PID of the process the bench started. */
  pid: number | undefined;
  /** The network namespace it answers in (dnsperf and the answer check run there too); absent: this one. */
  netns?: string;
  stop(): Promise<void>;
}
