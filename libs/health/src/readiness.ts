/**
 * Readiness: named checks, each answering "ok, and what I see" or "not ok, and why". A service
 * registers its checks when it starts (before it is ready, so /ready explains what it waits
 * for); a process running several services (`wgmesh registry up`) gathers them all in one
 * Readiness, each under its service's prefix.
 */
export interface CheckResult {
  ok: boolean;
  /** What the check saw, for people: "connected to nats://…", "revision 7, 12 peers", "connecting". */
  detail: string;
}

export interface ReadinessCheck {
  /** Unique within a Readiness: "nats", "resolver.index", … */
  readonly name: string;
  check(): CheckResult | Promise<CheckResult>;
}

export interface ReadinessReport {
  ready: boolean;
  /** Every check by name, in registration order. */
  checks: Record<string, CheckResult>;
}

/** How long one check may take before it counts as failed. */
export const CHECK_TIMEOUT_MS = 2000;

/** What a service needs to register its checks (a Readiness, or a scoped view of one). */
export interface ReadinessSink {
  /** Adds checks; returns a function that removes them again. */
  add(...checks: ReadinessCheck[]): () => void;
}

export class Readiness implements ReadinessSink {
  private readonly checks = new Map<string, ReadinessCheck>();
  private drainingReason: string | null = null;

  /** Adds checks; returns a function that removes them again. Names must be unique. */
  add(...checks: ReadinessCheck[]): () => void {
    for (const c of checks) if (this.checks.has(c.name)) throw new Error(`readiness check "${c.name}" is already registered`);
    for (const c of checks) this.checks.set(c.name, c);
    return () => {
      for (const c of checks) if (this.checks.get(c.name) === c) this.checks.delete(c.name);
    };
  }

  /** Where a service registers its checks: this Readiness, with `<prefix>.` before every name. */
  scoped(prefix: string): ReadinessSink {
    return {
      add: (...checks: ReadinessCheck[]) => this.add(...checks.map((c) => renamed(`${prefix}.${c.name}`, c))),
    };
  }

  /** From now on not ready (a shutdown has begun), whatever the checks say. */
  draining(reason = 'shutting down'): void {
    this.drainingReason = reason;
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  /**
   * Runs every check concurrently; a check that throws or takes longer than `timeoutMs` fails.
   * Ready when there is at least one check, all pass, and no shutdown has begun.
   */
  async evaluate(timeoutMs = CHECK_TIMEOUT_MS): Promise<ReadinessReport> {
    const entries = [...this.checks.values()];
    const results = await Promise.all(entries.map((c) => runCheck(c, timeoutMs)));
    const checks: Record<string, CheckResult> = {};
    entries.forEach((c, i) => (checks[c.name] = results[i]));
    if (this.drainingReason !== null) checks.shutdown = { ok: false, detail: this.drainingReason };
    if (entries.length === 0) checks.startup = { ok: false, detail: 'starting: nothing registered yet' };
    return { ready: Object.values(checks).every((r) => r.ok), checks };
  }
}

function renamed(name: string, c: ReadinessCheck): ReadinessCheck {
  return { name, check: () => c.check() };
}

async function runCheck(c: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => c.check()), expired]);
    return { ok: result.ok === true, detail: String(result.detail) };
  } catch (err) {
    return { ok: false, detail: `check failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A check whose state the service sets as things happen: `up("connected")`, `down("disconnected")`.
 * Starts down, with the given detail.
 */
export class FlagCheck implements ReadinessCheck {
  private state: CheckResult;

  constructor(
    readonly name: string,
    detail = 'starting',
  ) {
    this.state = { ok: false, detail };
  }

  get ok(): boolean {
    return this.state.ok;
  }

  up(detail: string): void {
    this.state = { ok: true, detail };
  }

  down(detail: string): void {
    this.state = { ok: false, detail };
  }

  check(): CheckResult {
    return this.state;
  }
}

/** Something with ioredis's `status` ("ready" once connected and usable). */
export interface RedisLike {
  readonly status: string;
}

/** Ready when the Redis client is connected ("ready"); `redis` may be null until it exists. */
export function redisCheck(name: string, redis: () => RedisLike | null, where?: string): ReadinessCheck {
  return {
    name,
    check: () => {
      const r = redis();
      if (!r) return { ok: false, detail: 'not started' };
      const at = where ? ` (${where})` : '';
      return r.status === 'ready' ? { ok: true, detail: `connected${at}` } : { ok: false, detail: `${r.status}${at}` };
    },
  };
}

/**
 * A check that does something to find out (e.g. reads the device). The probe resolves with a
 * detail when it works and throws when not; its outcome is reused for `cacheMs` so that frequent
 * probes do not turn into load, and only one probe runs at a time.
 */
export function probeCheck(name: string, probe: () => Promise<string>, opts: { cacheMs?: number } = {}): ReadinessCheck {
  const cacheMs = opts.cacheMs ?? 1000;
  let last: { at: number; result: CheckResult } | null = null;
  let running: Promise<CheckResult> | null = null;
  return {
    name,
    check: () => {
      if (last && Date.now() - last.at < cacheMs) return last.result;
      running ??= probe()
        .then(
          (detail): CheckResult => ({ ok: true, detail }),
          (err: Error): CheckResult => ({ ok: false, detail: err?.message ?? String(err) }),
        )
        .then((result) => {
          last = { at: Date.now(), result };
          running = null;
          return result;
        });
      return running;
    },
  };
}

/**
 * One check over several connections to the same server (a service's NATS subscriptions and its
 * publishing client): ok when every one is up. The detail lists each.
 */
export class ConnectionsCheck implements ReadinessCheck {
  private readonly conns = new Map<string, CheckResult>();

  constructor(
    readonly name: string,
    /** Where they connect (a redacted URL), for the detail. */
    private readonly where: string,
    labels: string[],
  ) {
    for (const l of labels) this.conns.set(l, { ok: false, detail: 'connecting' });
  }

  set(label: string, ok: boolean, detail: string): void {
    this.conns.set(label, { ok, detail });
  }

  check(): CheckResult {
    const all = [...this.conns];
    return { ok: all.length > 0 && all.every(([, r]) => r.ok), detail: `${this.where}: ${all.map(([l, r]) => `${l} ${r.detail}`).join(', ')}` };
  }
}
