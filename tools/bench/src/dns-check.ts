import { checkAnswers } from './checks';
import { makePeers } from './peers';

/**
 * `node -r ./bin/register.js tools/bench/src/dns-check.ts <host> <port> <zone> <peers>`: the
 * bench's answer check (checks.ts) against the bench's first <peers> synthetic peers, printed as
 * JSON. The bench runs it with `ip netns exec` to check a server inside a network namespace.
 */
async function main(argv: string[]): Promise<number> {
  const [host, portText, zone, countText] = argv;
  const port = Number(portText);
  const count = Number(countText);
  if (!host || !zone || !Number.isInteger(port) || port < 1 || port > 65535 || !Number.isInteger(count) || count < 1) {
    process.stderr.write('usage: dns-check.ts <host> <port> <zone> <peers>\n');
    return 2;
  }
  process.stdout.write(`${JSON.stringify(await checkAnswers(host, port, zone, makePeers(count)))}\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`dns-check failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
