import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NKEY_SEED_PATTERN } from '@wgmesh/nats-auth';
import { base32 } from '@wgmesh/wireguard';

/**
 * Finds secrets in what a system emitted (NATS traffic, Redis contents, logs, spans). Two kinds of
 * needle: the actual secrets of a run (each WireGuard private key in every encoding it could be
 * written in, NATS seeds, pre-auth tokens, passwords), and shapes no output may ever contain
 * (any nkey seed, any `wgm_` token). A finding names the secret and where it was, never the value.
 */

export interface Secret {
  /** What it is, e.g. "member a private.key". */
  label: string;
  value: string;
}

export interface Haystack {
  /** Where the text came from, e.g. "nats wgmesh.v1.lab.peers.events" or "log registry.log". */
  source: string;
  text: string;
}

export interface Finding {
  secret: string;
  source: string;
  offset: number;
}

/** A WireGuard key's encodings: base64 (files, wg), hex (UAPI), base64url, base32 (DNS-SD names use it for public keys). */
export function keyEncodings(base64Key: string): string[] {
  const raw = Buffer.from(base64Key.trim(), 'base64');
  if (raw.length !== 32) return [base64Key.trim()];
  return [raw.toString('base64'), raw.toString('hex'), raw.toString('base64url'), base32(raw), base32(raw, { upper: true })];
}

/**
 * The secrets in a wgmesh state tree (a lab's mesh directory): every `private.key` (WireGuard), and
 * every nkey seed in `*.nk` and `*.creds` files. Other files are not secrets by themselves.
 */
export function secretsInStateDir(dir: string): Secret[] {
  const out: Secret[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (name === 'private.key') for (const v of keyEncodings(readFileSync(path, 'utf8'))) out.push({ label: `${path} (WireGuard private key)`, value: v });
      else if (name.endsWith('.nk') || name.endsWith('.creds')) {
        for (const seed of readFileSync(path, 'utf8').match(NKEY_SEED_PATTERN) ?? []) out.push({ label: `${path} (NATS seed)`, value: seed });
      }
    }
  };
  walk(dir);
  return out;
}

/** Shapes that are secrets wherever they appear: an nkey seed, a pre-auth token. */
export const SECRET_SHAPES: Array<{ label: string; pattern: RegExp }> = [
  { label: 'an nkey seed', pattern: new RegExp(NKEY_SEED_PATTERN.source, 'g') },
  { label: 'a pre-auth token', pattern: /wgm_[A-Za-z0-9_-]{43}/g },
];

/** Every occurrence of a secret or a secret shape in the haystacks. */
export function scanForSecrets(haystacks: Haystack[], secrets: Secret[]): Finding[] {
  const findings: Finding[] = [];
  const needles = secrets.filter((s) => s.value.length >= 8);
  for (const h of haystacks) {
    for (const s of needles) {
      for (let at = h.text.indexOf(s.value); at >= 0; at = h.text.indexOf(s.value, at + 1)) findings.push({ secret: s.label, source: h.source, offset: at });
    }
    for (const shape of SECRET_SHAPES) {
      for (const m of h.text.matchAll(shape.pattern)) findings.push({ secret: shape.label, source: h.source, offset: m.index ?? 0 });
    }
  }
  return findings;
}

/** One line per finding, for a test failure (names and places, never the secret). */
export function describeFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.secret} in ${f.source} at ${f.offset}`).join('\n');
}

