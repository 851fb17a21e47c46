import { stopAllProcesses } from './processes';

/**
 * Undo steps (stop a server, clear the seeded Redis keys, remove the temp dir), run last-in
 * first-out, exactly once: at the end of a step, at the end of the bench, on an error or on
 * Ctrl-C / SIGTERM.
 */
export class Cleanup {
  private readonly steps: { what: string; run: () => Promise<void> | void }[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  /** Registers an undo step; the returned function runs it now (and unregisters it). */
  add(what: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { what, run };
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await this.track(step.run);
    };
  }

  /**
   * Runs every remaining step, newest first; a failing step is reported and the rest still run.
   * Resolves only when steps started elsewhere (another runAll, a step's own function) are done
   * too, so that exiting after it never cuts a step short.
   */
  async runAll(report: (message: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await this.track(step.run);
      } catch (err) {
        report(`cleanup: ${step.what} failed: ${(err as Error).message}`);
      }
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private track(run: () => Promise<void> | void): Promise<void> {
    const done = Promise.resolve().then(run);
    this.inFlight.add(done);
    const forget = () => void this.inFlight.delete(done);
    done.then(forget, forget);
    return done;
  }
}

let interruptedBy: NodeJS.Signals | null = null;

/** The signal that interrupted the bench, if any (work failing after it is not an error to report). */
export function interrupted(): NodeJS.Signals | null {
  return interruptedBy;
}

/**
 * On SIGINT/SIGTERM: stop every child process, run the cleanup steps, exit with 128+signal.
 * Returns a function that removes the handlers.
 */
export function cleanupOnSignals(cleanup: Cleanup): () => void {
  const handler = (sig: NodeJS.Signals) => {
    interruptedBy = sig;
    process.stderr.write(`\n${sig}: stopping servers and cleaning up…\n`);
    void stopAllProcesses()
      .then(() => cleanup.runAll())
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
