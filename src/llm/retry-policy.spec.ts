import { backoffDelayMs, isRetryableStatus, serverRetryDelayMs, serverSaysRetry } from './retry-policy';

describe('retry policy', () => {
  it('retries what the official SDKs retry', () => {
    expect([408, 409, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 422].some(isRetryableStatus)).toBe(false);
  });

  it('reads retry-after-ms, retry-after seconds and retry-after dates', () => {
    expect(serverRetryDelayMs({ 'retry-after-ms': '250', 'retry-after': '9' })).toBe(250);
    expect(serverRetryDelayMs({ 'retry-after': '2' })).toBe(2000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(serverRetryDelayMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }, now)).toBe(3000);
    expect(serverRetryDelayMs({})).toBeUndefined();
  });

  it('lets x-should-retry override', () => {
    expect(serverSaysRetry({ 'x-should-retry': 'false' })).toBe(false);
    expect(serverSaysRetry({ 'x-should-retry': 'true' })).toBe(true);
    expect(serverSaysRetry({})).toBeUndefined();
  });

  it('backs off exponentially with full jitter, capped at 8 s', () => {
    expect(backoffDelayMs(0, () => 0.999)).toBe(499);
    expect(backoffDelayMs(3, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(10, () => 0.999)).toBe(7992);
    expect(backoffDelayMs(2, () => 0)).toBe(0);
  });
});
