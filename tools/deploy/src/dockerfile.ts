/**
 * Just enough of a Dockerfile to check manifests against it: its stages (FROM … AS name), what
 * each stage runs (ENTRYPOINT, CMD, in exec form) and which Debian packages it installs
 * (`apt-get install` in RUN), each inherited along FROM <earlier stage>.
 */
export interface Stage {
  name: string;
  /** The FROM image, or the earlier stage's name. */
  from: string;
  entrypoint?: string[];
  cmd?: string[];
  /** Debian packages installed by this stage and the stages it is built FROM. */
  packages: Set<string>;
  /** Environment variables set by ENV in this stage and its parents. */
  env: Map<string, string>;
}

export class DockerfileError extends Error {
  override readonly name = 'DockerfileError';
}

export function parseDockerfile(text: string): Map<string, Stage> {
  const stages = new Map<string, Stage>();
  let current: Stage | null = null;
  let index = 0;
  for (const { line, no } of instructions(text)) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw new DockerfileError(`line ${no}: cannot read "${line}"`);
    const [, word, rest] = m;
    const op = word.toUpperCase();
    if (op === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest.trim());
      if (!from) throw new DockerfileError(`line ${no}: cannot read FROM ${rest}`);
      const parent = stages.get(from[1]);
      const name = from[2] ?? String(index);
      current = {
        name,
        from: from[1],
        entrypoint: parent?.entrypoint,
        cmd: parent?.cmd,
        packages: new Set(parent?.packages ?? []),
        env: new Map(parent?.env ?? []),
      };
      if (stages.has(name)) throw new DockerfileError(`line ${no}: stage "${name}" is defined twice`);
      stages.set(name, current);
      index++;
      continue;
    }
    if (!current) {
      if (op === 'ARG') continue;
      throw new DockerfileError(`line ${no}: ${op} before the first FROM`);
    }
    if (op === 'ENTRYPOINT' || op === 'CMD') {
      const argv = execForm(rest, no, op);
      if (op === 'ENTRYPOINT') {
        current.entrypoint = argv;
        current.cmd = undefined; // ENTRYPOINT resets an inherited CMD
      } else current.cmd = argv;
    } else if (op === 'RUN') {
      for (const pkgs of rest.matchAll(/apt-get\s+install\s+((?:-\S+\s+)*)([^;&|]+)/g)) {
        for (const p of pkgs[2].trim().split(/\s+/)) if (p && !p.startsWith('-')) current.packages.add(p.replace(/=.*$/, ''));
      }
    } else if (op === 'ENV') {
      for (const kv of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) current.env.set(kv[1], kv[2].replace(/^"(.*)"$/, '$1'));
    }
  }
  if (stages.size === 0) throw new DockerfileError('no FROM');
  return stages;
}

function* instructions(text: string): Generator<{ line: string; no: number }> {
  let buffer = '';
  let start = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (buffer === '' && /^\s*(#.*)?$/.test(raw)) continue;
    if (buffer !== '' && /^\s*#/.test(raw)) continue; // comment lines inside a continuation
    if (buffer === '') start = i + 1;
    if (/\\\s*$/.test(raw)) {
      buffer += `${raw.replace(/\\\s*$/, '')} `;
      continue;
    }
    buffer += raw;
    yield { line: buffer.trim(), no: start };
    buffer = '';
  }
  if (buffer.trim()) yield { line: buffer.trim(), no: start };
}

function execForm(rest: string, no: number, op: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(rest.trim());
  } catch {
    throw new DockerfileError(`line ${no}: ${op} must use the exec form (a JSON array), so signals reach the process`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new DockerfileError(`line ${no}: ${op} must be a JSON array of strings`);
  return value;
}
