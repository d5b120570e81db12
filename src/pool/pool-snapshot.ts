import type { ApiKeysSnapshot } from './api-key-pool';
import type { CircuitState } from './circuit-breaker';
import type { Percentiles } from './latency-window';
import type { CloseReason, ErrorKind } from './pool-counters';
import type { PoolSettings, WireFormat } from '../config/llm.config';

/** What `/v1/llm/stats` reports about one upstream's pool. */
export interface PoolSnapshot {
  upstream: string;
  origin: string;
  wire: WireFormat;
  embedded: boolean;
  config: PoolSettings & {
    /** maxKeepAlive / maxConnections: below 1, sockets churn once the pool saturates. */
    keepAliveCoverage: number;
    /** Sockets closed after every use and re-opened (new TCP + TLS handshake) while saturated. */
    churnedSocketsAtSaturation: number;
  };
  sockets: {
    created: number;
    open: number;
    active: number;
    idle: number;
    tlsHandshakes: number;
    tlsSessionsResumed: number;
    closed: number;
    closedByReason: Record<CloseReason, number>;
  };
  requests: {
    /** HTTP requests written to upstream sockets. */
    total: number;
    reused: number;
    reuseRate: number;
    succeeded: number;
    /** Attempts that failed (each retry counts). */
    failed: number;
    /** Calls that failed after every retry. */
    failedCalls: number;
    retries: number;
    staleSocketRetries: number;
    inFlight: number;
    queued: number;
    peakInFlight: number;
  };
  poolExhausted: { total: number; queueFull: number; waitTimeout: number };
  timeouts: { connect: number; request: number; idle: number };
  circuit: {
    state: CircuitState;
    consecutiveFailures: number;
    retryAfterMs: number;
    rejected: number;
    transitions: { opened: number; halfOpened: number; closed: number };
    lastFailure: string | null;
    fallback: string | null;
  };
  /** Per key by position (never by value): active, refused (resting after a 401/403), probing, rate_limited. */
  apiKeys: ApiKeysSnapshot;
  errorsByKind: Record<ErrorKind, number>;
  latencyMs: { acquireWait: Percentiles; upstream: Percentiles };
}

export interface PoolStatsTotals {
  upstreams: number;
  socketsCreated: number;
  socketsOpen: number;
  socketsActive: number;
  socketsIdle: number;
  requests: number;
  reusedRequests: number;
  reuseRate: number;
  inFlight: number;
  queued: number;
  poolExhausted: number;
  errors: number;
}
