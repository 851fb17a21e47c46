import { parseEnrollReply, Patterns } from '@wgmesh/contracts';
import { createKey } from '@wgmesh/nats-auth';
import { MeshBus, RemoteError } from '@wgmesh/nats-transport';
import { buildEnrollRequest } from '@wgmesh/registry';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';

/**
 * The enrolment bench's members (a worker process, so that their CPU is not the registry's):
 * N fresh WireGuard key pairs and NATS user keys, made before the clock starts, then N enrolment
 * requests as `wgmesh member up` builds them (buildEnrollRequest: the token proof and the proof
 * of possession of the WireGuard key, a fresh time and nonce each) sent on `enroll`, C at a time
 * over C NATS connections (one per request in flight; the real client opens one per attempt).
 */
export type ToClient =
  | { type: 'prepare'; mesh: string; nats: string; token: string; registryKey: string; members: number; concurrency: number; namePrefix: string }
  | { type: 'go' }
  | { type: 'stop' };

export type FromClient =
  | { type: 'prepared'; prepareMs: number }
  | {
      type: 'done';
      /** Wall time from the first request to the last reply (ms). */
      wallMs: number;
      /** Per successful enrolment: ms from sending the request to its reply. */
      latencies: number[];
      /** Refusals and failures by code. */
      errors: Record<string, number>;
      /** This process's CPU while enrolling (building requests, NATS client), ms. */
      cpuMs: number;
    }
  | { type: 'error'; message: string };

interface Member {
  name: string;
  privateKey: SecretKey;
  publicKey: string;
  natsKey: string;
}

let job: { msg: Extract<ToClient, { type: 'prepare' }>; members: Member[]; buses: MeshBus[] } | null = null;

const send = (m: FromClient) => process.send?.(m);

process.on('message', (m: ToClient) => {
  const step = m.type === 'prepare' ? prepare(m) : m.type === 'go' ? go() : stop();
  step.catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
});
process.on('disconnect', () => void stop());

async function prepare(msg: Extract<ToClient, { type: 'prepare' }>): Promise<void> {
  const t0 = performance.now();
  const members: Member[] = [];
  for (let i = 0; i < msg.members; i++) {
    const priv = generatePrivateKey();
    members.push({ name: `${msg.namePrefix}${i}`, privateKey: new SecretKey(priv), publicKey: keyToBase64(publicKeyFromPrivate(priv)), natsKey: createKey('user').getPublicKey() });
  }
  const buses = await Promise.all(Array.from({ length: msg.concurrency }, (_, i) => MeshBus.connect({ servers: msg.nats, mesh: msg.mesh, name: `wgmesh-bench-enrol-${i}` })));
  job = { msg, members, buses };
  send({ type: 'prepared', prepareMs: performance.now() - t0 });
}

async function go(): Promise<void> {
  if (!job) throw new Error('go before prepare');
  const { msg, members, buses } = job;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    buses.map(async (bus) => {
      for (let i = next++; i < members.length; i = next++) {
        const m = members[i];
        const started = performance.now();
        try {
          const request = buildEnrollRequest({ mesh: msg.mesh, name: m.name, token: msg.token, privateKey: m.privateKey, publicKey: m.publicKey, registryKey: msg.registryKey, natsKey: m.natsKey });
          await bus.request(Patterns.enroll, request, parseEnrollReply, { timeoutMs: 30_000 });
          latencies.push(performance.now() - started);
        } catch (err) {
          const code = err instanceof RemoteError ? err.code : ((err as { code?: string }).code ?? (err as Error).name);
          errors[code] = (errors[code] ?? 0) + 1;
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  send({ type: 'done', wallMs, latencies, errors, cpuMs: (cpu.user + cpu.system) / 1000 });
}

async function stop(): Promise<void> {
  const buses = job?.buses ?? [];
  job = null;
  await Promise.allSettled(buses.map((b) => b.close()));
  process.exit(0);
}
