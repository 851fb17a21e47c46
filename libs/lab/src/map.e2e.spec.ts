import { describeE2E, HeadlessBrowser, missingBrowser, openBrowser, waitFor } from '@wgmesh/testing';
import { Lab } from './lab';
import { Mesh, missingMeshTools, startMesh } from './mesh';
import { missingRequirements } from './requirements';

/**
 * The mesh map as a user sees it, in headless Chromium on the lab's host: real wireguard-go
 * members behind NATs (a and b endpoint-independent, c and d endpoint-dependent), the registry's
 * page forwarded from its namespace to 127.0.0.1 (as `wgmesh lab up` prints it). Then the mesh
 * moves (a NAT rebinding, a member removed) and the page follows, without a reload.
 */
const problems = [...missingRequirements(), ...missingMeshTools(), ...missingBrowser()];
const report = (line: string) => process.stderr.write(`map e2e: ${line}\n`);

describeE2E('the mesh map of a lab, in headless Chromium', problems, () => {
  let lab: Lab;
  let mesh: Mesh;
  let browser: HeadlessBrowser;
  const badge = (pair: string) => browser.page.locator(`#pairs tr[data-pair="${pair}"] .badge`);
  const cells = (selector: string) => browser.page.locator(selector).allTextContents();

  beforeAll(async () => {
    lab = await Lab.up({
      members: [
        { name: 'a', nat: 'eim' },
        { name: 'b', nat: 'eim' },
        { name: 'c', nat: 'edm' },
        { name: 'd', nat: 'edm' },
      ],
    });
    mesh = await startMesh(lab, { natIntervalS: 3 });
    // The eim pair direct, the edm pair relayed, both ends agreeing, the tunnels carrying pings.
    await mesh.waitForPaths({ timeoutMs: 40_000, names: ['a', 'b'] });
    await mesh.waitForPaths({ timeoutMs: 40_000, names: ['c', 'd'] });
    browser = await openBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await mesh?.down();
    await lab?.down();
  }, 30_000);

  it('is served on the host and shows every member, the eim pair direct, the edm pair relayed with its reason', async () => {
    expect(mesh.mapUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/map$/);
    const { page } = browser;
    await page.goto(mesh.mapUrl);
    await page.locator('#status', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await waitFor('every member listed, online', async () => (await cells('#members tbody tr[data-member] .badge.online')).length === 4, 15_000, 100);
    expect(await cells('#members tbody td:first-child')).toEqual(['registry', 'a', 'b', 'c', 'd']);
    expect(await cells('#members tr[data-member="c"] td:nth-child(4)')).toEqual(['edm']);
    expect(await cells('#members tr[data-member="c"] td:nth-child(5)')).toEqual(['uapi']);

    await badge('a-b').filter({ hasText: /^direct$/ }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#drawing path.pair.path-direct[data-pair="a-b"]').count()).toBe(1);
    await badge('c-d').filter({ hasText: /^relayed$/ }).waitFor({ timeout: 10_000 });
    expect(await cells('#pairs tr[data-pair="c-d"] .reason')).toEqual([expect.stringMatching(/^relayed: both endpoint-dependent \(decided by [cd]\)$/)]);
    expect(await page.locator('#drawing path.pair.path-relayed[data-pair="c-d"]').count()).toBe(1);
    expect(await page.locator('#drawing path.pair').count()).toBe(6);
  }, 60_000);

  it('follows the mesh live, without a reload: a NAT rebinding moves a, a removal takes d away', async () => {
    const { page } = browser;
    await page.evaluate('window.notReloaded = true');
    const endpoint = () => cells('#members tr[data-member="a"] td:nth-child(3)');
    const [before] = await endpoint();

    const rebound = Date.now();
    await lab.rebindNat('a');
    // The hub learns the new port from a's next packet (its state report over the tunnel, every 5 s).
    await waitFor('a’s new endpoint on the page', async () => (await endpoint())[0] !== before, 15_000, 100);
    report(`a's endpoint moved on the page ${Date.now() - rebound} ms after the NAT rebinding (${before} → ${(await endpoint())[0]})`);
    expect((await cells('#events li')).some((e) => e.includes(`a moved ${before} →`))).toBe(true);

    const removing = Date.now();
    await mesh.removeMember('d');
    const commandMs = Date.now() - removing;
    await waitFor('d gone from the page', async () => (await cells('#members tbody td:first-child')).join() === 'registry,a,b,c', 5000, 50);
    report(`d gone from the page ${Date.now() - removing} ms after "member remove" started (the command, CLI start-up included, took ${commandMs} ms)`);
    expect(await page.locator('#pairs tr[data-pair="c-d"]').count()).toBe(0);
    expect(await page.locator('#drawing [data-member="d"]').count()).toBe(0);
    expect((await cells('#events li')).some((e) => / d removed$/.test(e))).toBe(true);
    expect(await page.evaluate('window.notReloaded')).toBe(true);
  }, 60_000);
});
