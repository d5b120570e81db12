import type { AxiosResponse } from 'axios';

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
