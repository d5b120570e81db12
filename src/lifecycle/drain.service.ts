import { Injectable } from '@nestjs/common';

/**
 * Counts inbound requests until their responses close (streams included) and,
 * once draining, tells the rest of the app to refuse new work.
 */
@Injectable()
export class DrainService {
  private active = 0;
  private draining = false;
  private readonly idle = new Set<() => void>();

  get isDraining(): boolean {
    return this.draining;
  }

  get inFlight(): number {
    return this.active;
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
    if (this.active > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.idle.delete(done);
          resolve();
        };
        const timer = setTimeout(done, graceMs);
        this.idle.add(done);
      });
    }
    return { completed: this.active === 0, abandoned: this.active };
  }
}
