import { TransportLogger } from './log';

// Test-only helpers for this library's integration tests (not exported from index).

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A mesh name no other test run uses. */
export function uniqueMesh(): string {
  return `t${Math.random().toString(36).slice(2, 10)}`;
}

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A logger that keeps its lines, to assert on them (and keep test output quiet). */
export class MemoryLogger implements TransportLogger {
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  error(message: string): void {
    this.errors.push(message);
  }
}
