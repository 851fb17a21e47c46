import { join, resolve } from 'node:path';
import { Lab, missingMeshTools, missingRequirements, startMesh, type Mesh } from '@wgmesh/lab';
import { missingBrowser, openBrowser } from '@wgmesh/testing';

/**
 * The README's picture of the mesh map, taken from a real lab (`npm run screenshot:map`, as root):
 * members behind an endpoint-independent NAT (a, b), a NAT that hands out ports in sequence (c:
 * port prediction gets it direct) and a random endpoint-dependent one (d: relayed), once every
 * pair's first attempt is over; headless Chromium at 1440×900 (a laptop screen), the whole page.
 * Tears the lab down afterwards, also on failure.
 *
 *   node -r ./bin/register.js tools/docs/map-screenshot.ts [out.png]    (default docs/mesh-map.png)
 */
const ROOT = resolve(__dirname, '../..');
const OUT = resolve(process.argv[2] ?? join(ROOT, 'docs/mesh-map.png'));
const say = (line: string) => process.stderr.write(`screenshot:map: ${line}\n`);

async function main(): Promise<number> {
  const problems = [...missingRequirements(), ...missingMeshTools(), ...missingBrowser()];
  if (problems.length > 0) {
    say(`cannot run here:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  const lab = await Lab.up({
    members: [
      { name: 'a', nat: 'eim' },
      { name: 'b', nat: 'eim' },
      { name: 'c', nat: 'seq' },
      { name: 'd', nat: 'edm' },
    ],
  });
  let mesh: Mesh | undefined;
  try {
    say(`lab ${lab.id} up; starting the mesh…`);
    mesh = await startMesh(lab, { natIntervalS: 3 });
    // Every pair decided and its first direct attempt over (direct, or relayed after the deadline).
    await mesh.waitForPaths({ timeoutMs: 60_000, until: (r) => !r.attempt });
    say(`every pair settled; the map is at ${mesh.mapUrl}`);
    const browser = await openBrowser({ width: 1440, height: 900 });
    try {
      await browser.page.goto(mesh.mapUrl);
      await browser.page.locator('#status', { hasText: 'live' }).waitFor({ timeout: 10_000 });
      await browser.page.locator('#pairs tr[data-pair="c-d"] .badge', { hasText: /^relayed$/ }).waitFor({ timeout: 10_000 });
      await browser.page.screenshot({ path: OUT, fullPage: true });
    } finally {
      await browser.close();
    }
    say(`wrote ${OUT}`);
    return 0;
  } finally {
    await mesh?.down();
    await lab.down();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    say(err.stack ?? err.message);
    process.exit(1);
  },
);
