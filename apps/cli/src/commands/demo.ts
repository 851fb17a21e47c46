import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { Patterns, PeerRecord } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { PeerPublisher } from '@wgmesh/registry';
import { generatePrivateKey, keyToBase32, keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { Redis } from 'ioredis';
import { startResolver } from '@wgmesh/app/registry-resolver';

const ZONE = 'mesh.example.';
const MESH = 'demo';
const DNS = { host: '127.0.0.1', port: 5353 };
const NATS = 'nats://127.0.0.1:4222';
const REDIS = 'redis://127.0.0.1:6379';
const MEMBERS = 6;

/**
 * `wgmesh demo` (what `npm start` runs): starts NATS and Redis when they are not running, seeds a
 * demo mesh, runs the registry-resolver on 127.0.0.1:5353, and then moves one member's endpoint
 * every few seconds (as a NAT rebinding would), showing how fast the DNS answer follows.
 */
export async function demoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: wgmesh demo [--once]

Starts NATS and Redis on 127.0.0.1 when they are not running, seeds the mesh "${MESH}" with
${MEMBERS} members (fresh keys, endpoints in 192.0.2.0/24), runs the registry-resolver for zone
${ZONE} on ${DNS.host}:${DNS.port}, and moves one member's endpoint every 3 s, printing how long
the DNS answer took to follow. Ctrl-C stops everything it started (NATS and Redis keep running).
  --once   make one change, print the result, and exit (used by the tests)\n`);
    return 0;
  }
  const once = argv.includes('--once');
  execFileSync('bash', [join(__dirname, '../../../../tools/dev/ensure-services.sh')], { stdio: 'inherit' });

  const log = createLogger({ service: 'demo', level: 'warn' });
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, MESH);
  await store.clear();
  const bus = await MeshBus.connect({ servers: NATS, mesh: MESH, name: 'wgmesh-demo' });
  const publisher = new PeerPublisher(store, (event) => bus.publish(Patterns.peerEvents, event));

  const members: PeerRecord[] = Array.from({ length: MEMBERS }, (_, i) => ({
    publicKey: keyToBase64(publicKeyFromPrivate(generatePrivateKey())),
    allowedIps: [`10.99.0.${i + 2}/32`],
    endpoint: `192.0.2.${i + 2}:51820`,
    name: `site-${String.fromCharCode(97 + i)}`,
    persistentKeepalive: 25,
  }));
  for (const m of members) await publisher.upsert(m);

  const registryKey = keyToBase64(publicKeyFromPrivate(generatePrivateKey()));
  const resolver = await startResolver(
    { zone: [ZONE], listen: DNS, mesh: MESH, nats: NATS, redis: REDIS, ttl: 0, selfKey: registryKey, selfEndpoint: '203.0.113.1:51820', selfAllowed: ['10.99.0.1/32'], udpPayload: 1232, workers: 1, logLevel: 'warn' },
    log,
  );

  const name = (m: PeerRecord) => `${keyToBase32(Buffer.from(m.publicKey, 'base64'))}._wireguard._udp.${ZONE}`;
  process.stdout.write(`wgmesh demo: registry-resolver answering on ${DNS.host}:${DNS.port} for ${ZONE}
  ${MEMBERS} members + the registry itself (self), mesh "${MESH}", NATS ${NATS}, Redis ${REDIS}

Try in another terminal:
  dig @${DNS.host} -p ${DNS.port} _wireguard._udp.${ZONE} PTR
  dig @${DNS.host} -p ${DNS.port} ${name(members[0])} SRV
  dig @${DNS.host} -p ${DNS.port} 10.99.0.2._wireguard._udp.${ZONE} SRV   (lookup by tunnel address)

Every 3 s one member's endpoint moves (as when its NAT rebinds); the DNS answer follows:\n`);

  let stop = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      stop = true;
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  let step = 0;
  while (!stop) {
    const m = members[step % MEMBERS];
    const port = 40000 + Math.floor(Math.random() * 20000);
    m.endpoint = `192.0.2.${(step % MEMBERS) + 2}:${port}`;
    const started = performance.now();
    await publisher.upsert({ ...m });
    const seen = await waitForSrvPort(name(m), port, 2000);
    const ms = performance.now() - started;
    process.stdout.write(`  ${m.name}  endpoint → ${m.endpoint}  ${seen ? `DNS answer updated after ${ms.toFixed(1)} ms` : 'DNS answer NOT updated within 2 s'}\n`);
    step++;
    if (once) {
      if (!seen) process.exitCode = 1;
      break;
    }
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 3000))]);
  }

  await resolver.close();
  await bus.close();
  await store.clear();
  redis.disconnect();
  return Number(process.exitCode ?? 0);
}

/** Polls the resolver over UDP until the SRV answer for `name` carries `port`. */
async function waitForSrvPort(name: string, port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    const deadline = performance.now() + timeoutMs;
    let id = 1;
    while (performance.now() < deadline) {
      const answer = await new Promise<dnsPacket.Packet | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 200);
        socket.once('message', (msg) => {
          clearTimeout(timer);
          resolve(dnsPacket.decode(msg));
        });
        socket.send(dnsPacket.encode({ type: 'query', id: id++, questions: [{ type: 'SRV', name }] }), DNS.port, DNS.host);
      });
      const srv = answer?.answers?.find((a) => a.type === 'SRV');
      if (srv && (srv.data as { port: number }).port === port) return true;
      await new Promise((r) => setTimeout(r, 1));
    }
    return false;
  } finally {
    socket.close();
  }
}
