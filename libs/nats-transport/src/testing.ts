import { TransportLogger } from './log';

// Test-only helpers for this library's integration tests (not exported from index).

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A mesh name no other test run uses. */
export function uniqueMesh(): string {
  return `t${Math.random().toString(36).slice(2, 10)}`;
}

/** Polls a condition until it holds (the workspace's one `waitFor`, from @wgmesh/testing). */
export { waitFor } from '@wgmesh/testing';

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
