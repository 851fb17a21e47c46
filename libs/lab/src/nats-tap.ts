import { connect } from 'nats';
import { credsFileOptions } from '@wgmesh/nats-auth';

/**
 * Prints every message on a NATS server (`>`), one line each: `NATS-MSG <json>` with the subject,
 * reply subject, headers and body. The lab runs it in the registry's namespace with the registry's
 * credential (the only one allowed to subscribe to everything):
 *   node -r bin/register.js libs/lab/src/nats-tap.ts <url> <creds file>
 */
export const NATS_TAP_PREFIX = 'NATS-MSG ';

async function main(url: string, creds: string): Promise<void> {
  const nc = await connect({ servers: url, name: 'wgmesh-nats-tap', ...credsFileOptions(creds) });
  const sub = nc.subscribe('>');
  await nc.flush();
  process.stdout.write('nats tap listening\n');
  const stop = () => void nc.drain().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for await (const m of sub) {
    const headers: Record<string, string[]> = {};
    for (const [k, v] of m.headers ?? []) headers[k] = v;
    process.stdout.write(`${NATS_TAP_PREFIX}${JSON.stringify({ subject: m.subject, reply: m.reply ?? null, headers, data: Buffer.from(m.data).toString('utf8') })}\n`);
  }
}

if (require.main === module) {
  const [url, creds] = process.argv.slice(2);
  main(url, creds).catch((err: Error) => {
    process.stderr.write(`nats tap: ${err.message}\n`);
    process.exit(1);
  });
}
