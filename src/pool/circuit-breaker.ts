export type CircuitState = 'closed' | 'open' | 'half_open';

/** A change of state and why (and the request whose call made it, if one did): told once, as it happens. */
export type CircuitTransition = (from: CircuitState, to: CircuitState, reason: string, requestId?: string) => void;

export type CircuitDecision = { allowed: true; probe: boolean } | { allowed: false; retryAfterMs: number };

/**
 * Per upstream: after `threshold` consecutive failures the circuit opens and
 * calls fail fast; after `openMs` one probe call is let through (half-open);
 * its success closes the circuit, its failure opens it again.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  lastFailure?: string;
  readonly transitions = { opened: 0, halfOpened: 0, closed: 0 };

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly onTransition?: CircuitTransition,
  ) {}

  get state(): CircuitState {
    return this.stateFor(undefined);
  }

  private stateFor(requestId: string | undefined): CircuitState {
    if (this.current === 'open' && Date.now() - this.openedAt >= this.openMs) {
      this.current = 'half_open';
      this.transitions.halfOpened++;
      this.onTransition?.('open', 'half_open', `open for ${this.openMs} ms: the next call probes the upstream`, requestId);
    }
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  retryAfterMs(): number {
    return this.current === 'open' ? Math.max(0, this.openMs - (Date.now() - this.openedAt)) : 0;
  }

  /** Whether a call may go out now; in half-open, only one probe at a time. `requestId`: whose call asks. */
  enter(requestId?: string): CircuitDecision {
    const state = this.stateFor(requestId);
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'half_open' && !this.probing) {
      this.probing = true;
      return { allowed: true, probe: true };
    }
    return { allowed: false, retryAfterMs: state === 'open' ? this.retryAfterMs() : 1_000 };
  }

  success(requestId?: string): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') {
      const from = this.current;
      this.current = 'closed';
      this.transitions.closed++;
      this.onTransition?.(from, 'closed', 'a call succeeded', requestId);
    }
  }

  failure(reason: string, requestId?: string): void {
    this.failures++;
    this.lastFailure = reason;
    this.probing = false;
    if (this.current === 'half_open' || (this.current === 'closed' && this.failures >= this.threshold)) {
      const from = this.current;
      this.current = 'open';
      this.openedAt = Date.now();
      this.transitions.opened++;
      this.onTransition?.(
        from,
        'open',
        from === 'half_open' ? `the probe failed: ${reason}` : `${this.failures} consecutive failures, the last: ${reason}`,
        requestId,
      );
    }
  }

  /** The call ended without saying anything about the upstream (the caller left): let another probe go. */
  neutral(): void {
    this.probing = false;
  }
}
