import type { Logger } from './logger';

/** Resolves on the first SIGINT or SIGTERM, logging which; services then close and exit 0. */
export function untilSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** A URL fit for logs: any password replaced by "***". */
export function redactUrl(url: string): string {
  if (url.includes(',')) return url.split(',').map((u) => redactUrl(u.trim())).join(','); // a NATS cluster's servers
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}

/** How long a shutdown step may take before it is cut short (NATS unreachable, say). */
export const SHUTDOWN_STEP_MS = 2000;

/** Runs `step`, giving up after `ms`; resolves true when it finished in time. */
export async function withDeadline(step: () => Promise<unknown>, ms = SHUTDOWN_STEP_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([step().then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
