import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { credentialOptions, type Credentials } from '@wgmesh/nats-auth';
import type { Lab } from './lab';

/**
 * A NATS client for end-to-end tests, run inside a lab namespace (the tests' own process is
 * outside every namespace): what any client of the public protocol can do, with the credential
 * it is given. One JSON job on stdin (or in the file named by the first argument, for a process
 * the lab spawns), results as JSON lines on stdout.
 *
 *   requests: {"url", "creds"?, "requests": [{"subject", "body"}], "parallel"?, "timeoutMs"?}
 *             → one line {"replies": [{"reply": <JSON>} | {"error": "<message>"}]}
 *   hold:     {"url", "creds"?, "hold": true}
 *             → "connected", then when the server closes the connection {"closed": "<why>", "afterMs"},
 *               then one connection attempt more: {"reconnect": "ok" | "<error>"}
 *
 *   node -r bin/register.js libs/lab/src/nats-client.ts [job.json] < job.json
 */
export const NATS_CLIENT_SCRIPT = 'libs/lab/src/nats-client.ts';

export interface NatsClientJob {
  url: string;
  creds?: Credentials;
  requests?: Array<{ subject: string; body: unknown }>;
  parallel?: boolean;
  timeoutMs?: number;
  hold?: boolean;
}

export type NatsClientReply = { reply: unknown } | { error: string };

/** Runs a `requests` job inside a host's namespace; the replies, in order. */
export async function runNatsClient(lab: Lab, host: string, job: NatsClientJob, workspace: string): Promise<NatsClientReply[]> {
  const { stdout } = await lab.exec(host, process.execPath, ['-r', join(workspace, 'bin/register.js'), join(workspace, NATS_CLIENT_SCRIPT)], { input: JSON.stringify(job), timeoutMs: 60_000 });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { replies: NatsClientReply[] }).replies;
}

async function open(job: NatsClientJob, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({ servers: job.url, name: 'wgmesh-lab-client', reconnect: false, timeout: 5000, ...(job.creds ? credentialOptions(job.creds) : {}), ...extra });
}

async function requests(job: NatsClientJob): Promise<void> {
  const nc = await open(job);
  // A permissions violation is reported on the connection, not to the request: keep them to say why.
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') violations.push(String(s.data));
  })();
  const one = async (r: { subject: string; body: unknown }): Promise<NatsClientReply> => {
    try {
      const m = await nc.request(r.subject, new TextEncoder().encode(JSON.stringify(r.body)), { timeout: job.timeoutMs ?? 10_000 });
      return { reply: JSON.parse(m.string()) };
    } catch (err) {
      await new Promise((res) => setTimeout(res, 100)); // the server's -ERR may follow the timeout
      return { error: [(err as Error).message, ...violations].join('; ') };
    }
  };
  const list = job.requests ?? [];
  const replies = job.parallel ? await Promise.all(list.map(one)) : await list.reduce<Promise<NatsClientReply[]>>(async (acc, r) => [...(await acc), await one(r)], Promise.resolve([]));
  process.stdout.write(`${JSON.stringify({ replies })}\n`);
  await nc.close();
}

async function hold(job: NatsClientJob): Promise<void> {
  const nc = await open(job);
  process.stdout.write('connected\n');
  const since = Date.now();
  let why = 'closed';
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') why = String(s.data);
  })();
  const err = await nc.closed();
  process.stdout.write(`${JSON.stringify({ closed: err?.message ?? why, afterMs: Date.now() - since })}\n`);
  try {
    const again = await open(job);
    await again.flush();
    process.stdout.write(`${JSON.stringify({ reconnect: 'ok' })}\n`);
    await again.close();
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ reconnect: (e as Error).message })}\n`);
  }
}

async function main(file?: string): Promise<void> {
  const chunks: Buffer[] = [];
  if (file) chunks.push(readFileSync(file));
  else for await (const c of process.stdin) chunks.push(c as Buffer);
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as NatsClientJob;
  await (job.hold ? hold(job) : requests(job));
}

if (require.main === module) {
  main(process.argv[2]).then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`nats client: ${err.message}\n`);
      process.exit(1);
    },
  );
}
