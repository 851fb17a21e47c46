import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { Patterns, parsePeerEvent } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { OwnServer, tempDir } from '@wgmesh/testing';
import { FaultMesh } from '../../faults/src/fault-harness';
import { FakeDriver, key, memoryLogger } from '@wgmesh/peer-discovery/testing';

/**
 * One peer flapping its endpoint: how many of the flaps the registry publishes, how far the
 * members lag behind, and how soon the last endpoint is everywhere. The same control plane as
 * the fault test (tools/faults/src/burst-fault.int.spec.ts, which asserts the behaviour:
 * every published event applied in order, the last endpoint everywhere): the real registry
 * (hub watcher every --watch ms → Redis → NATS) and two real members on a nats-server and a
 * redis-server of its own (loopback, free ports), the hub device and the members' dataplanes in
 * memory (an apply takes 10 ms). Prints a table; not a test.
 */
const options = defineOptions([
  { key: 'runs', flag: 'runs', value: '<n>', parse: values.int(1, 100), default: '3', description: 'how many flapping runs' },
  { key: 'interval', flag: 'interval', value: '<ms>', parse: values.int(10, 10_000), default: '100', description: 'the peer moves its endpoint this often' },
  { key: 'duration', flag: 'duration', value: '<s>', parse: values.int(1, 600), default: '30', description: 'for this long per run' },
  { key: 'watch', flag: 'watch', value: '<ms>', parse: values.int(50, 60_000), default: '50', description: "the registry's --watch-interval" },
]);

const usage = `Usage: node -r ./bin/register.js tools/bench/src/flap-rate.ts [options]   (npm run bench:flap)

A peer moves its endpoint every --interval ms for --duration s on the registry's hub device;
measures the events the registry published (of the flaps), the events/s, the members' largest
lag behind the registry (in revisions, sampled every 10 ms) and when the last endpoint was on
both members' devices after the last flap.

Options:
${formatOptionsHelp(options)}`;

interface RunResult {
  flaps: number;
  published: number;
  seconds: number;
  maxLag: number;
  settledMs: number;
}

async function main(argv: string[]): Promise<number> {
  const command = parseCommand('flap-rate', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const mesh = `f${Math.random().toString(36).slice(2, 9)}`;
  const dir = tempDir('wgmesh-flap-bench-');
  const hub = new FakeDriver('wgflap0', key(1000));
  const address = (n: number) => `10.99.0.${n}/32`;
  const setPeer = (n: number, port: number) => hub.set({ publicKey: key(n), allowedIps: [address(n)], endpoint: `198.51.100.${n}:${port}`, latestHandshake: 1_700_000_000 });
  const nats = await OwnServer.nats();
  const redis = await OwnServer.redis(dir.path);
  let fm: FaultMesh | undefined;
  let bus: MeshBus | undefined;
  const results: RunResult[] = [];
  try {
    await Promise.all([nats.start(), redis.start()]);
    for (let n = 1; n <= 3; n++) setPeer(n, 20000 + n);
    fm = await FaultMesh.start({
      mesh, nats, redis, hub, watchIntervalMs: o.watch, log: memoryLogger().log, applyMs: 10,
      members: [
        { name: 'a', publicKey: key(1), address: '10.99.0.1' },
        { name: 'b', publicKey: key(2), address: '10.99.0.2' },
      ],
    });
    const up = fm;
    await until(() => up.membersMatchHub(), 10_000);
    bus = await MeshBus.connect({ servers: nats.url, mesh, name: 'flap-bench' });
    let lastRevision = 0;
    bus.subscribe(Patterns.peerEvents, (v) => void (lastRevision = parsePeerEvent(v).revision));
    await bus.flush();
    const registryRevision = () => up.registry.hub!.publisher.revision;
    for (let run = 0; run < o.runs; run++) {
      const start = registryRevision();
      let maxLag = 0;
      const sampler = setInterval(() => {
        for (const m of up.members) maxLag = Math.max(maxLag, registryRevision() - m.running.member!.mirror.revision);
      }, 10);
      const flaps = Math.round((o.duration * 1000) / o.interval);
      const started = performance.now();
      let port = 0;
      for (let i = 1; i <= flaps; i++) {
        await new Promise((r) => setTimeout(r, Math.max(0, started + i * o.interval - performance.now())));
        port = 30000 + ((run * flaps + i) % 30000);
        setPeer(3, port);
      }
      const flappedAt = performance.now();
      const last = `198.51.100.3:${port}`;
      await until(() => up.members.every((m) => m.dataplane.current().get(key(3))?.endpoint === last), 30_000);
      const settledMs = performance.now() - flappedAt;
      clearInterval(sampler);
      await until(() => lastRevision >= registryRevision(), 5000);
      results.push({ flaps, published: registryRevision() - start, seconds: (flappedAt - started) / 1000, maxLag, settledMs });
      process.stderr.write(`run ${run + 1}/${o.runs} done\n`);
    }
  } finally {
    await bus?.close();
    await fm?.close();
    await nats.stop('SIGKILL');
    await redis.stop('SIGKILL');
    dir.remove();
  }
  const rows = results.map((r, i) => [String(i + 1), String(r.flaps), String(r.published), `${((r.published / r.flaps) * 100).toFixed(0)}%`, (r.published / r.seconds).toFixed(1), String(r.maxLag), r.settledMs.toFixed(0)]);
  const header = ['run', 'flaps', 'published', 'seen', 'events/s', 'max lag (revisions)', 'last endpoint everywhere (ms)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  process.stdout.write(`one peer flapping every ${o.interval} ms for ${o.duration} s, registry --watch-interval ${o.watch} ms, 2 members (apply 10 ms)\n\n`);
  process.stdout.write(`${[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')}\n`);
  return 0;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`flap-rate: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
