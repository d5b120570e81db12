import { Logger } from '@nestjs/common';

export interface KeyLease {
  /** Undefined for an upstream that needs no key (a local vLLM or Ollama). */
  readonly key?: string;
  readonly index: number;
  release(): void;
}

interface KeySlot {
  key: string;
  inFlight: number;
  disabledBy?: number;
  restingUntil: number;
}

/**
 * Several API keys for one upstream: each call takes the usable key with the
 * fewest calls in flight; a key answered 401/403 leaves the rotation, a key
 * answered 429 rests for the Retry-After. Keys are logged by position, never by value.
 */
export class ApiKeyPool {
  private readonly logger = new Logger('ApiKeys');
  private readonly slots: KeySlot[];

  constructor(
    private readonly upstream: string,
    keys: string[],
  ) {
    this.slots = keys.map((key) => ({ key, inFlight: 0, restingUntil: 0 }));
  }

  get size(): number {
    return this.slots.length;
  }

  /** The least-busy usable key; undefined when every key is out or resting. */
  acquire(now = Date.now()): KeyLease | undefined {
    if (this.slots.length === 0) return { index: -1, release: () => undefined };
    let best = -1;
    this.slots.forEach((slot, i) => {
      if (slot.disabledBy || slot.restingUntil > now) return;
      if (best < 0 || slot.inFlight < this.slots[best].inFlight) best = i;
    });
    if (best < 0) return undefined;
    const slot = this.slots[best];
    slot.inFlight++;
    let released = false;
    return {
      key: slot.key,
      index: best,
      release: () => {
        if (!released) slot.inFlight--;
        released = true;
      },
    };
  }

  disable(index: number, status: number): void {
    const slot = this.slots[index];
    if (!slot || slot.disabledBy) return;
    slot.disabledBy = status;
    const usable = this.slots.filter((s) => !s.disabledBy).length;
    this.logger.error(`${this.upstream}: API key #${index + 1} of ${this.slots.length} was refused (${status}); taken out of rotation, ${usable} left`);
  }

  rest(index: number, ms: number, now = Date.now()): void {
    const slot = this.slots[index];
    if (slot) slot.restingUntil = Math.max(slot.restingUntil, now + ms);
  }

  /** When the next resting key is usable again, or undefined if none will be. */
  nextUsableInMs(now = Date.now()): number | undefined {
    const resting = this.slots.filter((s) => !s.disabledBy).map((s) => s.restingUntil - now);
    return resting.length > 0 ? Math.max(0, Math.min(...resting)) : undefined;
  }

  snapshot(now = Date.now()) {
    return {
      total: this.slots.length,
      usable: this.slots.filter((s) => !s.disabledBy && s.restingUntil <= now).length,
      disabled: this.slots.filter((s) => s.disabledBy).length,
      resting: this.slots.filter((s) => !s.disabledBy && s.restingUntil > now).length,
    };
  }
}
