import { Logger } from '@nestjs/common';
import { POOL_DEFAULTS, type UpstreamConfig } from '../config/llm.config';
import { UpstreamPool } from './upstream-pool';

describe('UpstreamPool records outcomes', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  let pool: UpstreamPool;
  beforeEach(() => {
    const upstream: UpstreamConfig = {
      name: 'up',
      wire: 'openai',
      baseUrl: 'http://127.0.0.1:9',
      apiKeys: [],
      embedded: false,
      pool: { ...POOL_DEFAULTS, maxKeepAlive: 4, circuitFailureThreshold: 2 },
    };
    pool = new UpstreamPool(upstream);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    pool.destroy();
  });

  it('counts an error answer by class; a 4xx says the upstream is up, a redirect or a 5xx counts against it', () => {
    pool.recordAnswer(503);
    pool.recordAnswer(404);
    expect(pool.circuit.consecutiveFailures).toBe(0);
    pool.recordAnswer(302);
    pool.recordAnswer(500);
    expect(pool.circuit).toMatchObject({ state: 'open', lastFailure: 'HTTP 500' });
    expect(pool.counters.errorsByKind).toMatchObject({ http_3xx: 1, http_4xx: 1, http_5xx: 2 });
    expect(pool.enterCircuit()).toMatchObject({ allowed: false });
    expect(pool.counters.circuitRejections).toBe(1);
  });

  it('closes a half-open circuit on a 2xx, and counts nothing for it (success is counted once the body is read)', () => {
    pool.recordTransportFailure('connect_refused');
    pool.recordTransportFailure('connection_reset');
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + pool.settings.circuitOpenMs);
    expect(pool.enterCircuit()).toEqual({ allowed: true, probe: true });
    jest.restoreAllMocks();
    pool.recordAnswer(200);
    expect(pool.circuit.state).toBe('closed');
    expect(pool.counters.succeeded).toBe(0);
  });

  it('holds our own side (the caller leaving, shutdown) and a stale socket against nobody, and lets another probe go', () => {
    pool.recordTransportFailure('connect_refused');
    pool.recordTransportFailure('client_closed');
    pool.recordTransportFailure('shutdown');
    pool.recordStaleSocket();
    expect(pool.circuit.consecutiveFailures).toBe(1);
    expect(pool.counters).toMatchObject({ staleSocketRetries: 1, failedCalls: 0 });
    expect(pool.counters.errorsByKind).toMatchObject({ connect_refused: 1, client_closed: 1, shutdown: 1, connection_reset: 1 });

    pool.recordTransportFailure('connect_refused');
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + pool.settings.circuitOpenMs);
    for (const probeEnded of [() => pool.recordTransportFailure('client_closed'), () => pool.recordStaleSocket(), () => pool.recordNotSent()]) {
      expect(pool.enterCircuit()).toEqual({ allowed: true, probe: true });
      expect(pool.enterCircuit()).toMatchObject({ allowed: false });
      probeEnded();
    }
    expect(pool.circuit.state).toBe('half_open');
    jest.restoreAllMocks();
  });

  it('counts a failed stream body as a failed call, against the circuit unless our side ended it', () => {
    pool.recordStreamFailure('client_stalled');
    expect(pool.counters.failedCalls).toBe(0);
    pool.recordStreamFailure('idle_timeout');
    expect(pool.counters.failedCalls).toBe(1);
    expect(pool.circuit).toMatchObject({ consecutiveFailures: 1, lastFailure: 'idle_timeout' });
  });
});
