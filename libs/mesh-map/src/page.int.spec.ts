import { describeE2E, HeadlessBrowser, missingBrowser, openBrowser, waitFor } from '@wgmesh/testing';
import { Readiness, startHealthServer, type HealthServer } from '@wgmesh/health';
import { MapHttp } from './http';
import { MeshMap } from './mesh-map';
import { decision, hubState, keyOf, pathReport, syntheticMesh } from './testing';
import { buildView, PAIR_LIMIT } from './view';

/**
 * The page in a real browser (Debian's chromium, headless), against the map's HTTP side serving a
 * synthetic mesh: what a user sees, that it follows changes without a reload, the token, and that
 * a 1,000-member mesh stays a page of bounded size (no line per pair).
 */
const NOW_S = Math.floor(Date.now() / 1000);

describeE2E('the mesh map page in headless Chromium', missingBrowser(), () => {
  let browser: HeadlessBrowser;
  let server: HealthServer;
  let http: MapHttp;
  let map: MeshMap;

  const serve = async (next: MeshMap, token?: string) => {
    map = next;
    http = new MapHttp({ source: { view: () => buildView(map) }, token, minGapMs: 50 });
    server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness: new Readiness(), handlers: [http] });
  };
  const texts = (selector: string) => browser.page.locator(selector).allTextContents();

  beforeAll(async () => {
    browser = await openBrowser();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    http?.close();
    await server?.close();
  });

  it('shows every member, each pair as a line and a row with its path and reason, and a legend', async () => {
    // m0-m1 direct (punched), m0-m2 relayed, m0-m3 trying, the rest direct; m3 offline.
    await serve(syntheticMesh(4, { path: (i, j) => (i === 0 && j === 2 ? 'relayed' : i === 0 && j === 3 ? 'trying' : 'direct') }));
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 5, { technique: 'punch' }), decision(2, 'relayed', 5), decision(3, 'trying', 5)]));
    map.dataplaneState('registry', hubState([[0, NOW_S], [1, NOW_S], [2, NOW_S], [3, NOW_S - 600]]), 'registry');
    const { page } = browser;
    await page.goto(`${server.url}/map`);
    await page.locator('#status', { hasText: 'live' }).waitFor();
    expect(await texts('#members tbody td:first-child')).toEqual(['registry', 'm0', 'm1', 'm2', 'm3']);
    expect(await texts('#members tbody tr[data-member="m3"] .badge')).toEqual(['offline']);
    expect(await page.locator('#summary').textContent()).toBe('4 members (3 online) · 6 pairs: 4 direct, 1 relayed, 1 trying direct');
    const row = (pair: string) => texts(`#pairs tr[data-pair="${pair}"] td`);
    expect((await row('m0-m1')).slice(0, 4)).toEqual(['m0 – m1', 'direct', 'punched', '—']);
    expect((await row('m0-m2')).slice(1, 5)).toEqual(['relayed', '—', '—', 'relayed: both endpoint-dependent (decided by m0)']);
    expect((await row('m0-m3'))[1]).toBe('trying direct');
    expect(await page.locator('#drawing path.pair').count()).toBe(6);
    expect(await page.locator('#drawing path.pair.path-relayed[data-pair="m0-m2"]').count()).toBe(1);
    expect(await page.locator('#drawing .member').count()).toBe(4);
    expect(await page.locator('#legend li').count()).toBeGreaterThanOrEqual(5);

    await page.locator('#relayed-only').check();
    expect(await texts('#pairs tbody .pair-names')).toEqual(['m0 – m2', 'm0 – m3']);
    expect(await page.locator('#drawing path.pair').count()).toBe(2);
  }, 30_000);

  it('follows the map live, without a reload: a path change, a removal, the events', async () => {
    await serve(syntheticMesh(3, { live: true }));
    const { page } = browser;
    await page.goto(`${server.url}/map`);
    await page.locator('#pairs tr[data-pair="m0-m1"] .badge', { hasText: 'direct' }).waitFor();
    const marker = await page.evaluate('window.marker = 42');

    map.pathReport('m0', pathReport(0, [decision(1, 'relayed', Date.now(), { reason: 'relayed: direct handshakes stopped' }), decision(2, 'direct', 1_000_000 + 2)]));
    http.changed();
    await page.locator('#pairs tr[data-pair="m0-m1"] .badge', { hasText: 'relayed' }).waitFor({ timeout: 5000 });
    map.peers({ type: 'remove', revision: 9, publicKey: keyOf(2) });
    http.changed();
    await waitFor('m2 gone from the page', async () => (await texts('#members tbody td:first-child')).join() === 'registry,m0,m1', 5000);
    expect(await page.locator('#drawing .member').count()).toBe(2);
    expect(await browser.page.locator('#events li').allInnerTexts()).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d m2 removed$/),
      expect.stringMatching(/^\d\d:\d\d:\d\d m0 – m1: direct → relayed\nrelayed: direct handshakes stopped$/),
    ]);
    expect(await page.evaluate('window.marker')).toBe(marker); // the same page: no reload
  }, 30_000);

  it('with a token: asks for it, or takes it from #token= and drops it from the address', async () => {
    await serve(syntheticMesh(2), 'page-test-token-0123456789');
    const { page } = browser;
    await page.goto(`${server.url}/map`);
    await page.locator('#token-form').waitFor();
    expect(await page.locator('#status').textContent()).toBe('needs its token');
    expect(await page.locator('#members tbody tr').count()).toBe(0);
    await page.goto(`${server.url}/map#token=page-test-token-0123456789`);
    await page.locator('#members tr[data-member="m1"]').waitFor();
    expect(page.url()).toBe(`${server.url}/map`);
  }, 30_000);

  it('stays usable at 1,000 members: every member listed, a bounded set of pairs, no line per pair, DOM size linear in members', async () => {
    await serve(syntheticMesh(1000, { path: (i, j) => (i % 50 === 0 && j % 50 === 7 ? 'relayed' : 'direct'), handshake: NOW_S }));
    const { page } = browser;
    const started = Date.now();
    await page.goto(`${server.url}/map`);
    await page.locator('#summary', { hasText: '1,000 members (1,000 online) · 499,500 pairs' }).waitFor({ timeout: 30_000 });
    const renderedMs = Date.now() - started;
    expect(await page.locator('#members tbody tr').count()).toBe(1001);
    expect(await page.locator('#pairs tbody tr').count()).toBe(PAIR_LIMIT);
    expect(await page.locator('#drawing path.pair').count()).toBe(0);
    expect(await page.locator('#drawing circle.dot').count()).toBe(1000);
    expect(await page.locator('#drawing-note').textContent()).toMatch(/499,500 pairs are too many to draw/);
    expect(await page.locator('#pairs-note').textContent()).toMatch(/^500 of 499,500 shown: relayed and trying first/);
    const elements = Number(await page.evaluate('document.getElementsByTagName("*").length'));
    // Linear: ~10 elements per member row, 3 per member in the drawing, ~9 per pair row; a line per pair would be 499,500.
    expect(elements).toBeLessThan(14 * 1000 + 10 * PAIR_LIMIT + 500);
    // Filtering is still quick: the relayed-only view of 1,000 members.
    await page.locator('#relayed-only').check();
    await waitFor('only relayed pairs listed', async () => (await page.locator('#pairs tbody tr.row-direct').count()) === 0, 10_000);
    process.stderr.write(`mesh map page at 1,000 members: ${elements} elements, first view shown ${renderedMs} ms after navigation\n`);
    expect(renderedMs).toBeLessThan(30_000);
  }, 90_000);
});
