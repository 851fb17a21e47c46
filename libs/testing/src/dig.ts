import { execFile } from 'node:child_process';

/** One resource record as `dig +noall +answer` prints it. */
export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  raw: string;
}

/** Runs dig (from dnsutils) against a local server and parses its sections. */
export function dig(server: { host: string; port: number }, name: string, type: string, extra: string[] = []): Promise<DigResult> {
  const args = [`@${server.host}`, '-p', String(server.port), name, type, '+norecurse', '+time=2', '+tries=1', '+nocookie', ...extra];
  return new Promise((resolve, reject) => {
    execFile('dig', args, { timeout: 10_000 }, (err, stdout) => {
      if (err && !stdout) return reject(new Error(`dig ${args.join(' ')} failed: ${err.message}`));
      resolve(parseDig(stdout));
    });
  });
}

export function parseDig(raw: string): DigResult {
  const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? 'NO-REPLY';
  const flags = (/;; flags: ([a-z ]+);/.exec(raw)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const sections: Record<string, DigRecord[]> = { ANSWER: [], AUTHORITY: [], ADDITIONAL: [] };
  let current: DigRecord[] | null = null;
  for (const line of raw.split('\n')) {
    const header = /^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:/.exec(line);
    if (header) {
      current = sections[header[1]];
      continue;
    }
    if (line.trim() === '' || line.startsWith(';')) {
      if (line.trim() === '') current = null;
      continue;
    }
    const m = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/.exec(line);
    if (m && current) current.push({ name: m[1], ttl: Number(m[2]), type: m[3], data: m[4].trim() });
  }
  return { status, flags, answer: sections.ANSWER, authority: sections.AUTHORITY, additional: sections.ADDITIONAL, raw };
}
