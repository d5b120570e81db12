export type GateRejectionReason = 'queue_full' | 'wait_timeout' | 'aborted';

export class GateRejection extends Error {
  constructor(
    readonly reason: GateRejectionReason,
    readonly waitedMs: number,
  ) {
    super(`admission rejected: ${reason} after ${waitedMs} ms`);
    this.name = 'GateRejection';
  }
}

interface Waiter {
  enqueuedAt: number;
  admit: () => void;
}

/**
 * Bounds in-flight requests to an upstream. Node's agent would queue excess
 * requests without limit and without an acquisition timeout; this gate queues
 * at most `maxQueue` of them for at most `timeoutMs`, and refuses the rest fast.
 */
export class AdmissionGate {
  private inFlight = 0;
  private peak = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueue: number,
    private readonly timeoutMs: number,
  ) {}

  get active(): number {
    return this.inFlight;
  }

  get queued(): number {
    return this.waiters.length;
  }

  get peakActive(): number {
    return this.peak;
  }

  /** How long the longest-waiting request has waited, 0 when none waits. */
  oldestWaitMs(now = Date.now()): number {
    return this.waiters.length > 0 ? now - this.waiters[0].enqueuedAt : 0;
  }

  /**
   * Resolves with an idempotent release function once a slot is free, or rejects
   * with a GateRejection: queue full, waited too long, or the caller gave up.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new GateRejection('aborted', 0));
    if (this.inFlight < this.limit && this.waiters.length === 0) return Promise.resolve(this.take());
    if (this.waiters.length >= this.maxQueue) return Promise.reject(new GateRejection('queue_full', 0));

    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        enqueuedAt: Date.now(),
        admit: () => {
          cleanup();
          resolve(this.take());
        },
      };
      const leave = (reason: GateRejectionReason) => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        cleanup();
        reject(new GateRejection(reason, Date.now() - waiter.enqueuedAt));
      };
      const timer = setTimeout(() => leave('wait_timeout'), this.timeoutMs);
      const onAbort = () => leave('aborted');
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private take(): () => void {
    this.inFlight++;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const next = this.waiters.shift();
      if (next) next.admit();
    };
  }
}
