import { Logger } from '@nestjs/common';
import type { AxiosResponse } from 'axios';
import type { PoolSettings } from '../config/llm.config';
import { ApiKeyPool } from '../pool/api-key-pool';
import {
  RETRY_AT_ONCE,
  backoffDelayMs,
  isRetryableStatus,
  planHttpRetry,
  planTransportRetry,
  serverRetryDelayMs,
  serverSaysRetry,
} from './retry-policy';

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

describe('retry planning', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  const settings = { maxRetries: 2, keyRestMs: 1_000, keyRestMaxMs: 5_000 } as PoolSettings;
  const poolWith = (keys: string[]) => ({ keys: new ApiKeyPool('up', keys, settings), settings });
  const answer = (status: number, headers: Record<string, string> = {}) => ({ status, headers }) as unknown as AxiosResponse;
  const far = () => Date.now() + 60_000;

  it('backs off after a retryable status, within LLM_MAX_RETRIES and the deadline', () => {
    const pool = poolWith(['key-a']);
    expect(planHttpRetry(pool, 0, answer(503), 0, far())).toEqual({ delayMs: expect.any(Number), counts: true });
    expect(planHttpRetry(pool, 0, answer(503), 2, far())).toBeUndefined();
    expect(planHttpRetry(pool, 0, answer(503, { 'retry-after-ms': '5000' }), 0, Date.now() + 1_000)).toBeUndefined();
    expect(planHttpRetry(pool, 0, answer(400), 0, far())).toBeUndefined();
  });

  it('waits as long as the upstream asks, unless that is over a minute; x-should-retry overrides the status', () => {
    const pool = poolWith(['key-a']);
    expect(planHttpRetry(pool, 0, answer(503, { 'retry-after-ms': '1500' }), 0, far())).toEqual({ delayMs: 1500, counts: true });
    expect(planHttpRetry(pool, 0, answer(503, { 'retry-after': '61' }), 0, Date.now() + 600_000)).toBeUndefined();
    expect(planHttpRetry(pool, 0, answer(503, { 'x-should-retry': 'false' }), 0, far())).toBeUndefined();
    expect(planHttpRetry(pool, 0, answer(400, { 'x-should-retry': 'true', 'retry-after-ms': '0' }), 0, far())).toEqual({ delayMs: 0, counts: true });
  });

  it('tries another key at once, outside the budget, after a refusal or a 429 (which rests the key)', () => {
    const refused = poolWith(['key-a', 'key-b']);
    refused.keys.answered(0, 401);
    expect(planHttpRetry(refused, 0, answer(401), 2, far())).toBe(RETRY_AT_ONCE);
    refused.keys.answered(1, 401);
    expect(planHttpRetry(refused, 1, answer(401), 0, far())).toBeUndefined();

    const limited = poolWith(['key-a', 'key-b']);
    expect(planHttpRetry(limited, 0, answer(429, { 'retry-after': '30' }), 2, far())).toBe(RETRY_AT_ONCE);
    expect(limited.keys.snapshot().keys[0]).toMatchObject({ state: 'rate_limited' });
  });

  it('retries connection failures only: not a timeout, a body too large or our own side', () => {
    const pool = poolWith(['key-a']);
    for (const kind of ['connect_refused', 'connect_timeout', 'connection_reset', 'other'] as const) {
      expect(planTransportRetry(pool, kind, 0, far())).toEqual({ delayMs: expect.any(Number), counts: true });
    }
    for (const kind of ['request_timeout', 'idle_timeout', 'response_too_large', 'client_closed', 'shutdown'] as const) {
      expect(planTransportRetry(pool, kind, 0, far())).toBeUndefined();
    }
    expect(planTransportRetry(pool, 'connection_reset', 2, far())).toBeUndefined();
  });
});
