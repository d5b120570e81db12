import { Logger } from '@nestjs/common';

export interface KeyLease {
  /** Undefined for an upstream that needs no key (a local vLLM or Ollama). */
  readonly key?: string;
  readonly index: number;
  /** This call is the one probe of a key whose rest after a refusal is over. */
  readonly probe: boolean;
  release(): void;
}

export interface KeyRestSettings {
  /** First rest of a refused key; each refusal in a row doubles it. */
  keyRestMs: number;
  keyRestMaxMs: number;
}

/**
 * - active: in rotation.
 * - refused: answered 401/403, resting until `restingUntil`.
 * - probing: its rest is over; the next call takes it, one at a time, and its answer decides.
 * - rate_limited: answered 429, resting for the Retry-After.
 */
export type KeyState = 'active' | 'refused' | 'probing' | 'rate_limited';

/** One key as stats show it: by position (1-based, the order configured), never by value. */
export interface ApiKeyStatus {
  position: number;
  state: KeyState;
  inFlight: number;
  probeInFlight: boolean;
  consecutiveRefusals: number;
  lastStatus: number | null;
  /** When a refused or rate-limited key may take a call again. */
  restingUntil: string | null;
  restMsLeft: number;
}

export interface ApiKeysSnapshot {
  total: number;
  /** Keys a call could take now (active, or due for its probe and none in flight). */
  usable: number;
  refused: number;
  rateLimited: number;
  keys: ApiKeyStatus[];
}

/** Every key resting after a refusal: the upstream cannot be called until one is probed or re-enabled. */
export interface AllRefused {
  total: number;
  /** The statuses the keys were refused with (401, 403). */
  statuses: number[];
  nextProbeInMs: number;
}

interface KeySlot {
  readonly key: string;
  inFlight: number;
  /** 401/403 answers in a row; 0 once the key is answered anything else. */
  refusals: number;
  refusedStatus?: number;
  /** Rest after a refusal; 0 when the key is not resting (or was never refused). */
  refusedUntil: number;
  probeInFlight: boolean;
  rateLimitedUntil: number;
  lastStatus?: number;
}

const isRefusal = (status: number) => status === 401 || status === 403;
/** An answer that says the key is good: the provider looked at the request (2xx, or a 4xx about the request itself). */
const acceptsKey = (status: number) => (status >= 200 && status < 300) || (status >= 400 && status < 500 && !isRefusal(status));

/**
 * Several API keys for one upstream: each call takes the usable key with the fewest calls in flight.
 * A key answered 401/403 rests (LLM_KEY_REST_MS, doubled on each refusal in a row up to
 * LLM_KEY_REST_MAX_MS), then the next call probes it: any accepting answer puts it back. A lone key never
 * rests (there is no other to try; callers get the provider's answer). A key answered 429 rests for the
 * Retry-After. Keys are logged and shown by position, never by value.
 */
export class ApiKeyPool {
  private readonly logger = new Logger('ApiKeys');
  private readonly slots: KeySlot[];

  constructor(
    private readonly upstream: string,
    keys: string[],
    private readonly rest: KeyRestSettings,
  ) {
    this.slots = keys.map((key) => ({ key, inFlight: 0, refusals: 0, refusedUntil: 0, probeInFlight: false, rateLimitedUntil: 0 }));
  }

  get size(): number {
    return this.slots.length;
  }

  /** A key due for its probe first (one call at a time), else the least-busy active key; undefined when none is usable. */
  acquire(now = Date.now()): KeyLease | undefined {
    if (this.slots.length === 0) return { index: -1, probe: false, release: () => undefined };
    // Probes go first: a refused key that no call tries would stay out however long the others serve.
    const probe = this.slots.findIndex((slot) => this.stateOf(slot, now) === 'probing' && !slot.probeInFlight);
    if (probe >= 0) return this.lease(probe, true);
    let best = -1;
    this.slots.forEach((slot, i) => {
      if (this.stateOf(slot, now) !== 'active') return;
      if (best < 0 || slot.inFlight < this.slots[best].inFlight) best = i;
    });
    return best < 0 ? undefined : this.lease(best, false);
  }

  /** The upstream answered `status` to the key at `index`: a refusal rests it, an accepting answer restores it. */
  answered(index: number, status: number, now = Date.now()): void {
    const slot = this.slots[index];
    if (!slot) return;
    slot.lastStatus = status;
    const position = `API key #${index + 1} of ${this.slots.length}`;
    if (isRefusal(status)) {
      // Calls that were already in flight on it when it was first refused: one refusal, not several.
      if (slot.refusedUntil > now) return;
      slot.refusals++;
      slot.refusedStatus = status;
      if (this.slots.length < 2) {
        if (slot.refusals === 1) this.logger.error(`${this.upstream}: ${position} was refused (${status}); it is the only key, so it stays in use`);
        return;
      }
      const restMs = Math.min(this.rest.keyRestMs * 2 ** Math.min(slot.refusals - 1, 30), this.rest.keyRestMaxMs);
      slot.refusedUntil = now + restMs;
      const usable = this.slots.filter((s) => this.stateOf(s, now) === 'active').length;
      this.logger.error(
        `${this.upstream}: ${position} was refused (${status}, ${slot.refusals} in a row); it rests ${restMs} ms, then one call probes it; ${usable} active`,
      );
    } else if (acceptsKey(status) && slot.refusals > 0) {
      this.restore(slot);
      this.logger.log(`${this.upstream}: ${position} was accepted again (${status}); back in rotation`);
    }
  }

  /** A 429: the key rests for the provider's Retry-After. */
  rateLimited(index: number, ms: number, now = Date.now()): void {
    const slot = this.slots[index];
    if (slot) slot.rateLimitedUntil = Math.max(slot.rateLimitedUntil, now + ms);
  }

  /**
   * Puts refused keys back in rotation at once (an operator's action, e.g. after rotating a key upstream):
   * every key, or the one at `position` (1-based). Returns the positions re-enabled; a rate limit stays.
   */
  enable(position?: number): number[] {
    const enabled: number[] = [];
    this.slots.forEach((slot, i) => {
      if (position !== undefined && i !== position - 1) return;
      if (slot.refusals > 0 || slot.refusedUntil > 0) enabled.push(i + 1);
      this.restore(slot);
    });
    return enabled;
  }

  /** When a key is next usable (a rest ends), 0 if one is now. */
  nextUsableInMs(now = Date.now()): number {
    const waits = this.slots.map((slot) => Math.max(slot.refusedUntil, slot.rateLimitedUntil) - now);
    return Math.max(0, Math.min(...waits));
  }

  /** Set when there are keys and every one rests after a refusal; what readiness and the fast-failing calls report. */
  allRefused(now = Date.now()): AllRefused | undefined {
    if (this.slots.length === 0 || !this.slots.every((slot) => this.stateOf(slot, now) === 'refused')) return undefined;
    return {
      total: this.slots.length,
      statuses: [...new Set(this.slots.map((slot) => slot.refusedStatus!))].sort(),
      nextProbeInMs: Math.max(0, Math.min(...this.slots.map((slot) => slot.refusedUntil - now))),
    };
  }

  snapshot(now = Date.now()): ApiKeysSnapshot {
    const keys = this.slots.map((slot, i): ApiKeyStatus => {
      const state = this.stateOf(slot, now);
      const until = state === 'refused' ? slot.refusedUntil : state === 'rate_limited' ? slot.rateLimitedUntil : 0;
      return {
        position: i + 1,
        state,
        inFlight: slot.inFlight,
        probeInFlight: slot.probeInFlight,
        consecutiveRefusals: slot.refusals,
        lastStatus: slot.lastStatus ?? null,
        restingUntil: until ? new Date(until).toISOString() : null,
        restMsLeft: until ? until - now : 0,
      };
    });
    const count = (state: KeyState) => keys.filter((k) => k.state === state).length;
    return {
      total: keys.length,
      usable: keys.filter((k) => k.state === 'active' || (k.state === 'probing' && !k.probeInFlight)).length,
      refused: count('refused') + count('probing'),
      rateLimited: count('rate_limited'),
      keys,
    };
  }

  private stateOf(slot: KeySlot, now: number): KeyState {
    if (slot.refusedUntil > now) return 'refused';
    if (slot.refusedUntil > 0) return 'probing';
    return slot.rateLimitedUntil > now ? 'rate_limited' : 'active';
  }

  private restore(slot: KeySlot): void {
    slot.refusals = 0;
    slot.refusedUntil = 0;
  }

  private lease(index: number, probe: boolean): KeyLease {
    const slot = this.slots[index];
    slot.inFlight++;
    if (probe) slot.probeInFlight = true;
    let released = false;
    return {
      key: slot.key,
      index,
      probe,
      release: () => {
        if (released) return;
        released = true;
        slot.inFlight--;
        // Whatever the probe's answer did (answered() has run by now), the next call may probe again if still due.
        if (probe) slot.probeInFlight = false;
      },
    };
  }
}
