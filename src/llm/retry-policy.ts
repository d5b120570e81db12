import type { AxiosResponse } from 'axios';
import type { ErrorKind } from '../pool/pool-counters';
import type { UpstreamPool } from '../pool/upstream-pool';

/** When to try again after a failed attempt. */
export interface RetryPlan {
  readonly delayMs: number;
  /** Counts against LLM_MAX_RETRIES (a stale socket or another key does not). */
  readonly counts: boolean;
}

/** Another key, or the same request on another socket: at once, outside the retry budget. Shared: never mutated. */
export const RETRY_AT_ONCE: RetryPlan = Object.freeze({ delayMs: 0, counts: false });

/** What the planners read of the pool: its keys (a 429 rests one) and LLM_MAX_RETRIES. */
type RetryBudget = Pick<UpstreamPool, 'keys' | 'settings'>;

// Connection failures a new attempt may well not meet. Not retried: a timeout (the call's deadline or the stream's
// patience is spent), a body too large (it would be again), and anything on our side (the caller left, shutdown).
const RETRYABLE_FAILURES = new Set<ErrorKind>(['connect_refused', 'connect_timeout', 'connection_reset', 'other']);

/** Statuses the official OpenAI and Anthropic SDKs retry. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * How long the upstream asked us to wait: `retry-after-ms`, else `retry-after`
 * in seconds or as an HTTP date. Undefined when it did not say.
 */
export function serverRetryDelayMs(headers: AxiosResponse['headers'], now = Date.now()): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `x-should-retry: true|false` overrides our own judgement, as in the official SDKs. */
export function serverSaysRetry(headers: AxiosResponse['headers']): boolean | undefined {
  const value = headers['x-should-retry'];
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

// A server asking for more than a minute is better answered now, with its Retry-After, than waited for.
export const MAX_HONOURED_RETRY_AFTER_MS = 60_000;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8_000;

/** Exponential backoff with full jitter: uniform in [0, min(8 s, 0.5 s × 2^retry)]. */
export function backoffDelayMs(retry: number, random = Math.random): number {
  return Math.floor(random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** retry));
}

/**
 * After an error answer (3xx excepted: never retried). Call it after the key's verdict (`keys.answered`): a refused
 * key must already rest for another to be tried. A 429 rests the key here, for as long as the upstream asked.
 */
export function planHttpRetry(pool: RetryBudget, keyIndex: number, response: AxiosResponse, retries: number, deadlineAt: number): RetryPlan | undefined {
  const status = response.status;
  const serverDelay = serverRetryDelayMs(response.headers);
  // Another key may succeed where this one was refused (answered() has rested it) or rate limited: try it at once.
  if ((status === 401 || status === 403) && pool.keys.size > 1) {
    return pool.keys.snapshot().usable > 0 ? RETRY_AT_ONCE : undefined;
  }
  if (status === 429 && pool.keys.size > 1) {
    pool.keys.rateLimited(keyIndex, serverDelay ?? 1_000);
    if (pool.keys.snapshot().usable > 0) return RETRY_AT_ONCE;
  }
  const says = serverSaysRetry(response.headers);
  if (says === false || (says === undefined && !isRetryableStatus(status))) return undefined;
  if (serverDelay !== undefined && serverDelay > MAX_HONOURED_RETRY_AFTER_MS) return undefined;
  return planBackoff(pool, retries, deadlineAt, serverDelay);
}

/** After an attempt that failed without an answer (a stale reused socket excepted: the caller repeats that one itself). */
export function planTransportRetry(pool: RetryBudget, kind: ErrorKind, retries: number, deadlineAt: number): RetryPlan | undefined {
  return RETRYABLE_FAILURES.has(kind) ? planBackoff(pool, retries, deadlineAt, undefined) : undefined;
}

function planBackoff(pool: RetryBudget, retries: number, deadlineAt: number, serverDelayMs: number | undefined): RetryPlan | undefined {
  if (retries >= pool.settings.maxRetries) return undefined;
  const delayMs = serverDelayMs ?? backoffDelayMs(retries);
  // A retry that cannot finish before the deadline only delays the error.
  if (Date.now() + delayMs >= deadlineAt) return undefined;
  return { delayMs, counts: true };
}
