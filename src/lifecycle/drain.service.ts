import { Injectable } from '@nestjs/common';

/**
 * Once the grace period is over, how long the calls just cut get to write their 503 before the server
 * closes. They answer within milliseconds; without the wait, the answers would be written on connections
 * the closing server has stopped watching, which then linger for the keep-alive timeout.
 */
const CUT_SETTLE_MS = 1_000;

/**
 * Counts inbound requests until their responses close (streams included) and,
 * once draining, tells the rest of the app to refuse new work; once the grace
 * period is over, tells the pools to cut the upstream calls still running.
 */
@Injectable()
export class DrainService {
  private active = 0;
  private draining = false;
  private readonly idle = new Set<() => void>();
  private readonly cutting = new AbortController();

  get isDraining(): boolean {
    return this.draining;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Fires when the grace period is over: the upstream calls still running end as SHUTTING_DOWN. */
  get cutSignal(): AbortSignal {
    return this.cutting.signal;
  }

  enter(): void {
    this.active++;
  }

  leave(): void {
    this.active--;
    if (this.active === 0) for (const wake of this.idle) wake();
  }

  /** Stops admitting work and waits until every in-flight request has finished, or the grace period ends. */
  async drain(graceMs: number): Promise<{ completed: boolean; abandoned: number }> {
    this.draining = true;
    await this.untilIdle(graceMs);
    return { completed: this.active === 0, abandoned: this.active };
  }

  /**
   * `drain`, then, if requests are still running, cuts their upstream calls (each answers 503 SHUTTING_DOWN,
   * or a stream ends with that error event, and nothing is counted against the upstream) and waits briefly
   * for those answers to be written. What main.ts runs on SIGTERM before closing the app.
   */
  async drainThenCut(graceMs: number): Promise<{ completed: boolean; cut: number; stillOpen: number }> {
    const { completed, abandoned } = await this.drain(graceMs);
    if (completed) return { completed, cut: 0, stillOpen: 0 };
    this.cutting.abort(new Error('shutdown'));
    await this.untilIdle(CUT_SETTLE_MS);
    return { completed, cut: abandoned, stillOpen: this.active };
  }

  private async untilIdle(timeoutMs: number): Promise<void> {
    if (this.active === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.idle.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idle.add(done);
    });
  }
}
