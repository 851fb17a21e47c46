// Tests only (not exported): the golden fixtures in ../shared/vpp-api (next to the repository), read in place.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { skipSuite } from '@wgmesh/testing';

const REPO_ROOT = resolve(__dirname, '../../../..');

/** WGMESH_SHARED_VPP_DIR (the reference data: api/ and captures/), else ../shared/vpp-api next to the repository. */
export const SHARED_DIR = process.env.WGMESH_SHARED_VPP_DIR ?? resolve(REPO_ROOT, '../shared/vpp-api');
export const API_DIR = join(SHARED_DIR, 'api');
export const CAPTURE = join(SHARED_DIR, 'captures/wireguard-session-v26.06.jsonl');
export const CAPTURE_META = join(SHARED_DIR, 'captures/wireguard-session-v26.06.meta.json');
export const HAVE_GOLDEN = existsSync(CAPTURE) && existsSync(API_DIR);
/** For tests that need definitions but not the capture: the shared copy, else an installed VPP's. */
export const DEFINITIONS_DIR = existsSync(API_DIR) ? API_DIR : existsSync('/usr/share/vpp/api') ? '/usr/share/vpp/api' : undefined;

export interface CaptureFrame {
  seq: number;
  dir: 'tx' | 'rx';
  msg: string;
  crc: string;
  msg_id: number;
  context: number | null;
  hex: string;
  fields: Record<string, unknown>;
  step: string;
  read?: number;
  note?: string;
}

export interface CaptureMeta {
  rx_read_sizes: number[];
  keys: Record<string, { private_hex: string; public_hex: string; private_b64: string; public_b64: string }>;
  observations: Record<string, unknown>;
}

export function loadCapture(): CaptureFrame[] {
  return readFileSync(CAPTURE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CaptureFrame);
}

export function loadCaptureMeta(): CaptureMeta {
  return JSON.parse(readFileSync(CAPTURE_META, 'utf8')) as CaptureMeta;
}

/** Why golden suites skip on this machine. */
const NO_GOLDEN = `no VPP reference data at ${SHARED_DIR} (../shared/vpp-api next to the repository, or WGMESH_SHARED_VPP_DIR)`;

/**
 * `describe` for tests that need the golden fixtures. Without them (a user's clone) it reports
 * one skipped test with the reason (npm test prints it at the end) instead of failing or
 * silently passing.
 */
export function describeGolden(name: string, fn: () => void): void {
  if (HAVE_GOLDEN) describe(name, fn);
  else skipSuite(NO_GOLDEN, name);
}

/** Like describeGolden, for tests that only need API definitions (shared copy or /usr/share/vpp/api). */
export function describeWithDefinitions(name: string, fn: (apiDir: string) => void): void {
  const dir = DEFINITIONS_DIR;
  if (dir) describe(name, () => fn(dir));
  else skipSuite(`${NO_GOLDEN}, and no VPP installed (/usr/share/vpp/api)`, name);
}
