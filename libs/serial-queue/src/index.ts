/**
 * Runs async work one at a time, in the order asked: each job starts once the one before it has
 * settled (resolved or rejected; a failure reaches only its own caller). The one serial queue of
 * the workspace (the VPP driver's API calls, the registry publisher's writes, the NAT lock).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => T | Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every job asked so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
