export type CircuitState = 'closed' | 'open' | 'half_open';

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
  ) {}

  get state(): CircuitState {
    if (this.current === 'open' && Date.now() - this.openedAt >= this.openMs) {
      this.current = 'half_open';
      this.transitions.halfOpened++;
    }
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  retryAfterMs(): number {
    return this.current === 'open' ? Math.max(0, this.openMs - (Date.now() - this.openedAt)) : 0;
  }

  /** Whether a call may go out now; in half-open, only one probe at a time. */
  enter(): CircuitDecision {
    const state = this.state;
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'half_open' && !this.probing) {
      this.probing = true;
      return { allowed: true, probe: true };
    }
    return { allowed: false, retryAfterMs: state === 'open' ? this.retryAfterMs() : 1_000 };
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') {
      this.current = 'closed';
      this.transitions.closed++;
    }
  }

  failure(reason: string): void {
    this.failures++;
    this.lastFailure = reason;
    this.probing = false;
    if (this.current === 'half_open' || (this.current === 'closed' && this.failures >= this.threshold)) {
      this.current = 'open';
      this.openedAt = Date.now();
      this.transitions.opened++;
    }
  }

  /** The call ended without saying anything about the upstream (the caller left): let another probe go. */
  neutral(): void {
    this.probing = false;
  }
}
