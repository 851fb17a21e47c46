import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/**
 * Headless Chromium for page tests and screenshots: Debian's `chromium` (tools/dev/ensure-packages.sh),
 * driven by playwright-core (which downloads no browser), with flags for a closed network (no
 * QUIC, no background requests, no component updates or sync, no first-run) and a fresh profile
 * directory that `close()` removes.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** What stops the browser here, one sentence each (for describeE2E). */
export function missingBrowser(): string[] {
  return existsSync(CHROMIUM) ? [] : [`${CHROMIUM} is missing (the page tests run it headless): apt-get install chromium`];
}

export interface HeadlessBrowser {
  page: Page;
  context: BrowserContext;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

export async function openBrowser(opts: { width?: number; height?: number } = {}): Promise<HeadlessBrowser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'wgmesh-chromium-'));
  const remove = () => rmSync(profile, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 },
    });
  } catch (err) {
    remove();
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    context,
    close: async () => {
      await context.close().finally(remove);
    },
  };
}
