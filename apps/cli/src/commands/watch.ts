import { defineOptions, EXIT, formatOptionsHelp, runCommand, values } from '@wgmesh/config';
import { ContractError, parseDataplaneState, Patterns, readDataplaneState } from '@wgmesh/contracts';
import { formatWatchLines, MeshWatcher, parseSubjectPattern, subjectFilter, WatchEvent, watchRecord, watchSubjects } from '@wgmesh/watch';
import type { Subscription } from 'nats';
import { CLIENT_FAILURES, clientOptions, connectClient, fetchPeerTable, localEnrollment } from './peers';

// `wgmesh watch`: the mesh's events as they happen (libs/watch says what each one changed).

export const watchOptions = defineOptions([
  ...clientOptions,
  { key: 'subject', flag: 'subject', env: 'WGMESH_WATCH_SUBJECT', value: '<pattern>', repeatable: true, parse: parseSubjectPattern, description: 'only messages on subjects that match this NATS pattern, relative to the mesh (node.a.>, node.*.paths, peers.events); repeat for several' },
  { key: 'count', flag: 'count', value: '<n>', parse: values.int(1, 1_000_000), description: 'stop after n events (each one message that changed something)' },
]);

export const watchUsage = `Usage: wgmesh watch [--json] [--subject <pattern>]… [--count n] [options]

Prints what happens in the mesh as it happens, one line per change:
  peers  the registry's peer table: members joining, moving (endpoint), their NAT, removals
  nat    a node's NAT classification, when it changes
  paths  a node's path decision for a pair (direct or relayed, and why), when it changes
  state  a node's WireGuard device: peers added or gone, endpoints moved, first handshakes
         (updates; the first seen of a node, or one after a missed one, asks the node for its
         whole state: node.<id>.dataplane.state.get, and prints it in short)
  punch  hole punching between two members (offers, answers)
Repeats (a NAT report every classification, a device state update with no change) print nothing; byte counters and handshake renewals are not changes. --json prints one record
per message instead: {"at","subject","kind","node","changes":[…],"message":{…}}.

With a member's credential (on an enrolled member: its --state-dir) NATS lets it follow its own
NAT, device state and path decisions and the punches addressed to it; with the registry's,
everything (every node's path updates, every punch between two members).
In the lab: wgmesh lab exec registry -- watch (or a member's name instead of registry).

Examples:
  wgmesh watch
  wgmesh watch --subject 'node.*.paths' --subject peers.events
  wgmesh watch --subject 'node.b.punch.*'       (punches addressed to b; node.*.punch.a: sent by a)
  wgmesh watch --json --subject 'node.a.>' | jq .

Options:
${formatOptionsHelp(watchOptions)}`;

export function watchCommand(argv: string[]): Promise<number> {
  return runCommand(argv, { name: 'wgmesh watch', usage: watchUsage, options: watchOptions, failures: CLIENT_FAILURES }, async (c) => {
    const enrollment = localEnrollment(c);
    const mesh = c.mesh ?? enrollment?.mesh ?? 'default';
    const filters = (c.subject ?? []).map((p) => subjectFilter(mesh, p));
    const bus = await connectClient(c, enrollment);
    const watcher = new MeshWatcher(mesh);
    try {
      watcher.learn((await fetchPeerTable(bus, c.timeout)).peers);
    } catch (err) {
      process.stderr.write(`wgmesh watch: no peer table (${(err as Error).message}): members are shown by key until their next peer event\n`);
    }
    const subjects = watchSubjects(mesh, { member: enrollment?.name });
    return new Promise<number>((resolve) => {
      const subs: Subscription[] = [];
      let printed = 0;
      let stopped = false;
      const print = (event: WatchEvent) => {
        process.stdout.write(`${c.json ? watchRecord(event) : formatWatchLines(event).join('\n')}\n`);
        if (c.count !== undefined && ++printed >= c.count) stop(EXIT.ok);
      };
      /** Nodes whose whole device state is being asked for. */
      const fetching = new Set<string>();
      const fetchState = (event: WatchEvent) => {
        const node = event.node!;
        if (fetching.has(node)) return;
        fetching.add(node);
        readDataplaneState((req) => bus.request(Patterns.dataplaneStateGet, req, parseDataplaneState, { node, timeoutMs: c.timeout }))
          .then(
            (state) => {
              const changes = stopped ? null : watcher.fullState(state);
              if (changes) print({ at: Date.now(), subject: bus.subject(Patterns.dataplaneStateGet, node), kind: 'state', node, changes, message: { ...state, peers: [] } });
            },
            (err: Error) => !stopped && process.stderr.write(`wgmesh watch: no whole device state from ${node} (${err.message}): its peers show as updates name them\n`),
          )
          .finally(() => fetching.delete(node));
      };
      const stop = (code: number) => {
        if (stopped) return;
        stopped = true;
        process.off('SIGINT', interrupted);
        process.off('SIGTERM', interrupted);
        subs.forEach((s) => s.unsubscribe());
        void bus.close().finally(() => (process.stdout.writableNeedDrain ? process.stdout.once('drain', () => resolve(code)) : resolve(code)));
      };
      const interrupted = () => stop(EXIT.ok);
      process.once('SIGINT', interrupted);
      process.once('SIGTERM', interrupted);
      void bus.raw.closed().then(() => {
        if (!stopped) process.stderr.write('wgmesh watch: the NATS connection closed (the server went away?); run it again\n');
        stop(EXIT.failure);
      });
      for (const { subject } of subjects) {
        subs.push(
          bus.raw.subscribe(subject, {
            callback: (err, msg) => {
              if (err) {
                process.stderr.write(`wgmesh watch: NATS refused to deliver ${subject}: ${err.message}\n`);
                stop(EXIT.failure);
                return;
              }
              if (stopped || (filters.length > 0 && !filters.some((f) => f(msg.subject)))) return;
              let event;
              try {
                event = watcher.accept(msg.subject, msg.data, Date.now());
              } catch (e) {
                if (!(e instanceof ContractError)) throw e;
                process.stderr.write(`wgmesh watch: an invalid message on ${msg.subject}: ${e.message}\n`);
                return;
              }
              if (!event) return;
              if (event.gap && event.node) fetchState(event);
              if (event.changes.length > 0) print(event);
            },
          }),
        );
      }
      void bus.flush().then(
        () => process.stderr.write(`watching mesh "${mesh}": ${subjects.map((s) => s.subject.split('.').slice(3).join('.')).join(', ')}${filters.length ? ` (only ${c.subject!.join(', ')})` : ''}; Ctrl-C stops\n`),
        (err: Error) => {
          process.stderr.write(`wgmesh watch: ${err.message}\n`);
          stop(EXIT.failure);
        },
      );
    });
  });
}
