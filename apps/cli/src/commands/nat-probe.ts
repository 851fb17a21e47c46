import { ConfigError, formatOptionsHelp, OptionSpec, values } from '@wgmesh/config';
import { createLogger, Level, parseLevel, untilSignal } from '@wgmesh/log';
import { DEFAULT_HTTP_LISTEN, FlagCheck, httpListenOption, type HttpListen, Readiness, serveHealth } from '@wgmesh/health';
import { DEFAULT_CLASSIFY_TIMEOUT_MS, DEFAULT_RATE_LIMIT, NatClassification, probeNat, signed, StunServerConfigError } from '@wgmesh/nat-probe';
import { startNatProbeServer } from '@wgmesh/app/nat-probe';
import { CommandError, EXIT, runCommand } from './peers';

// `wgmesh nat-probe server|classify`: the STUN server (RFC 8489, RFC 5780) and the NAT classifier.

export const serverOptions: OptionSpec[] = [
  { key: 'listen', flag: 'listen', env: 'WGMESH_STUN_LISTEN', value: '<addr:port>', parse: values.listen, default: '0.0.0.0:3478', description: 'UDP address of the STUN server (A1:P1)' },
  {
    key: 'alternate',
    flag: 'alternate',
    env: 'WGMESH_STUN_ALTERNATE',
    value: '<addr:port>',
    parse: values.listen,
    description: 'second address (A2:P2) for RFC 5780: another IP gives full behaviour discovery, the same IP and another port only "change port"; --listen must then be a specific IP',
  },
  { key: 'rateLimit', flag: 'rate-limit', env: 'WGMESH_STUN_RATE_LIMIT', value: '<n>', parse: values.int(0, 1_000_000), default: String(DEFAULT_RATE_LIMIT.perSecond), description: 'replies per second to one source IP, in bursts of twice that (0: no limit)' },
  httpListenOption(DEFAULT_HTTP_LISTEN.natProbe),
  { key: 'logLevel', flag: 'log-level', env: 'WGMESH_LOG_LEVEL', value: '<level>', parse: parseLevel, default: 'info', description: 'debug, info, warn or error' },
];

export const classifyOptions: OptionSpec[] = [
  { key: 'server', flag: 'server', env: 'WGMESH_STUN_SERVER', value: '<addr:port>', parse: values.endpoint, required: true, description: 'the STUN server to probe, e.g. the registry: 203.0.113.1:3478' },
  { key: 'timeout', flag: 'timeout', env: 'WGMESH_TIMEOUT_MS', value: '<ms>', parse: values.int(200, 60_000), default: String(DEFAULT_CLASSIFY_TIMEOUT_MS), description: 'bound on the whole classification' },
  { key: 'localPort', flag: 'local-port', env: 'WGMESH_STUN_LOCAL_PORT', value: '<port>', parse: values.int(1, 65535), description: 'probe from this local UDP port (default: a random free one)' },
  { key: 'json', flag: 'json', parse: values.bool, description: 'print the result as JSON (for scripts)' },
];

export const natProbeUsage = `Usage: wgmesh nat-probe <command> [options]

Commands:
  server --listen <addr:port> [--alternate <addr:port>]
                 run a STUN server in the foreground (JSON logs on stderr) until SIGINT/SIGTERM
  classify --server <addr:port> [--json] [--timeout <ms>]
                 classify this host's NAT against a STUN server (RFC 5780 mapping and filtering
                 tests from one UDP socket); exits 1 when no server answered

Run "wgmesh nat-probe <command> --help" for its options.`;

const serverUsage = `Usage: wgmesh nat-probe server [--listen <addr:port>] [--alternate <addr:port>] [options]

A STUN server (RFC 8489 Binding). With --alternate on another IP it also does RFC 5780 NAT
behaviour discovery: it listens on A1:P1, A1:P2, A2:P1 and A2:P2, answers CHANGE-REQUEST from the
socket asked for and names A2:P2 in OTHER-ADDRESS. With --alternate on the same IP and another port
it can only change the port (change-IP requests get 420). Without --alternate, CHANGE-REQUEST gets
420. Malformed and foreign datagrams are dropped and counted; replies are rate-limited per source.

Options:
${formatOptionsHelp(serverOptions)}

Examples:
  wgmesh nat-probe server --listen 203.0.113.1:3478 --alternate 203.0.113.2:3479
  wgmesh nat-probe server --listen 203.0.113.1:3478 --alternate 203.0.113.1:3479   # one IP`;

const classifyUsage = `Usage: wgmesh nat-probe classify --server <addr:port> [--json] [--timeout <ms>] [options]

Classifies this host's NAT against a STUN server, all tests from one fresh UDP socket (RFC 5780):
test I (the mapped address; no NAT when it is this host's own address and port), the filtering
tests (the server answers from its other IP and port, then from its other port), then the mapping
tests (Binding to the other IP, then to the other IP and port), and behind an endpoint-dependent
mapping two more new mappings from fresh sockets (are ports handed out in sequence, so the next
ones can be predicted?). Prints the mapped address, the mapping and filtering behaviour
(endpoint-independent, address-dependent, address-and-port-dependent or unknown), the summary
(none, eim, edm, unknown), for edm the port allocation, and how it was decided (--json adds
portStep when ports are sequential). A server without a second IP tells less; one without
RFC 5780 only whether there is a NAT.

Options:
${formatOptionsHelp(classifyOptions)}

Exit status: 0 when the server answered, 1 when it did not, 2 for a usage error.`;

export async function natProbeCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'server':
      return serverCommand(rest);
    case 'classify':
      return classifyCommand(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${natProbeUsage}\n`);
      return sub === undefined ? EXIT.usage : EXIT.ok;
    default:
      process.stderr.write(`wgmesh nat-probe: unknown command "${sub}"\n\n${natProbeUsage}\n`);
      return EXIT.usage;
  }
}

interface ServerConfig {
  listen: { host: string; port: number };
  alternate?: { host: string; port: number };
  rateLimit: number;
  httpListen: HttpListen;
  logLevel: Level;
}

function serverCommand(argv: string[]): Promise<number> {
  return runCommand('nat-probe server', serverUsage, serverOptions, argv, async (o, rest) => {
    if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}" (see --help)`);
    const c = o as unknown as ServerConfig;
    const log = createLogger({ service: 'nat-probe', level: c.logLevel });
    const stopped = untilSignal(log); // before listening: a signal during start-up still ends it cleanly
    const readiness = new Readiness();
    const stun = new FlagCheck('stun', 'binding the STUN sockets');
    readiness.add(stun);
    const http = await serveHealth(c.httpListen, { readiness, log });
    let server;
    try {
      server = await startNatProbeServer({ listen: c.listen, alternate: c.alternate, rateLimit: c.rateLimit === 0 ? false : { perSecond: c.rateLimit, burst: 2 * c.rateLimit } }, log);
    } catch (err) {
      await http?.close();
      if (err instanceof StunServerConfigError) throw new ConfigError(err.message);
      throw err;
    }
    stun.up(`${server.addresses.mode}, ${server.addresses.sockets.length} socket(s)`);
    await stopped;
    readiness.draining();
    await server.close();
    await http?.close();
    log.info('stun server counters', { ...server.counters });
    return EXIT.ok;
  });
}

interface ClassifyConfig {
  server: string;
  timeout: number;
  localPort?: number;
  json?: boolean;
}

function classifyCommand(argv: string[]): Promise<number> {
  return runCommand('nat-probe classify', classifyUsage, classifyOptions, argv, async (o, rest) => {
    if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}" (see --help)`);
    const c = o as unknown as ClassifyConfig;
    let probe;
    try {
      probe = await probeNat({ server: c.server, timeoutMs: c.timeout, localPort: c.localPort });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') throw new CommandError(`cannot open a UDP socket${c.localPort ? ` on port ${c.localPort}` : ''}: ${(err as Error).message}`);
      throw err;
    }
    const r = probe.classification;
    if (c.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const rows: Array<[string, string]> = [
        ['server', r.server],
        ['mapped', r.mappedAddress ?? '(no answer)'],
        ['nat', r.nat],
        ['mapping', r.mapping],
        ['filtering', r.filtering],
        ...portsRow(r),
        ['took', `${probe.durationMs} ms`],
      ];
      process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n')}\nhow:\n${r.method.split('; ').map((s) => `  ${s}`).join('\n')}\n`);
    }
    if (r.mappedAddress === null) {
      process.stderr.write(`wgmesh nat-probe classify: no answer from ${r.server} within ${c.timeout} ms\n`);
      return EXIT.failure;
    }
    return EXIT.ok;
  });
}

/** For an endpoint-dependent mapping: how the NAT allocates ports. */
function portsRow(r: NatClassification): Array<[string, string]> {
  if (r.nat !== 'edm') return [];
  return [['ports', r.portStep !== undefined ? `sequential, step ${signed(r.portStep)} (predictable)` : 'not sequential (not predictable)']];
}
